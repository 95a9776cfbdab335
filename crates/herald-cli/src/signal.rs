//! Waiting for SIGINT or SIGTERM, the two ways operators and process managers ask herald to stop.

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_requested() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    })
}
