//! The `herald` binary: parses flags and hands each subcommand to its module under `commands/`.
//!
//! Exit codes: 0 success, 1 operational error (one line on stderr), 2 usage error (clap's own).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod signal;

/// herald: event-driven microservices on Kafka.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run herald-broker, the single-node Kafka-compatible broker.
    Broker(commands::broker::BrokerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("herald: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Broker(args) => commands::broker::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("herald: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `info`), so stdout stays clean for data.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
