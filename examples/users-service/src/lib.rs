//! The users service: the system of record for users, an HTTP API on its own database.
//!
//! `POST /users` writes the user row and a `user_created` event into herald's outbox in ONE
//! transaction; `PUT /users/{id}` does the same with `user_updated`. A relay running beside the
//! server publishes the outbox to the `user_activity` topic (key = user id), so a broker outage
//! delays events but never fails a request nor loses an event.
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
pub const RELAY_LINGER_MS: u64 = 1;

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

/// Opens the database (migrating it), the outbox and its relay towards `brokers`.
pub async fn build(config: &Config, brokers: &str) -> anyhow::Result<Service> {
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
            RelayConfig::default().poll_interval(Duration::from_millis(RELAY_POLL_MS)),
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
