//! `directory-service`: parses flags and runs the service until SIGINT/SIGTERM (see the library).

use clap::Parser;
use tokio_util::sync::CancellationToken;

/// The directory service: a users replica fed by user events (herald consumer + inbox).
#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    config: directory_service::Config,
    /// Kafka bootstrap brokers, host:port[,host:port...].
    #[arg(long, env = "HERALD_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let shutdown = CancellationToken::new();
    let run = async {
        let result = directory_service::run(cli.config, &cli.brokers, shutdown.clone()).await;
        shutdown.cancel();
        result
    };
    // SIGINT or SIGTERM cancels the token; the service then drains and leaves its group.
    let signal = herald::consumer::shutdown_on_signal(shutdown.clone());
    let (result, ()) = tokio::join!(run, signal);
    result
}
