//! Graceful shutdown on SIGINT/SIGTERM, expressed as a [`CancellationToken`] like every other
//! shutdown in herald (so tests and embedding applications cancel the same token programmatically).

use tokio_util::sync::CancellationToken;

/// Waits for SIGINT (Ctrl-C) or SIGTERM and then cancels `token`; returns early, without cancelling
/// anything, if `token` is cancelled first (the runner stopped for another reason).
pub async fn shutdown_on_signal(token: CancellationToken) {
    tokio::select! {
        signal = wait_for_signal() => {
            match signal {
                Ok(name) => {
                    tracing::info!(signal = name, "shutting down");
                    token.cancel();
                }
                Err(error) => {
                    // Without signal handlers, only the programmatic token can stop the runner.
                    tracing::warn!(%error, "cannot listen for signals");
                    token.cancelled().await;
                }
            }
        }
        _ = token.cancelled() => {}
    }
}

#[cfg(unix)]
async fn wait_for_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.map(|()| "SIGINT"),
        _ = terminate.recv() => Ok("SIGTERM"),
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> std::io::Result<&'static str> {
    tokio::signal::ctrl_c().await.map(|()| "Ctrl-C")
}
