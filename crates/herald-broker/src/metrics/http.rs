//! The metrics endpoint (`herald broker --metrics-listen HOST:PORT`): `GET /metrics` (Prometheus
//! text), `GET /health` (200 while the process serves) and `GET /ready` (200 while the broker accepts
//! clients, 503 once it is shutting down). HTTP/1.1, one request per connection; anything else is a
//! 4xx with a message. Bounded: a few connections at once, a small request head, a read deadline.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::BrokerState;

/// Largest request head read; a longer one is answered 431.
const REQUEST_HEAD_BYTES_MAX: usize = 8 * 1024;
/// A request head must arrive within this.
const REQUEST_READ_TIMEOUT_MS: u64 = 5_000;
/// Scrapes served at once; the next waits in the backlog.
const CONNECTIONS_MAX: usize = 16;

/// Serves the endpoint on `listener` until `shutdown`; `done` is held until every scrape ends.
pub async fn serve(
    listener: TcpListener,
    state: Arc<BrokerState>,
    shutdown: CancellationToken,
    done: mpsc::Sender<()>,
) {
    let limit = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = limit.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let (state, done) = (state.clone(), done.clone());
        tokio::spawn(async move {
            if let Err(e) = answer(stream, &state).await {
                tracing::debug!(%peer, error = %e, "metrics request failed");
            }
            drop((permit, done));
        });
    }
    drop(done);
}

async fn answer(mut stream: TcpStream, state: &Arc<BrokerState>) -> std::io::Result<()> {
    let head = read_head(&mut stream).await;
    let (status, content_type, body) = match head.as_deref() {
        Err(Refused::TooLarge) => (431, "text/plain", "request head too large\n".to_string()),
        Err(Refused::Incomplete) => (400, "text/plain", "incomplete request\n".to_string()),
        Ok(head) => route(head, state).await,
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

async fn route(head: &str, state: &Arc<BrokerState>) -> (u16, &'static str, String) {
    let mut words = head.split_whitespace();
    let (method, path) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    if method != "GET" {
        return (
            405,
            "text/plain",
            format!("{method} is not allowed: use GET\n"),
        );
    }
    match path.split('?').next().unwrap_or_default() {
        "/metrics" => {
            let state = state.clone();
            match tokio::task::spawn_blocking(move || super::render::render(&state)).await {
                Ok(text) => (200, "text/plain; version=0.0.4", text),
                Err(e) => (503, "text/plain", format!("rendering failed: {e}\n")),
            }
        }
        "/health" => (200, "text/plain", "ok\n".to_string()),
        "/ready" if state.shutdown.is_cancelled() => {
            (503, "text/plain", "shutting down\n".to_string())
        }
        "/ready" => (200, "text/plain", "ready\n".to_string()),
        other => (
            404,
            "text/plain",
            format!("no such path {other:?}: try /metrics, /health or /ready\n"),
        ),
    }
}

#[derive(Debug)]
enum Refused {
    TooLarge,
    Incomplete,
}

/// The request head up to its blank line (the body, if any, is ignored).
async fn read_head(stream: &mut TcpStream) -> Result<String, Refused> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_millis(REQUEST_READ_TIMEOUT_MS);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > REQUEST_HEAD_BYTES_MAX {
            return Err(Refused::TooLarge);
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Err(Refused::Incomplete),
            Ok(Ok(n)) => head.extend_from_slice(&chunk[..n]),
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}
