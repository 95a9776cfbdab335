//! Throughput of herald-broker with librdkafka clients, broker in-process, default flush policy
//! (`always`: every acknowledged produce is fsynced, with group commit).
//!
//! Produces N records (HERALD_BENCH_RECORDS, default 1,000,000) with acks=all and idempotence on,
//! linger.ms=5, large batches, no compression, at 100 B and at 1 KiB; then consumes them back with a
//! manually assigned consumer. Prints records/s, MB/s, process CPU seconds (broker and client share
//! the process) and the consume/produce ratio.
//!
//! Run: `cargo bench -p herald-broker --bench throughput` (small: `HERALD_BENCH_RECORDS=100000`;
//! `HERALD_BENCH_FLUSH=never` or `interval:MS` compares flush policies).
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_broker::{Broker, BrokerConfig};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

const RECORDS_DEFAULT: u64 = 1_000_000;
const SIZES_BYTES: [usize; 2] = [100, 1024];

/// Counts delivery reports.
#[derive(Default, Clone)]
struct Counter {
    delivered: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl ClientContext for Counter {}

impl ProducerContext for Counter {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// User + system CPU seconds of this process (broker and clients together).
fn cpu_seconds() -> f64 {
    let (user, system) = cpu_user_system();
    user + system
}

/// (user, system) CPU seconds of this process.
fn cpu_user_system() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // fields[0] is field 3 (state), so field 14 is index 11. Linux uses 100 ticks per second.
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

struct Phase {
    seconds: f64,
    cpu_seconds: f64,
}

fn produce(bootstrap: &str, topic: &str, count: u64, size: usize) -> Phase {
    let counter = Counter::default();
    let producer: ThreadedProducer<Counter> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all") // durability: answered after fsync (group commit)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("batch.num.messages", "100000")
        .set("compression.type", "none")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .create_with_context(counter.clone())
        .unwrap();
    let payload = vec![b'x'; size];
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    for _ in 0..count {
        let mut record = BaseRecord::<(), [u8]>::to(topic)
            .payload(&payload)
            .partition(0);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1)); // the queue drains as acks arrive
                }
                Err((e, _)) => panic!("produce failed: {e}"),
            }
        }
    }
    producer.flush(Duration::from_secs(300)).unwrap();
    let phase = Phase {
        seconds: start.elapsed().as_secs_f64(),
        cpu_seconds: cpu_seconds() - cpu_start,
    };
    assert_eq!(counter.delivered.load(Ordering::Relaxed), count);
    assert_eq!(counter.failed.load(Ordering::Relaxed), 0);
    phase
}

fn consume(bootstrap: &str, topic: &str, count: u64) -> Phase {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "herald-bench") // required by librdkafka; nothing is committed
        .set("enable.auto.commit", "false")
        .set("max.partition.fetch.bytes", "16777216")
        .set("fetch.max.bytes", "67108864")
        .set("queued.max.messages.kbytes", "262144")
        // librdkafka pauses fetching for fetch.queue.backoff.ms (1 s) once its local queue holds
        // queued.min.messages (100k); one 16 MiB fetch of 100 B records is more than that.
        .set("queued.min.messages", "2000000")
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    let mut received = 0u64;
    while received < count {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(message)) => {
                assert!(message.payload().is_some());
                received += 1;
            }
            Some(Err(e)) => panic!("consume failed: {e}"),
            None => panic!("no record within 10 s after {received}"),
        }
    }
    Phase {
        seconds: start.elapsed().as_secs_f64(),
        cpu_seconds: cpu_seconds() - cpu_start,
    }
}

fn report(what: &str, size: usize, count: u64, phase: &Phase) -> f64 {
    let per_second = count as f64 / phase.seconds;
    let megabytes = per_second * size as f64 / 1_000_000.0;
    println!(
        "{what:>8} {size:>5} B: {count} records in {:.2} s = {per_second:>10.0} records/s {megabytes:>7.1} MB/s, CPU {:.2} s",
        phase.seconds, phase.cpu_seconds
    );
    per_second
}

async fn bench(size: usize, count: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::for_tests(dir.path()); // default flush policy: always
    if let Some(flush) = std::env::var("HERALD_BENCH_FLUSH")
        .ok()
        .and_then(|f| f.parse().ok())
    {
        config.flush = flush; // for comparison runs only
    }
    let broker = Broker::start(config).await.unwrap();
    let bootstrap = broker.bootstrap_servers();
    let topic = format!("bench-{size}");
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let created = admin
        .create_topics(
            [&NewTopic::new(&topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    created.into_iter().for_each(|r| {
        r.unwrap();
    });
    let (b, t) = (bootstrap.clone(), topic.clone());
    let produced = tokio::task::spawn_blocking(move || produce(&b, &t, count, size))
        .await
        .unwrap();
    let consumed = tokio::task::spawn_blocking(move || consume(&bootstrap, &topic, count))
        .await
        .unwrap();
    let p = report("produce", size, count, &produced);
    let c = report("consume", size, count, &consumed);
    println!("          ratio consume/produce: {:.2}", c / p);
    broker.shutdown().await.unwrap();
}

fn main() {
    let count = std::env::var("HERALD_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RECORDS_DEFAULT);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for size in SIZES_BYTES {
        runtime.block_on(bench(size, count));
    }
    let (user, system) = cpu_user_system();
    println!("process CPU: user {user:.2} s, system {system:.2} s");
}
