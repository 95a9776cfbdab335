//! `herald service users|directory|mailer`: runs one of the example platform's services in this
//! process until SIGINT or SIGTERM. Hidden: `herald demo` and `herald up` start each service as a
//! separate process of this same binary, so the platform needs nothing but `herald`.

use tokio_util::sync::CancellationToken;

use crate::client::ClientArgs;

/// Which service to run, with its flags.
#[derive(Debug, clap::Subcommand)]
pub enum ServiceCommand {
    /// The users service: HTTP API + outbox.
    Users(users_service::Config),
    /// The directory service: a users replica (consumer + inbox).
    Directory(directory_service::Config),
    /// The mailer service: one welcome email per user (consumer + inbox).
    Mailer(mailer_service::Config),
}

/// Runs the service until a signal asks it to stop, then shuts it down cleanly.
pub async fn run(command: ServiceCommand, client: &ClientArgs) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let brokers = client.brokers.as_str();
    let service = async {
        let result = match command {
            ServiceCommand::Users(config) => {
                users_service::run(config, brokers, shutdown.clone()).await
            }
            ServiceCommand::Directory(config) => {
                directory_service::run(config, brokers, shutdown.clone()).await
            }
            ServiceCommand::Mailer(config) => {
                mailer_service::run(config, brokers, shutdown.clone()).await
            }
        };
        shutdown.cancel();
        result
    };
    let signal = async {
        tokio::select! {
            signal = crate::signal::shutdown_requested() => {
                tracing::info!(signal = ?signal.ok(), "stopping");
                shutdown.cancel();
            }
            _ = shutdown.cancelled() => {}
        }
    };
    let (result, ()) = tokio::join!(service, signal);
    result
}
