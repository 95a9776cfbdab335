//! Shared helpers for the producer and outbox tests (a module, not a test binary).
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use herald::envelope::ReceivedEvent;
use herald_broker::{Broker, BrokerConfig, BrokerHandle};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Starts a broker in `dir` on `listen` (port 0 for any free port).
pub async fn start_broker(dir: &Path, listen: SocketAddr) -> BrokerHandle {
    let mut config = BrokerConfig::for_tests(dir);
    config.listen = listen;
    Broker::start(config).await.unwrap()
}

/// Starts a broker in `dir` on a free loopback port.
pub async fn start_broker_any_port(dir: &Path) -> BrokerHandle {
    start_broker(dir, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Reads `count` events from partition 0 of `topic` from the beginning, with a manually assigned
/// consumer, within `timeout`.
pub async fn read_events(
    bootstrap_servers: &str,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Vec<ReceivedEvent> {
    let bootstrap_servers = bootstrap_servers.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap_servers)
            .set("group.id", "herald-producer-tests")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&assignment).unwrap();
        let deadline = Instant::now() + timeout;
        let mut events = Vec::with_capacity(count);
        while events.len() < count && Instant::now() < deadline {
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let message = message.unwrap();
                events.push(ReceivedEvent::from_message(&message).unwrap());
            }
        }
        events
    })
    .await
    .unwrap()
}

/// Polls `condition` every few milliseconds until it holds or `timeout` passes; returns whether it held.
pub async fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads events from every partition of `topic` from the beginning until `count` arrived or
/// `timeout` passed; also returns the sum of the partitions' high watermarks (what the topic holds).
pub async fn read_topic(
    bootstrap_servers: &str,
    topic: &str,
    partitions: i32,
    count: usize,
    timeout: Duration,
) -> (Vec<ReceivedEvent>, i64) {
    let bootstrap_servers = bootstrap_servers.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap_servers)
            .set("group.id", "herald-outbox-tests")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment
                .add_partition_offset(&topic, partition, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let deadline = Instant::now() + timeout;
        let mut events = Vec::with_capacity(count);
        while events.len() < count && Instant::now() < deadline {
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let message = message.unwrap();
                events.push(ReceivedEvent::from_message(&message).unwrap());
            }
        }
        let held = (0..partitions)
            .map(|partition| {
                consumer
                    .fetch_watermarks(&topic, partition, Duration::from_secs(5))
                    .unwrap()
                    .1
            })
            .sum();
        (events, held)
    })
    .await
    .unwrap()
}

/// The PostgreSQL every machine here has (trust auth).
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A SQLite database in a fresh tempdir (kept alive by the returned guard).
pub async fn sqlite_database() -> (herald::db::Database, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("service.db").display());
    (herald::db::Database::connect(&url).await.unwrap(), dir)
}

/// A PostgreSQL database confined to a fresh schema, so parallel tests never see each other's
/// tables; `drop_schema` removes it.
pub struct PgSchema {
    pub database: herald::db::Database,
    pub schema: String,
}

impl PgSchema {
    pub async fn create() -> PgSchema {
        use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
        use std::str::FromStr;
        let schema = format!("herald_outbox_test_{}", uuid::Uuid::new_v4().simple());
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(POSTGRES_URL)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let options = PgConnectOptions::from_str(POSTGRES_URL)
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(6)
            .connect_with(options)
            .await
            .unwrap();
        PgSchema {
            database: herald::db::Database::Postgres(pool),
            schema,
        }
    }

    /// Closes the pool and drops the schema with everything in it.
    pub async fn drop_schema(self) {
        self.database.close().await;
        let admin = sqlx::PgPool::connect(POSTGRES_URL).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
    }
}
