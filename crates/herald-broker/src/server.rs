//! The listener and the broker's background tasks.
//!
//! `run` accepts connections until shutdown; a `Semaphore` permit is taken *before* `accept`, so at
//! most `max_connections` are served and the next client waits in the kernel's backlog. Each
//! connection, and each background task (retention; the interval flusher under
//! `FlushPolicy::Interval`), holds a clone of the completion sender; `BrokerHandle::shutdown` cancels
//! the token and waits until every clone is dropped. Not here: framing (`connection.rs`).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::auth::{tls, Session};
use crate::clock::now_ms;
use crate::connection::{self, Connection};
use crate::{BrokerState, FlushPolicy};

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF_MS: u64 = 100;

/// Serves `listener` until `shutdown` is cancelled. `done` is cloned into every spawned task.
pub async fn run(
    listener: TcpListener,
    state: Arc<BrokerState>,
    shutdown: CancellationToken,
    done: mpsc::Sender<()>,
) {
    tokio::spawn(retention_loop(
        state.clone(),
        shutdown.clone(),
        done.clone(),
    ));
    if let FlushPolicy::Interval(every) = state.config.flush {
        tokio::spawn(flush_loop(
            state.clone(),
            every,
            shutdown.clone(),
            done.clone(),
        ));
    }
    tokio::spawn(
        state
            .coordinator
            .clone()
            .run_timer(shutdown.clone(), done.clone()),
    );
    let limit = Arc::new(Semaphore::new(state.config.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = limit.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // the semaphore is never closed
            },
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(ACCEPT_BACKOFF_MS)) => continue,
                }
            }
        };
        state
            .metrics
            .connections_accepted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "TCP_NODELAY not set");
        }
        let (state, shutdown, done) = (state.clone(), shutdown.clone(), done.clone());
        let security = state.security.clone();
        tokio::spawn(async move {
            // The TLS handshake runs here, not in the accept loop, so a slow client delays no one.
            let timeout = state.config.request_read_timeout;
            let stream = tokio::select! {
                _ = shutdown.cancelled() => None,
                stream = tls::accept(security.tls.as_ref(), socket, peer, timeout) => stream,
            };
            if let Some(stream) = stream {
                let connection = Connection::new(stream, peer, state.config.max_request_bytes)
                    .with_timeouts(timeout, state.config.connections_max_idle)
                    .with_session(Session::new(security));
                connection::serve(connection, state, shutdown).await;
            }
            drop(permit);
            drop(done);
        });
    }
    tracing::debug!("listener stopped accepting");
}

/// Applies every partition's retention every `retention_check_interval`.
async fn retention_loop(
    state: Arc<BrokerState>,
    shutdown: CancellationToken,
    done: mpsc::Sender<()>,
) {
    let mut ticks = tokio::time::interval(state.config.retention_check_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; nothing is due at start
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let pass_state = state.clone();
        let pass = tokio::task::spawn_blocking(move || retention_pass(&pass_state));
        if let Err(e) = pass.await {
            tracing::warn!(error = %e, "retention pass failed");
        }
    }
    drop(done);
}

fn retention_pass(state: &BrokerState) {
    let now = now_ms();
    for topic in state.topics.list() {
        for partition in topic.partitions() {
            match partition.apply_retention(now) {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(topic = %topic.name, partition = partition.index,
                    deleted, log_start_offset = partition.log_start_offset(), "retention deleted segments"),
                Err(e) => tracing::warn!(topic = %topic.name, partition = partition.index,
                    error = %e, "retention failed"),
            }
        }
    }
}

/// Under `FlushPolicy::Interval`: fsyncs every partition's new data every `every`.
async fn flush_loop(
    state: Arc<BrokerState>,
    every: Duration,
    shutdown: CancellationToken,
    done: mpsc::Sender<()>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        for partition in state.topics.all_partitions() {
            if let Err(e) = partition.flush_all().await {
                tracing::warn!(partition = partition.index, error = %e, "interval flush failed");
            }
        }
    }
    drop(done);
}
