//! Consumer throughput: herald's runner with a no-op handler against a bare rdkafka consumer doing
//! no work, and herald's runner with the inbox in batch mode (one transaction per batch, one row
//! per event) against the same batches handed to the inbox with no Kafka at all, in the same run,
//! on the same topic, against an in-process herald-broker.
//!
//! `cargo bench -p herald --bench consumer` (1,000,000 events; `HERALD_BENCH_EVENTS=100000` to shrink,
//! `HERALD_BENCH_BATCH=500` for another batch size, `HERALD_BENCH_RUNS=noop` to run one part alone
//! (bare, noop, inbox, sqlite, postgres), e.g. under `perf record`). The `sqlite` part ("SQLite
//! alone") hands the same batches, decoded in advance, to the same inbox consumer on a database
//! opened the same way (WAL, `synchronous=FULL`; `HERALD_BENCH_SQLITE_SYNCHRONOUS=NORMAL` sets
//! another level for both) with no Kafka at all: what SQLite and sqlx cost per event, the ceiling
//! of the inbox run. The `postgres` part runs the inbox on the PostgreSQL at
//! `HERALD_BENCH_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`).
//! Prints events/s by wall clock for each and the two ratios (no-op runner / bare, SQLite inbox /
//! SQLite alone), and beside them the process CPU time per event of each run (broker included, it is
//! in-process) and the ratios by CPU: on a shared machine the rates swing with other load, the CPU
//! cost much less. The load average is printed at the start and the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::consumer::{ConsumerConfig, HandlerResult, Message, Runner};
use herald::db::{Database, Transaction};
use herald::envelope::Event;
use herald::inbox::{Inbox, InboxConsumer, InboxHandler};
use herald_broker::{Broker, BrokerConfig, FlushPolicy};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use sqlx::QueryBuilder;
use tokio_util::sync::CancellationToken;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const TOPIC: &str = "user_created";
const PARTITIONS: i32 = 4;
const EVENTS_DEFAULT: u64 = 1_000_000;
/// Sends in flight while loading the topic.
const PRODUCE_WINDOW: usize = 20_000;
/// Events per batch (one inbox transaction each); `HERALD_BENCH_BATCH` overrides it.
const BATCH_SIZE_DEFAULT: usize = 5_000;
/// Rows per multi-row INSERT of the handler.
const INSERT_ROWS_MAX: usize = 1_000;
/// How long one measured run may take before the benchmark gives up.
const RUN_DEADLINE: Duration = Duration::from_secs(600);

/// The data of a `user_created` event, read typed straight from the record's JSON.
#[derive(serde::Deserialize)]
struct UserCreated {
    user: User,
}

#[derive(serde::Deserialize)]
struct User {
    name: String,
}

/// Inserts one `users` row per event, all rows of a batch in one statement per chunk.
struct UsersTable {
    done: Arc<AtomicU64>,
    /// The table written to (a name of its own per run on the shared PostgreSQL).
    table: String,
}

#[async_trait::async_trait]
impl InboxHandler for UsersTable {
    fn subscribes_to(&self) -> Vec<String> {
        vec![TOPIC.into()]
    }

    async fn process(&self, tx: &mut Transaction, message: &Message) -> HandlerResult {
        self.process_batch(tx, std::slice::from_ref(message)).await
    }

    async fn process_batch(&self, tx: &mut Transaction, batch: &[Message]) -> HandlerResult {
        let insert = format!("INSERT INTO {} (event_id, name) ", self.table);
        for chunk in herald::db::statement_chunks(batch, INSERT_ROWS_MAX) {
            let mut rows = Vec::with_capacity(chunk.len());
            for message in chunk {
                let data: UserCreated = message.event.data_as()?;
                rows.push((message.event.id.to_string(), data.user.name));
            }
            match tx {
                Transaction::Sqlite(tx) => {
                    let mut query = QueryBuilder::<sqlx::Sqlite>::new(&insert);
                    query.push_values(rows, |mut row, (id, name)| {
                        row.push_bind(id).push_bind(name);
                    });
                    query.build().execute(&mut **tx).await?;
                }
                Transaction::Postgres(tx) => {
                    let mut query = QueryBuilder::<sqlx::Postgres>::new(&insert);
                    query.push_values(rows, |mut row, (id, name)| {
                        row.push_bind(id).push_bind(name);
                    });
                    query.build().execute(&mut **tx).await?;
                }
            }
        }
        // Counted before the commit: the runner stops only after every transaction committed.
        self.done.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let events: u64 = std::env::var("HERALD_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(EVENTS_DEFAULT);
    let dir = tempfile::tempdir()?;
    let mut config = BrokerConfig::for_tests(dir.path().join("broker"));
    config.flush = FlushPolicy::Never; // loading the topic is not what is measured
    config.default_partitions = PARTITIONS;
    let broker = Broker::start(config).await?;
    let brokers = broker.bootstrap_servers();

    let loading = Instant::now();
    produce(&brokers, events).await?;
    println!(
        "loaded {events} events in {:.1}s, load average {}",
        loading.elapsed().as_secs_f64(),
        load_average()
    );

    // HERALD_BENCH_RUNS=noop (say) runs one part alone, e.g. under a profiler; the others print NaN.
    let runs = std::env::var("HERALD_BENCH_RUNS")
        .unwrap_or_else(|_| "bare,noop,inbox,sqlite,postgres".into());
    let skipped = (f64::NAN, f64::NAN);
    let wanted = |name: &str| runs.split(',').any(|run| run.trim() == name);
    let (bare, bare_cpu) = match wanted("bare") {
        true => bare_consumer(&brokers, events).await?,
        false => skipped,
    };
    let (noop, noop_cpu) = match wanted("noop") {
        true => herald_noop(&brokers, events).await?,
        false => skipped,
    };
    let (inbox, inbox_cpu) = match wanted("inbox") {
        true => herald_inbox(&brokers, events, dir.path()).await?,
        false => skipped,
    };
    let (alone, alone_cpu) = match wanted("sqlite") {
        true => inbox_alone(events, dir.path()).await?,
        false => skipped,
    };
    let (postgres, postgres_cpu) = match wanted("postgres") {
        true => herald_postgres(&brokers, events).await?,
        false => skipped,
    };
    println!("bare rdkafka consumer (no work):              {bare:>10.0} events/s {bare_cpu:>6.2} CPU us/event");
    println!("herald runner, no-op batch handler:           {noop:>10.0} events/s {noop_cpu:>6.2} CPU us/event");
    println!("herald runner + SQLite inbox, batch mode:     {inbox:>10.0} events/s {inbox_cpu:>6.2} CPU us/event");
    println!("the same inbox batches, no Kafka (SQLite alone): {alone:>7.0} events/s {alone_cpu:>6.2} CPU us/event");
    println!("herald runner + PostgreSQL inbox, batch mode: {postgres:>10.0} events/s {postgres_cpu:>6.2} CPU us/event");
    // Wall-clock ratios of runs in this process, on the same records; the CPU ratios (CPU per
    // event of the baseline over the run's) are printed beside them because other load on a shared
    // machine moves the rates more than the CPU cost.
    println!(
        "ratio no-op runner / bare (events/s):         {:>10.2} (by CPU per event {:.2})",
        noop / bare,
        bare_cpu / noop_cpu
    );
    println!(
        "ratio SQLite inbox / SQLite alone (events/s): {:>10.2} (by CPU per event {:.2})",
        inbox / alone,
        alone_cpu / inbox_cpu
    );
    println!("load average at the end: {}", load_average());
    broker.shutdown().await?;
    Ok(())
}

/// The first three fields of `/proc/loadavg` (1, 5 and 15 minutes), or `?`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".into())
}

/// The `i`th event of the topic: a `user_created` keyed by the user's name.
fn user_created(i: u64) -> Result<herald::envelope::EncodedEvent, BoxError> {
    let name = format!("user{i}");
    Ok(Event::new(
        "user_created",
        &serde_json::json!({ "user": { "name": name } }),
    )?
    .key(&name)
    .encode("bench"))
}

async fn produce(brokers: &str, events: u64) -> Result<(), BoxError> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let mut pending = Vec::with_capacity(PRODUCE_WINDOW);
    for i in 0..events {
        let encoded = user_created(i)?;
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(TOPIC)
            .payload(encoded.payload.as_slice())
            .headers(encoded.kafka_headers());
        if let Some(key) = &encoded.key {
            record = record.key(key.as_slice());
        }
        pending.push(producer.send_result(record).map_err(|(e, _)| e)?);
        if pending.len() == PRODUCE_WINDOW {
            for delivery in pending.drain(..) {
                delivery.await?.map_err(|(e, _)| e)?;
            }
        }
    }
    for delivery in pending {
        delivery.await?.map_err(|(e, _)| e)?;
    }
    Ok(())
}

/// Events/s and CPU us/event of a group consumer that only counts messages.
async fn bare_consumer(brokers: &str, events: u64) -> Result<(f64, f64), BoxError> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench-bare")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[TOPIC])?;
    let first = consumer.recv().await?;
    drop(first);
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let mut seen = 1u64;
    while seen < events {
        let _message = tokio::time::timeout(RUN_DEADLINE, consumer.recv()).await??;
        seen += 1;
    }
    let counted = (events - 1) as f64;
    Ok((
        counted / started.elapsed().as_secs_f64(),
        (cpu_seconds() - cpu) * 1e6 / counted,
    ))
}

/// CPU time (user + system) this process used so far, in seconds, from `/proc/self/stat`
/// (`NaN` where that is unavailable). Assumes the usual 100 clock ticks per second.
fn cpu_seconds() -> f64 {
    const TICKS_PER_SECOND: f64 = 100.0;
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index).and_then(|v| v.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / TICKS_PER_SECOND,
        _ => f64::NAN,
    }
}

/// Does nothing with each batch but count it.
struct Noop {
    done: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl herald::consumer::Consumer for Noop {
    fn subscribes_to(&self) -> Vec<String> {
        vec![TOPIC.into()]
    }

    async fn process(&self, _message: &Message) -> HandlerResult {
        self.done.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn process_batch(&self, batch: &[Message]) -> HandlerResult {
        self.done.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Events/s and CPU us/event of herald's runner (decode, batching, commits) with a handler that
/// does nothing.
async fn herald_noop(brokers: &str, events: u64) -> Result<(f64, f64), BoxError> {
    let done = Arc::new(AtomicU64::new(0));
    let config = runner_config(brokers, "bench-noop");
    let consumer = Noop { done: done.clone() };
    let stop = CancellationToken::new();
    let runner = tokio::spawn(Runner::new(config).consumer(consumer).run(stop.clone()));
    let rate = measure(&done, events).await;
    stop.cancel();
    runner.await??;
    rate
}

/// Events per batch: `HERALD_BENCH_BATCH`, else [`BATCH_SIZE_DEFAULT`].
fn batch_size() -> usize {
    std::env::var("HERALD_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BATCH_SIZE_DEFAULT)
}

fn runner_config(brokers: &str, group: &str) -> ConsumerConfig {
    ConsumerConfig {
        brokers: brokers.to_string(),
        group_id: Some(group.into()),
        batch_size: batch_size(),
        max_wait_ms: 50,
        ..ConsumerConfig::default()
    }
}

/// Events/s and CPU us/event from the first processed batch (the group is joined) until `done`
/// reaches `events`.
async fn measure(done: &AtomicU64, events: u64) -> Result<(f64, f64), BoxError> {
    let deadline = Instant::now() + RUN_DEADLINE;
    while done.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (started, first, cpu) = (Instant::now(), done.load(Ordering::Relaxed), cpu_seconds());
    while done.load(Ordering::Relaxed) < events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if done.load(Ordering::Relaxed) < events {
        return Err(format!(
            "only {} of {events} events processed",
            done.load(Ordering::Relaxed)
        )
        .into());
    }
    let counted = (events - first) as f64;
    Ok((
        counted / started.elapsed().as_secs_f64(),
        (cpu_seconds() - cpu) * 1e6 / counted,
    ))
}

/// Events/s and CPU us/event of herald's runner with the inbox in batch mode on SQLite.
async fn herald_inbox(
    brokers: &str,
    events: u64,
    dir: &std::path::Path,
) -> Result<(f64, f64), BoxError> {
    let db = sqlite(&dir.join("bench.db")).await?;
    inbox_run(brokers, events, db, "bench-herald", "users").await
}

/// Events/s and CPU us/event of herald's runner with the inbox in batch mode on the PostgreSQL at
/// `HERALD_BENCH_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`), in a table and a
/// group of this run's own, dropped afterwards.
async fn herald_postgres(brokers: &str, events: u64) -> Result<(f64, f64), BoxError> {
    let url = std::env::var("HERALD_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let db = Database::connect(&url).await?;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let table = format!("bench_users_{run}");
    let group = format!("bench-postgres-{run}");
    let rate = inbox_run(brokers, events, db.clone(), &group, &table).await;
    if let Database::Postgres(pool) = &db {
        sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
            .execute(pool)
            .await?;
        sqlx::query("DELETE FROM herald_inbox WHERE consumer_group = $1")
            .bind(&group)
            .execute(pool)
            .await?;
    }
    rate
}

/// The runner with the inbox writing `table` in `db` until every event is processed.
async fn inbox_run(
    brokers: &str,
    events: u64,
    db: Database,
    group: &str,
    table: &str,
) -> Result<(f64, f64), BoxError> {
    create_users(&db, table).await?;
    let inbox = Arc::new(Inbox::new(db.clone()).await?);
    let done = Arc::new(AtomicU64::new(0));
    let config = runner_config(brokers, group);
    let stop = CancellationToken::new();
    let handler = UsersTable {
        done: done.clone(),
        table: table.into(),
    };
    let consumer = InboxConsumer::new(inbox, handler);
    let runner = tokio::spawn(Runner::new(config).consumer(consumer).run(stop.clone()));
    let rate = measure(&done, events).await;
    stop.cancel();
    runner.await??;
    check_rows(&db, table, events).await?;
    rate
}

/// A SQLite database opened as a service opens it (WAL, `synchronous=FULL`: fsync at every commit),
/// or with `HERALD_BENCH_SQLITE_SYNCHRONOUS` (e.g. `NORMAL`) for both SQLite parts.
async fn sqlite(path: &std::path::Path) -> Result<Database, BoxError> {
    let url = format!("sqlite://{}", path.display());
    let pragmas: Vec<(&'static str, String)> = std::env::var("HERALD_BENCH_SQLITE_SYNCHRONOUS")
        .map(|level| vec![("synchronous", level)])
        .unwrap_or_default();
    Ok(Database::connect_with_sqlite_pragmas(&url, &pragmas).await?)
}

async fn create_users(db: &Database, table: &str) -> Result<(), BoxError> {
    db.execute_script(&format!(
        "CREATE TABLE {table} (event_id TEXT NOT NULL, name TEXT NOT NULL)"
    ))
    .await?;
    Ok(())
}

async fn check_rows(db: &Database, table: &str, events: u64) -> Result<(), BoxError> {
    let count = format!("SELECT COUNT(*) FROM {table}");
    let rows: i64 = match db {
        Database::Sqlite(pool) => sqlx::query_scalar(&count).fetch_one(pool).await?,
        Database::Postgres(pool) => sqlx::query_scalar(&count).fetch_one(pool).await?,
    };
    if rows as u64 != events {
        return Err(format!("expected {events} rows in {table}, found {rows}").into());
    }
    Ok(())
}

/// Events/s and CPU us/event of the inbox consumer's batches alone: the same events, decoded in
/// advance and handed to `process_batch` in batches of the runner's size, with no Kafka and one
/// writer. What SQLite and sqlx cost per event, the ceiling of the inbox run.
async fn inbox_alone(events: u64, dir: &std::path::Path) -> Result<(f64, f64), BoxError> {
    let db = sqlite(&dir.join("alone.db")).await?;
    create_users(&db, "users").await?;
    let inbox = Arc::new(Inbox::new(db.clone()).await?);
    let done = Arc::new(AtomicU64::new(0));
    let handler = UsersTable {
        done: done.clone(),
        table: "users".into(),
    };
    let consumer = InboxConsumer::new(inbox, handler);
    let batch_size = batch_size();
    let group: Arc<str> = Arc::from("bench-alone");
    let mut batches = Vec::new();
    let mut batch = Vec::with_capacity(batch_size);
    for i in 0..events {
        let encoded = user_created(i)?;
        let headers: herald::consumer::Headers = encoded.headers.iter().cloned().collect();
        let event = herald::envelope::ReceivedEvent::decode(
            encoded.key.as_deref(),
            Some(&encoded.payload),
            headers.iter().map(|(k, v)| (k, Some(v))),
        )?;
        let record = herald::consumer::Record {
            topic: TOPIC.into(),
            partition: 0,
            offset: i as i64,
            timestamp_ms: None,
            key: encoded.key.clone(),
            payload: Some(encoded.payload.clone()),
            headers,
        };
        batch.push(Message {
            event,
            record,
            consumer_group: group.clone(),
        });
        if batch.len() == batch_size {
            batches.push(std::mem::replace(
                &mut batch,
                Vec::with_capacity(batch_size),
            ));
        }
    }
    batches.push(batch);
    let (started, cpu) = (Instant::now(), cpu_seconds());
    for batch in &batches {
        herald::consumer::Consumer::process_batch(&consumer, batch).await?;
    }
    let counted = events as f64;
    let rate = (
        counted / started.elapsed().as_secs_f64(),
        (cpu_seconds() - cpu) * 1e6 / counted,
    );
    check_rows(&db, "users", events).await?;
    Ok(rate)
}
