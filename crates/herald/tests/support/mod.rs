//! Shared helpers for herald's consumer-side integration tests: databases (SQLite in a tempdir,
//! PostgreSQL in a throw-away schema), messages, and awaiting conditions with a deadline.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use herald::consumer::{Message, Record};
use herald::db::Database;
use herald::envelope::ReceivedEvent;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

/// The PostgreSQL every machine here has (trust auth).
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A SQLite database in a fresh tempdir (kept alive by the returned guard).
pub async fn sqlite_database() -> (Database, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("service.db").display());
    (Database::connect(&url).await.unwrap(), dir)
}

/// A PostgreSQL database confined to a new schema, so parallel tests never see each other's tables.
pub struct PgSchema {
    pub database: Database,
    pub schema: String,
}

impl PgSchema {
    pub async fn create() -> PgSchema {
        let schema = format!("herald_test_{}", Uuid::new_v4().simple());
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
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap();
        PgSchema {
            database: Database::Postgres(pool),
            schema,
        }
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self) {
        self.database.close().await;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(POSTGRES_URL)
            .await
            .unwrap();
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
    }
}

/// A Rails-shaped `user_created` payload with event id `id`.
pub fn rails_payload(id: Uuid, name: &str) -> Vec<u8> {
    serde_json::json!({"name": "user_created", "data": {"id": id, "user": {"name": name}}})
        .to_string()
        .into_bytes()
}

/// A decoded message as the runner would hand it to a consumer of `group`.
pub fn message(group: &str, id: Uuid, offset: i64, name: &str) -> Message {
    let payload = rails_payload(id, name);
    let event =
        ReceivedEvent::decode(Some(b"k".as_slice()), Some(&payload), std::iter::empty()).unwrap();
    Message {
        event,
        record: Record {
            topic: "user_activity".into(),
            partition: 0,
            offset,
            timestamp_ms: None,
            key: Some(b"k".to_vec()),
            payload: Some(payload),
            headers: herald::consumer::Headers::new(),
        },
        consumer_group: Arc::from(group),
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Kafka: an in-process herald-broker, topics, producing events, reading a dead-letter topic.

use herald::consumer::ConsumerConfig;
use herald::envelope::Event;
use herald::middleware::retry::RetryPolicy;
use herald_broker::{Broker, BrokerConfig, BrokerHandle};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Header, Headers, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

/// How long any awaited condition may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A broker running in-process on port 0 with its data in a temp dir.
pub struct TestBroker {
    pub handle: Option<BrokerHandle>,
    pub dir: tempfile::TempDir,
}

static TRACING: std::sync::Once = std::sync::Once::new();

/// Logs to the test's output when RUST_LOG is set.
pub fn init_tracing() {
    TRACING.call_once(|| {
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
    });
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        init_tracing();
        let dir = tempfile::tempdir().unwrap();
        let handle = Broker::start(BrokerConfig::for_tests(dir.path()))
            .await
            .unwrap();
        TestBroker {
            handle: Some(handle),
            dir,
        }
    }

    /// `bootstrap.servers` for clients.
    pub fn brokers(&self) -> String {
        self.handle.as_ref().unwrap().bootstrap_servers()
    }

    pub async fn stop(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await.unwrap();
        }
    }

    /// Creates `topic` with `partitions` partitions.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .create()
            .unwrap();
        let results = admin
            .create_topics(
                &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new(),
            )
            .await
            .unwrap();
        for result in results {
            result.unwrap();
        }
    }

    /// An idempotent acks=all producer.
    pub fn producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .unwrap()
    }

    /// A consumer config for tests: short timeouts, fast retries, frequent commits.
    pub fn consumer_config(&self, group: &str) -> ConsumerConfig {
        ConsumerConfig {
            brokers: self.brokers(),
            group_id: Some(group.to_string()),
            session_timeout_ms: 6_000,
            heartbeat_interval_ms: 500,
            commit_interval_ms: 100,
            retry: RetryPolicy {
                max_attempts: 3,
                initial_backoff_ms: 50,
                max_backoff_ms: 200,
                multiplier: 2.0,
            },
            kafka: [("fetch.wait.max.ms".to_string(), "50".to_string())].into(),
            ..ConsumerConfig::default()
        }
    }
}

/// Produces a herald (CloudEvents binary mode) `user_created` event for `name` to `partition`;
/// returns the event id.
pub async fn produce_user(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    name: &str,
) -> Uuid {
    produce_user_keyed(producer, topic, partition, name, name).await
}

/// Like [`produce_user`] with a record key distinct from the name.
pub async fn produce_user_keyed(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    key: &str,
    name: &str,
) -> Uuid {
    let event = Event::new("user_created", &serde_json::json!({"user": {"name": name}}))
        .unwrap()
        .key(key);
    let id = event.event_id();
    let encoded = event.encode("herald-tests");
    let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
        .partition(partition)
        .payload(encoded.payload.as_slice())
        .headers(encoded.kafka_headers());
    if let Some(key) = &encoded.key {
        record = record.key(key.as_slice());
    }
    producer
        .send(record, Duration::from_secs(10))
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    id
}

/// Produces raw bytes (not an event) to `partition`.
pub async fn produce_raw(producer: &FutureProducer, topic: &str, partition: i32, payload: &[u8]) {
    let record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
        .partition(partition)
        .payload(payload)
        .headers(OwnedHeaders::new().insert(Header {
            key: "x-test",
            value: Some("1"),
        }));
    producer
        .send(record, Duration::from_secs(10))
        .await
        .map_err(|(e, _)| e)
        .unwrap();
}

/// A record read back from a topic, headers as text.
#[derive(Debug, Clone)]
pub struct ReadRecord {
    pub partition: i32,
    pub offset: i64,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl ReadRecord {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads `count` records from partition 0.. of `topic` from the beginning, without a group.
pub async fn read_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    count: usize,
) -> Vec<ReadRecord> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        // assign() joins no group, but librdkafka wants a group id to be set.
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut records = Vec::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while records.len() < count {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} records in {topic}", records.len()))
            .unwrap();
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        let value = h
                            .value
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                            .unwrap_or_default();
                        (h.key.to_string(), value)
                    })
                    .collect()
            })
            .unwrap_or_default();
        records.push(ReadRecord {
            partition: message.partition(),
            offset: message.offset(),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers,
        });
    }
    records
}

/// A unique name for a topic or group.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}
