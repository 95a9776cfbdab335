//! Crash safety with consumer groups (issue #8): three consumer *processes* in one group share one
//! database through the inbox; the test SIGKILLs a random one at random moments (mid-batch, between
//! the database commit and the offset commit, during rebalances) and restarts it, while events are
//! still being produced. Afterwards the side-effect table, which has no unique key, holds every event
//! exactly once. On SQLite (one file shared by the processes) and on PostgreSQL.
//!
//! The consumer processes are this test binary itself: the parent re-executes
//! `std::env::current_exe()` with libtest arguments that run only [`child_consumer`], an ignored test
//! that does nothing unless [`CHILD_SLOT_ENV`] is set. A `[[bin]]` would add a binary to the library
//! crate for the sake of one test; re-executing keeps everything in this file and works under both
//! `cargo test` and nextest (the parent spawns the child directly with plain libtest arguments).
//!
//! A failure prints the seed; `HERALD_CRASH_SEED=<seed>` replays the same kill schedule (the timing of
//! the processes themselves still varies).
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashSet;
use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt as _;
use herald::consumer::{ConsumerConfig, HandlerResult, Message, Runner};
use herald::db::{Database, Transaction};
use herald::envelope::Event;
use herald::inbox::{Inbox, InboxConsumer, InboxHandler};
use herald::middleware::retry::RetryPolicy;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use support::{unique, PgSchema, TestBroker, POSTGRES_URL};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Events produced per run.
const EVENTS: usize = 20_000;
/// Partitions of the topic.
const PARTITIONS: i32 = 4;
/// Consumer processes running at any time.
const SLOTS: usize = 3;
/// SIGKILLs per run.
const KILLS: usize = 24;
/// Random pause before each kill, in milliseconds.
const KILL_PAUSE_MS_MIN: u64 = 100;
const KILL_PAUSE_MS_MAX: u64 = 600;
/// How long the survivors may take to finish after the last kill.
const SETTLE_DEADLINE: Duration = Duration::from_secs(40);
/// Distinct record keys (entity ids), so each key's events stay in one partition.
const KEYS: usize = 500;

/// Which slot a child process fills; its absence means "not a child, do nothing".
const CHILD_SLOT_ENV: &str = "HERALD_CRASH_CHILD_SLOT";
const CHILD_BROKERS_ENV: &str = "HERALD_CRASH_BROKERS";
const CHILD_TOPIC_ENV: &str = "HERALD_CRASH_TOPIC";
const CHILD_GROUP_ENV: &str = "HERALD_CRASH_GROUP";
const CHILD_DATABASE_ENV: &str = "HERALD_CRASH_DATABASE_URL";
/// PostgreSQL only: the schema the child's connections use (`search_path`).
const CHILD_SCHEMA_ENV: &str = "HERALD_CRASH_PG_SCHEMA";
/// The libtest name of [`child_consumer`].
const CHILD_TEST_NAME: &str = "child_consumer";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_consumers_killed_at_random_apply_every_event_once() {
    // Proves on SQLite, one file shared by three processes: every event's effect exactly once.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("service.db").display());
    let db = Database::connect(&url).await.unwrap();
    consumers_killed_at_random_apply_every_event_once(&db, &url, None).await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_consumers_killed_at_random_apply_every_event_once() {
    // Proves on PostgreSQL, three processes in one schema: every event's effect exactly once.
    let pg = PgSchema::create().await;
    consumers_killed_at_random_apply_every_event_once(
        &pg.database,
        POSTGRES_URL,
        Some(pg.schema.clone()),
    )
    .await;
    pg.drop().await;
}

#[test]
#[ignore = "child process of the inbox_crash tests; run by them"]
fn child_consumer() {
    let Ok(slot) = std::env::var(CHILD_SLOT_ENV) else {
        return;
    };
    let slot: usize = slot.parse().expect("slot is a number");
    if std::env::var_os("RUST_LOG").is_some() {
        // stdout is discarded by the parent; logs go to stderr, which it passes through.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    // The parent holds our stdin open; if it dies (even by SIGKILL) the pipe closes and so do we.
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run_child(slot));
}

// ---------------------------------------------------------------------------------------------
// The parent.

async fn consumers_killed_at_random_apply_every_event_once(
    db: &Database,
    url: &str,
    schema: Option<String>,
) {
    let seed = std::env::var("HERALD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            nanos as u64 ^ u64::from(std::process::id())
        });
    println!("inbox_crash: seed {seed} (HERALD_CRASH_SEED={seed} replays the kill schedule)");
    let mut rng = SplitMix64(seed);
    let started = Instant::now();

    // The schema exists before any child starts, so three processes never race on migrations.
    db.execute_script(
        "CREATE TABLE applied (event_id TEXT NOT NULL, kafka_partition INTEGER NOT NULL, \
         kafka_offset BIGINT NOT NULL, slot INTEGER NOT NULL)",
    )
    .await
    .unwrap();
    Inbox::new(db.clone()).await.unwrap();

    let broker = TestBroker::start().await;
    let topic = unique("crash");
    broker.create_topic(&topic, PARTITIONS).await;
    let group = unique("crash-g");
    let mut children = Children {
        spec: ChildSpec {
            brokers: broker.brokers(),
            topic: topic.clone(),
            group: group.clone(),
            database_url: url.to_string(),
            schema,
        },
        processes: Vec::new(),
    };
    for slot in 0..SLOTS {
        let child = children.spec.spawn(slot);
        children.processes.push(child);
    }

    // Produce while the consumers start, rebalance and get killed.
    let producer = tokio::spawn(produce_events(broker.brokers(), topic.clone()));
    let mut kills_by_slot = [0usize; SLOTS];
    for _ in 0..KILLS {
        let pause = KILL_PAUSE_MS_MIN + rng.below(KILL_PAUSE_MS_MAX - KILL_PAUSE_MS_MIN + 1);
        tokio::time::sleep(Duration::from_millis(pause)).await; // the chaos schedule, not a wait
        let slot = rng.below(SLOTS as u64) as usize;
        children.kill_and_restart(slot);
        kills_by_slot[slot] += 1;
    }
    let kills_done = Instant::now();
    let produced = producer.await.unwrap();
    let applied_after_kills = applied_rows(db).await;
    println!(
        "inbox_crash: {KILLS} kills {kills_by_slot:?} in {:.1?}; {applied_after_kills} of {EVENTS} applied by then",
        started.elapsed()
    );
    assert_eq!(produced.len(), EVENTS);

    // The survivors finish: every effect applied and every offset committed up to the end.
    let settle = Instant::now() + SETTLE_DEADLINE;
    let mut applied = applied_rows(db).await;
    while applied < EVENTS as i64 && Instant::now() < settle {
        children.check_alive();
        tokio::time::sleep(Duration::from_millis(100)).await;
        applied = applied_rows(db).await;
    }
    let mut lag = committed_lag(&broker.brokers(), &topic, &group).await;
    while lag != Some(0) && Instant::now() < settle {
        children.check_alive();
        tokio::time::sleep(Duration::from_millis(100)).await;
        lag = committed_lag(&broker.brokers(), &topic, &group).await;
    }
    println!(
        "inbox_crash: settled in {:.1?} after the last kill, {:.1?} in all; committed lag {lag:?}",
        kills_done.elapsed(),
        started.elapsed()
    );

    // Everything below is read after the offsets reached the end, so a late duplicate would show.
    let (rows, distinct) = applied_counts(db).await;
    let ids: HashSet<Uuid> = applied_ids(db).await;
    let inbox = inbox_rows(db, &group).await;
    let dead_lettered = dead_lettered(&broker.brokers(), &topic).await;
    drop(children);
    broker.stop().await;

    let missing = produced.iter().filter(|id| !ids.contains(id)).count();
    assert_eq!(
        dead_lettered, 0,
        "events were dead-lettered (their effect skipped); seed {seed}"
    );
    assert_eq!(
        missing, 0,
        "{missing} produced events never applied; seed {seed}"
    );
    assert_eq!(distinct, EVENTS as i64, "distinct applied ids; seed {seed}");
    assert_eq!(
        rows,
        EVENTS as i64,
        "{} effects applied twice; seed {seed}",
        rows - distinct
    );
    assert_eq!(inbox, EVENTS as i64, "inbox rows; seed {seed}");
    assert_eq!(lag, Some(0), "committed offsets reach the end; seed {seed}");
}

/// Produces [`EVENTS`] keyed herald events (UUIDv7 ids) with up to 1,000 in flight; returns the ids.
async fn produce_events(brokers: String, topic: String) -> Vec<Uuid> {
    let producer: rdkafka::producer::FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let producer = &producer;
    let topic = topic.as_str();
    futures::stream::iter(0..EVENTS)
        .map(|i| async move {
            let event = Event::new("user_created", &serde_json::json!({"user": {"n": i}}))
                .unwrap()
                .key(format!("user-{}", i % KEYS));
            let id = event.event_id();
            let encoded = event.encode("herald-tests");
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
                .payload(encoded.payload.as_slice())
                .headers(encoded.kafka_headers());
            if let Some(key) = &encoded.key {
                record = record.key(key.as_slice());
            }
            producer
                .send(record, Duration::from_secs(30))
                .await
                .map_err(|(e, _)| e)
                .unwrap();
            id
        })
        .buffer_unordered(1_000)
        .collect()
        .await
}

/// How to start a consumer process.
struct ChildSpec {
    brokers: String,
    topic: String,
    group: String,
    database_url: String,
    schema: Option<String>,
}

impl ChildSpec {
    fn spawn(&self, slot: usize) -> Child {
        let exe = std::env::current_exe().unwrap();
        let mut command = Command::new(exe);
        command
            .args([
                CHILD_TEST_NAME,
                "--exact",
                "--include-ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_SLOT_ENV, slot.to_string())
            .env(CHILD_BROKERS_ENV, &self.brokers)
            .env(CHILD_TOPIC_ENV, &self.topic)
            .env(CHILD_GROUP_ENV, &self.group)
            .env(CHILD_DATABASE_ENV, &self.database_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(schema) = &self.schema {
            command.env(CHILD_SCHEMA_ENV, schema);
        }
        command.spawn().unwrap()
    }
}

/// The consumer processes; dropping this SIGKILLs and reaps every one of them.
struct Children {
    spec: ChildSpec,
    processes: Vec<Child>,
}

impl Children {
    /// SIGKILL (no chance to commit anything), reap, start a new process in the same slot.
    fn kill_and_restart(&mut self, slot: usize) {
        let child = &mut self.processes[slot];
        child.kill().unwrap();
        child.wait().unwrap();
        self.processes[slot] = self.spec.spawn(slot);
    }

    /// Fails the test if a consumer process exited on its own (it should only ever be killed).
    fn check_alive(&mut self) {
        for (slot, child) in self.processes.iter_mut().enumerate() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("consumer process in slot {slot} exited by itself: {status}");
            }
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn applied_rows(db: &Database) -> i64 {
    scalar(db, "SELECT COUNT(*) FROM applied").await
}

async fn applied_counts(db: &Database) -> (i64, i64) {
    (
        applied_rows(db).await,
        scalar(db, "SELECT COUNT(DISTINCT event_id) FROM applied").await,
    )
}

async fn scalar(db: &Database, sql: &str) -> i64 {
    match db {
        Database::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    }
}

async fn applied_ids(db: &Database) -> HashSet<Uuid> {
    let sql = "SELECT event_id FROM applied";
    let ids: Vec<String> = match db {
        Database::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
        Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
    };
    ids.iter().map(|id| Uuid::parse_str(id).unwrap()).collect()
}

async fn inbox_rows(db: &Database, group: &str) -> i64 {
    match db {
        Database::Sqlite(pool) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM herald_inbox WHERE consumer_group = ?")
                .bind(group)
                .fetch_one(pool)
                .await
                .unwrap()
        }
        Database::Postgres(pool) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM herald_inbox WHERE consumer_group = $1")
                .bind(group)
                .fetch_one(pool)
                .await
                .unwrap()
        }
    }
}

/// Records between the group's committed offsets and the end of the topic; `None` while some
/// partition has no committed offset yet.
async fn committed_lag(brokers: &str, topic: &str, group: &str) -> Option<i64> {
    let (brokers, topic, group) = (brokers.to_string(), topic.to_string(), group.to_string());
    tokio::task::spawn_blocking(move || {
        // OffsetFetch only: this client never subscribes, so it does not join the group.
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let timeout = Duration::from_secs(5);
        let mut list = TopicPartitionList::new();
        for partition in 0..PARTITIONS {
            list.add_partition(&topic, partition);
        }
        let committed = client.committed_offsets(list, timeout).ok()?;
        let mut lag = 0;
        for partition in 0..PARTITIONS {
            let (_, high_watermark) = client.fetch_watermarks(&topic, partition, timeout).ok()?;
            let Offset::Offset(offset) = committed.find_partition(&topic, partition)?.offset()
            else {
                return None;
            };
            lag += high_watermark - offset;
        }
        Some(lag)
    })
    .await
    .unwrap()
}

/// Records in the topic's dead-letter topic (0 if it was never created).
async fn dead_lettered(brokers: &str, topic: &str) -> i64 {
    let (brokers, dlq) = (brokers.to_string(), format!("{topic}.dlq"));
    tokio::task::spawn_blocking(move || {
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", unique("dlq-reader"))
            .set("allow.auto.create.topics", "false")
            .create()
            .unwrap();
        let timeout = Duration::from_secs(5);
        let metadata = client.fetch_metadata(Some(&dlq), timeout).unwrap();
        metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .flat_map(|t| t.partitions())
            .map(|p| {
                let (low, high) = client.fetch_watermarks(&dlq, p.id(), timeout).unwrap();
                high - low
            })
            .sum()
    })
    .await
    .unwrap()
}

/// A small deterministic generator (SplitMix64), so a printed seed replays the kill schedule.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..bound` for a test schedule.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

// ---------------------------------------------------------------------------------------------
// The child: one herald consumer process with the inbox, until it is killed.

/// Inserts one `applied` row per event; no unique key, so a repeated effect would show twice.
struct Apply {
    topic: String,
    slot: i64,
}

#[async_trait]
impl InboxHandler for Apply {
    fn subscribes_to(&self) -> Vec<String> {
        vec![self.topic.clone()]
    }

    async fn process(&self, tx: &mut Transaction, message: &Message) -> HandlerResult {
        let id = message.event.id.to_string();
        let (partition, offset) = (i64::from(message.partition()), message.offset());
        match tx {
            Transaction::Sqlite(tx) => {
                sqlx::query("INSERT INTO applied (event_id, kafka_partition, kafka_offset, slot) VALUES (?, ?, ?, ?)")
                    .bind(id)
                    .bind(partition)
                    .bind(offset)
                    .bind(self.slot)
                    .execute(&mut **tx)
                    .await?;
            }
            Transaction::Postgres(tx) => {
                sqlx::query("INSERT INTO applied (event_id, kafka_partition, kafka_offset, slot) VALUES ($1, $2, $3, $4)")
                    .bind(id)
                    .bind(partition)
                    .bind(offset)
                    .bind(self.slot)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }
}

async fn run_child(slot: usize) {
    let env = |key: &str| std::env::var(key).unwrap_or_else(|_| panic!("{key} is set"));
    let url = env(CHILD_DATABASE_ENV);
    let db = match std::env::var(CHILD_SCHEMA_ENV) {
        // The parent's throw-away schema; few connections, since up to six processes share the server.
        Ok(schema) => {
            // synchronous_commit=off: the server is not what gets killed here, and waiting for its
            // WAL flush on every one-event transaction would make slot 0 the test's bottleneck.
            let options = PgConnectOptions::from_str(&url).unwrap().options([
                ("search_path", schema.as_str()),
                ("synchronous_commit", "off"),
            ]);
            let pool = PgPoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .unwrap();
            Database::Postgres(pool)
        }
        // herald's own SQLite setup (WAL, busy timeout) is what is under test here.
        Err(_) => Database::connect(&url).await.unwrap(),
    };
    let inbox = Arc::new(Inbox::new(db).await.unwrap());
    let mut config = ConsumerConfig {
        brokers: env(CHILD_BROKERS_ENV),
        group_id: Some(env(CHILD_GROUP_ENV)),
        // Slot 0 runs one transaction per event, the others one per batch.
        batch_size: if slot == 0 { 1 } else { 64 },
        max_wait_ms: 20,
        concurrency: 4,
        session_timeout_ms: 3_000,
        heartbeat_interval_ms: 300,
        max_poll_interval_ms: 10_000,
        // Wide enough that many kills land between a database commit and its offset commit.
        commit_interval_ms: 300,
        // The default number of attempts: contention between processes (SQLite's "database is
        // locked") must delay an event, never dead-letter it. Backoffs shortened for the test.
        retry: RetryPolicy {
            max_attempts: RetryPolicy::default().max_attempts,
            initial_backoff_ms: 20,
            max_backoff_ms: 500,
            multiplier: 2.0,
        },
        ..ConsumerConfig::default()
    };
    config
        .kafka
        .insert("fetch.wait.max.ms".to_string(), "50".to_string());
    if slot < 2 {
        // Slots 0 and 1 are static members: a restart takes their place without a rebalance. Slot 2
        // is dynamic: its death is noticed at the session timeout and moves partitions around.
        config.kafka.insert(
            "group.instance.id".to_string(),
            format!("{}-slot{slot}", env(CHILD_GROUP_ENV)),
        );
    }
    let consumer = InboxConsumer::new(
        inbox,
        Apply {
            topic: env(CHILD_TOPIC_ENV),
            slot: slot as i64,
        },
    );
    // Runs until SIGKILL (or the parent's exit closes stdin).
    Runner::new(config)
        .consumer(consumer)
        .run(CancellationToken::new())
        .await
        .unwrap();
}
