//! The mailer service: records one welcome email per new user, and never two.
//!
//! Consumes `user_activity` (group `mailer`) through herald's [inbox](herald::inbox): a redelivered
//! or replayed event is recognised by its id and skipped. Behind the inbox stands the table's own
//! guarantee, `welcome_emails.user_id` is the primary key and the insert does nothing on conflict, so
//! even a second `user_created` for one user with a *new* event id (a buggy producer re-publishing)
//! records no second email. "Sending" is the row: this example has no SMTP.
//!
//! HTTP: `GET /emails` (`{"count", "duplicates_skipped", "suppressed"}`), `GET /health`.
//! Main types: [`Config`], [`run`], [`Mailer`].

mod http;
mod mailer;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use herald::consumer::{ConsumerConfig, Runner};
use herald::db::Database;
use herald::inbox::{Inbox, InboxConsumer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use mailer::{Mailer, MIGRATIONS};

/// Records handed to one inbox transaction at most.
pub const BATCH_RECORDS_MAX: usize = 1_000;
/// How long a partition waits to fill a batch, in milliseconds.
pub const BATCH_WAIT_MS: u64 = 2;

/// Flags of the mailer service (also `herald service mailer`).
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address the HTTP API listens on (port 0 picks a free port).
    #[arg(long, env = "MAILER_LISTEN", default_value = "127.0.0.1:8082")]
    pub listen: SocketAddr,
    /// The service's own database: sqlite://path?mode=rwc or postgres://user@host/db.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://mailer-service.db?mode=rwc"
    )]
    pub database_url: String,
    /// Topic of user events.
    #[arg(long, default_value = "user_activity")]
    pub topic: String,
    /// Consumer group.
    #[arg(long, default_value = "mailer")]
    pub group: String,
    /// Kafka session timeout, in milliseconds.
    #[arg(long, default_value_t = 6_000)]
    pub session_timeout_ms: u64,
    /// Stable name of this instance for static membership (Kafka `group.instance.id`, unique within
    /// the group): restarted within the session timeout, it takes its partitions back without a
    /// rebalance. Default: the host name; empty: dynamic membership.
    #[arg(long, env = "HERALD_INSTANCE_ID", default_value_t = herald::consumer::host_instance_name())]
    pub instance_id: String,
}

impl Config {
    /// The herald consumer configuration for this service.
    pub fn consumer_config(&self, brokers: &str) -> ConsumerConfig {
        ConsumerConfig {
            brokers: brokers.to_string(),
            group_id: Some(self.group.clone()),
            start_from_beginning: true,
            batch_size: BATCH_RECORDS_MAX,
            max_wait_ms: BATCH_WAIT_MS,
            session_timeout_ms: self.session_timeout_ms,
            instance_id: Some(self.instance_id.clone()).filter(|id| !id.is_empty()),
            heartbeat_interval_ms: (self.session_timeout_ms / 4).max(100),
            commit_interval_ms: 200,
            client_id: "mailer-service".into(),
            ..ConsumerConfig::default()
        }
    }
}

/// Serves the API on `config.listen` and consumes events until `shutdown` fires.
pub async fn run(config: Config, brokers: &str, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    serve(listener, config, brokers, shutdown).await
}

/// [`run`] on an already bound listener.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    brokers: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let db = Database::connect(&config.database_url)
        .await
        .with_context(|| format!("connecting to {}", config.database_url))?;
    db.migrate(MIGRATIONS)
        .await
        .context("migrating the mailer")?;
    let inbox = Arc::new(Inbox::new(db.clone()).await.context("opening the inbox")?);
    let mailer = Mailer::new(config.topic.clone());
    let runner = Runner::new(config.consumer_config(brokers))
        .consumer(InboxConsumer::new(inbox.clone(), mailer.clone()));
    let stop = shutdown.child_token();
    tracing::info!(address = %listener.local_addr()?, group = %config.group, "mailer-service listening");
    let consuming = async {
        let result = runner
            .run(stop.clone())
            .await
            .context("consuming user events");
        stop.cancel();
        result
    };
    let serving = async {
        let result = axum::serve(listener, http::router(db.clone(), inbox, mailer))
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .await
            .context("serving HTTP");
        stop.cancel();
        result
    };
    let (consumed, served) = tokio::join!(consuming, serving);
    db.close().await;
    consumed.and(served)
}
