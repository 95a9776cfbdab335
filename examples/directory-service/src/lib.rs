//! The directory service: a read replica of the users, built from `user_activity` events.
//!
//! A herald [`Runner`] consumes the topic in consumer group `directory` (configurable, so a second,
//! brand-new directory can bootstrap itself by replaying the whole topic in a new group). Each event
//! is applied through herald's [inbox](herald::inbox): its id is recorded in the same transaction as
//! the upsert, so replays and redeliveries are harmless. `user_created` inserts the user,
//! `user_updated` replaces name and email if it is not older than what is stored.
//!
//! HTTP: `GET /users/{id}` (200 | 404), `GET /users` (`{"count": n}`), `GET /health`.
//! Main types: [`Config`], [`run`]. Not here: writing users (users-service).

mod http;
mod replica;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use herald::consumer::{ConsumerConfig, Runner};
use herald::db::Database;
use herald::inbox::{Inbox, InboxConsumer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use replica::{Replica, MIGRATIONS};

/// Records handed to one inbox transaction at most (bootstrapping reads the topic in big batches:
/// fewer, larger commits write each touched page once per batch).
pub const BATCH_RECORDS_MAX: usize = 5_000;
/// SQLite page cache per connection, in KiB: the replica's and the inbox's indexes stay in memory
/// while a million events are replayed, instead of being re-read from the file (SQLite's default
/// is 2 MiB).
pub const SQLITE_CACHE_KIB: u32 = 65_536;
/// WAL pages between automatic checkpoints (SQLite's default is 1,000): a bulk replay copies each
/// hot page back to the database file less often.
pub const SQLITE_WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;
/// How long a partition waits to fill a batch, in milliseconds (bounds the added latency).
pub const BATCH_WAIT_MS: u64 = 2;

/// Flags of the directory service (also `herald service directory`).
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address the HTTP API listens on (port 0 picks a free port).
    #[arg(long, env = "DIRECTORY_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// The service's own database: sqlite://path?mode=rwc or postgres://user@host/db.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://directory-service.db?mode=rwc"
    )]
    pub database_url: String,
    /// Topic of user events.
    #[arg(long, default_value = "user_activity")]
    pub topic: String,
    /// Consumer group; a new group replays the topic from its beginning.
    #[arg(long, default_value = "directory")]
    pub group: String,
    /// Kafka session timeout: how soon a killed instance's partitions move on, in milliseconds.
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
            // A new group (a new service) rebuilds its table from the whole history.
            start_from_beginning: true,
            batch_size: BATCH_RECORDS_MAX,
            max_wait_ms: BATCH_WAIT_MS,
            session_timeout_ms: self.session_timeout_ms,
            instance_id: Some(self.instance_id.clone()).filter(|id| !id.is_empty()),
            heartbeat_interval_ms: (self.session_timeout_ms / 4).max(100),
            commit_interval_ms: 200,
            client_id: "directory-service".into(),
            ..ConsumerConfig::default()
        }
    }
}

/// Opens the database at `url` with [`Database::connect`]'s settings plus, on SQLite, a larger page
/// cache and rarer checkpoints.
pub async fn connect(url: &str) -> anyhow::Result<Database> {
    let pragmas = [
        ("cache_size", format!("-{SQLITE_CACHE_KIB}")),
        (
            "wal_autocheckpoint",
            SQLITE_WAL_AUTOCHECKPOINT_PAGES.to_string(),
        ),
    ];
    Ok(Database::connect_with_sqlite_pragmas(url, &pragmas).await?)
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
    let db = connect(&config.database_url)
        .await
        .with_context(|| format!("connecting to {}", config.database_url))?;
    db.migrate(MIGRATIONS)
        .await
        .context("migrating the replica")?;
    let inbox = Arc::new(Inbox::new(db.clone()).await.context("opening the inbox")?);
    let replica = Replica::new(config.topic.clone());
    let runner = Runner::new(config.consumer_config(brokers))
        .consumer(InboxConsumer::new(inbox.clone(), replica));
    let stop = shutdown.child_token();
    tracing::info!(address = %listener.local_addr()?, group = %config.group, "directory-service listening");
    let consuming = async {
        let result = runner
            .run(stop.clone())
            .await
            .context("consuming user events");
        stop.cancel(); // a consumer that cannot run takes the HTTP side down with it
        result
    };
    let serving = async {
        let result = axum::serve(listener, http::router(db.clone(), inbox))
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
