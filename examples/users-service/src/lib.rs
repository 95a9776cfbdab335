//! The users service: the system of record for users, an HTTP API on its own database.
//!
//! `POST /users` writes the user row and a `user_created` event into herald's outbox in ONE
//! transaction; `PUT /users/{id}` does the same with `user_updated`; `DELETE /users/{id}` deletes
//! the row and writes `user_deleted` followed by a tombstone (null value, same key). Every event
//! carries the user's whole state, keyed by user id, so the latest record per user is enough to
//! rebuild a replica. A relay running beside the server publishes the outbox to the `user_activity`
//! topic, so a broker outage delays events but never fails a request nor loses an event; it is
//! woken as soon as a transaction commits.
//!
//! At start the service creates the topic if it is absent, compacted and without time retention
//! (`cleanup.policy=compact`, `retention.ms=-1`): the history of users never expires, and a
//! deleted user disappears from it once the cleaner has passed and `delete.retention.ms` elapsed.
//!
//! Main types: [`Config`] (what `main.rs` and `herald service users` parse), [`run`] (serve until
//! the shutdown token fires), [`Service`] (the router plus its relay, for tests).
//! Not here: consumers of the events (directory-service, mailer-service).

mod http;
mod metrics;
mod store;
mod validate;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use herald::admin::{Admin, TopicSpec};
use herald::db::Database;
use herald::outbox::{Outbox, RelayConfig, RelayHandle};
use herald::producer::ProducerConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use http::router;
pub use store::User;

/// The topic user events are published to.
pub const TOPIC_DEFAULT: &str = "user_activity";
/// `ce_source` of every event this service publishes.
pub const SOURCE: &str = "users-service";
/// How often an idle relay looks for new outbox rows on SQLite (bounds the event latency).
pub const RELAY_POLL_MS: u64 = 5;
/// librdkafka `linger.ms` of the relay's producer: the relay hands a whole batch over at once, so
/// waiting for more records only adds latency.
pub const RELAY_LINGER_MS: u64 = 0;
/// The configs the topic is created with: compacted, never deleted by time.
pub const TOPIC_CONFIGS: [(&str, &str); 2] =
    [("cleanup.policy", "compact"), ("retention.ms", "-1")];

/// Flags of the users service (also `herald service users`).
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address the HTTP API listens on (port 0 picks a free port).
    #[arg(long, env = "USERS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The service's own database: sqlite://path?mode=rwc or postgres://user@host/db.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://users-service.db?mode=rwc"
    )]
    pub database_url: String,
    /// Topic the outbox relay publishes user events to.
    #[arg(long, default_value = TOPIC_DEFAULT)]
    pub topic: String,
    /// Partitions of the topic when the service creates it (-1: the broker's default).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub topic_partitions: i32,
    /// Wake the outbox relay in-process when a transaction commits (`false`: it only polls, the
    /// way it did before; for measurements).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub relay_wakeup: bool,
}

impl Config {
    /// The defaults of every flag but the database and the listen address.
    pub fn new(listen: SocketAddr, database_url: impl Into<String>) -> Self {
        Config {
            listen,
            database_url: database_url.into(),
            topic: TOPIC_DEFAULT.into(),
            topic_partitions: -1,
            relay_wakeup: true,
        }
    }
}

/// Shared by every request handler.
#[derive(Debug, Clone)]
pub struct AppState {
    db: Database,
    outbox: Outbox,
    topic: Arc<str>,
    writer: writer::Writer,
    counters: Arc<metrics::Counters>,
}

/// The HTTP router and the outbox relay publishing its events.
pub struct Service {
    /// The API; serve it with axum.
    pub router: axum::Router,
    /// The relay; stop it with [`RelayHandle::shutdown`] after the server stopped.
    pub relay: RelayHandle,
    /// The database (tests inspect it).
    pub db: Database,
}

/// Creates the topic compacted and without time retention unless it exists (an existing topic is
/// left alone, with a warning when it is not compacted).
pub async fn ensure_topic(config: &Config, brokers: &str) -> anyhow::Result<()> {
    let admin = Admin::new(brokers);
    let mut spec = TopicSpec::new(&config.topic, config.topic_partitions);
    for (key, value) in TOPIC_CONFIGS {
        spec = spec.config(key, value);
    }
    let created = admin
        .create_topic_if_absent(&spec)
        .await
        .with_context(|| format!("creating topic {}", config.topic))?;
    if !created {
        let configs = admin.topic_configs(&config.topic).await.unwrap_or_default();
        let policy = configs
            .get("cleanup.policy")
            .map_or("delete", String::as_str);
        if !policy.contains("compact") {
            tracing::warn!(topic = %config.topic, %policy, "topic exists and is not compacted: its history expires");
        }
    }
    Ok(())
}

/// Opens the database (migrating it), creates the topic if absent, and starts the outbox relay
/// towards `brokers`.
pub async fn build(config: &Config, brokers: &str) -> anyhow::Result<Service> {
    ensure_topic(config, brokers).await?;
    let db = Database::connect(&config.database_url)
        .await
        .with_context(|| format!("connecting to {}", config.database_url))?;
    db.migrate(store::MIGRATIONS)
        .await
        .context("migrating the users table")?;
    let outbox = Outbox::new(db.clone())
        .await
        .context("opening the outbox")?
        .source(SOURCE);
    let relay = outbox
        .relay(
            ProducerConfig::new(brokers)
                .source(SOURCE)
                .linger(Duration::from_millis(RELAY_LINGER_MS)),
            RelayConfig::default()
                .poll_interval(Duration::from_millis(RELAY_POLL_MS))
                .in_process_wakeup(config.relay_wakeup),
        )
        .context("creating the outbox relay")?
        .spawn();
    let topic: Arc<str> = config.topic.as_str().into();
    let state = AppState {
        db: db.clone(),
        writer: writer::Writer::spawn(db.clone(), outbox.clone(), Arc::clone(&topic)),
        outbox,
        topic,
        counters: Arc::default(),
    };
    Ok(Service {
        router: router(state),
        relay,
        db,
    })
}

/// Serves the API on `config.listen` until `shutdown` fires, then stops the relay (which delivers
/// what it already handed to the producer) and closes the database.
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
    let service = build(&config, brokers).await?;
    tracing::info!(address = %listener.local_addr()?, "users-service listening");
    let served = axum::serve(listener, service.router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .context("serving HTTP");
    let relayed = service.relay.shutdown().await.context("stopping the relay");
    service.db.close().await;
    served.and(relayed)
}
