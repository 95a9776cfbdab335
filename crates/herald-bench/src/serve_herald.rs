//! `herald-bench serve-herald`: herald-broker in the foreground until SIGTERM or SIGINT, so that the
//! harness can measure it as a child process when no `herald` binary was built. Same flag names as
//! `herald broker` (the subset the harness uses).
//!
//! Not the herald CLI: no topics, no configuration beyond what a benchmark sets.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use herald_broker::{Broker, BrokerConfig, FlushPolicy};
use tokio::signal::unix::{signal, SignalKind};

/// Flags of `serve-herald`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[arg(long)]
    listen: SocketAddr,
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long, default_value = "always")]
    flush: FlushPolicy,
    /// Accepted for `herald broker` compatibility; retention is off (data kept for the run).
    #[arg(long, allow_negative_numbers = true)]
    retention_ms: Option<i64>,
}

/// Runs the broker until a signal, then shuts it down cleanly.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = BrokerConfig {
        listen: args.listen,
        data_dir: args.data_dir,
        flush: args.flush,
        retention_ms: None,
        ..BrokerConfig::default()
    };
    let broker = Broker::start(config)
        .await
        .context("starting herald-broker")?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    broker
        .shutdown()
        .await
        .context("shutting down herald-broker")?;
    Ok(())
}
