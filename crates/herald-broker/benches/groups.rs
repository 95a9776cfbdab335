//! Consumer-group benchmark against an in-process broker (run: `cargo bench -p herald-broker --bench
//! groups`; `HERALD_BENCH_RECORDS` overrides the record count).
//!
//! 1. Group consume: 1,000,000 records of 100 B on 6 partitions, read by one consumer and then by a
//!    3-member group; the issue asks for the group to reach at least 80% of the single consumer's rate.
//! 2. Hand-over: in a 3-member group one member leaves cleanly; the time until the other two own all 6
//!    partitions, with heartbeat.interval.ms 3000 and 500 (budget: one interval + 500 ms).
//!
//! The broker runs with `FlushPolicy::Never` so that loading the data is quick (consuming does not
//! depend on the flush policy) and a 1 s initial rebalance delay so that the three members form one
//! generation. Rates count from the first record received to the last, best of 3 rounds. Consumers are
//! librdkafka `BaseConsumer`s polled on their own threads.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use herald_broker::{Broker, BrokerConfig, FlushPolicy};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

const PARTITIONS: i32 = 6;
const RECORDS_DEFAULT: u64 = 1_000_000;
const RECORD_BYTES: usize = 100;
const WAIT_LIMIT: Duration = Duration::from_secs(300);
/// Rounds of each consume measurement; the best is reported.
const ROUNDS: usize = 3;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> BenchResult<()> {
    let records = std::env::var("HERALD_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RECORDS_DEFAULT);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let mut config = BrokerConfig::for_tests(dir.path());
    config.flush = FlushPolicy::Never;
    // Long enough that all three members make the first generation together, as Kafka's 3 s default
    // intends; otherwise a late member forces a second rebalance while the clock already runs.
    config.group_initial_rebalance_delay = Duration::from_secs(1);
    let broker = runtime.block_on(Broker::start(config))?;
    let bootstrap = broker.bootstrap_servers();

    runtime.block_on(create_topic(&bootstrap, "bench"))?;
    let started = Instant::now();
    produce(&bootstrap, "bench", records)?;
    println!(
        "loaded {records} records of {RECORD_BYTES} B in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // Best of a few rounds each: the machine is shared, and a single round is noisy.
    let (mut single, mut group) = (0.0_f64, 0.0_f64);
    for round in 0..ROUNDS {
        single = single.max(consume_rate(
            &bootstrap,
            &format!("single-{round}"),
            1,
            records,
        )?);
        group = group.max(consume_rate(
            &bootstrap,
            &format!("trio-{round}"),
            3,
            records,
        )?);
    }
    println!(
        "group consume: 1 consumer {single:.0} records/s; 3 members {group:.0} records/s; ratio {:.2} (target >= 0.80)",
        group / single
    );

    for heartbeat_ms in [3_000, 500] {
        runtime.block_on(create_topic(
            &bootstrap,
            &format!("handover-{heartbeat_ms}"),
        ))?;
        let handover = handover_time(&bootstrap, heartbeat_ms)?;
        println!(
            "hand-over after a clean leave, heartbeat.interval.ms={heartbeat_ms}: {} ms (budget {} ms)",
            handover.as_millis(),
            heartbeat_ms + 500
        );
    }
    runtime.block_on(broker.shutdown())?;
    Ok(())
}

async fn create_topic(bootstrap: &str, name: &str) -> BenchResult<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let topic = NewTopic::new(name, PARTITIONS, TopicReplication::Fixed(1));
    for result in admin.create_topics([&topic], &AdminOptions::new()).await? {
        result.map_err(|(topic, code)| format!("create {topic}: {code}"))?;
    }
    Ok(())
}

fn produce(bootstrap: &str, topic: &str, records: u64) -> BenchResult<()> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "1")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "500000")
        .create()?;
    let payload = vec![b'x'; RECORD_BYTES];
    for i in 0..records {
        let partition = (i % PARTITIONS as u64) as i32;
        let mut record = BaseRecord::<(), [u8]>::to(topic)
            .payload(&payload)
            .partition(partition);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    producer.flush(WAIT_LIMIT)?;
    Ok(())
}

/// Records consumed so far by a group's members, and when the first one arrived.
#[derive(Clone, Default)]
struct Progress {
    consumed: Arc<AtomicU64>,
    first: Arc<Mutex<Option<Instant>>>,
}

/// A group member polled on its own thread, counting records.
struct Member {
    consumer: Arc<BaseConsumer>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Member {
    fn start(
        bootstrap: &str,
        group: &str,
        topic: &str,
        heartbeat_ms: u64,
        progress: Progress,
    ) -> BenchResult<Self> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("partition.assignment.strategy", "range")
            .set("heartbeat.interval.ms", heartbeat_ms.to_string())
            .set(
                "session.timeout.ms",
                (heartbeat_ms * 4).max(6_000).to_string(),
            )
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()?;
        consumer.subscribe(&[topic])?;
        let consumer = Arc::new(consumer);
        let stop = Arc::new(AtomicBool::new(false));
        let (polled, stopping) = (consumer.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                if let Some(Ok(_)) = polled.poll(Duration::from_millis(50)) {
                    if let Ok(mut first) = progress.first.lock() {
                        first.get_or_insert_with(Instant::now);
                    }
                    progress.consumed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(Self {
            consumer,
            stop,
            thread,
        })
    }

    fn owned(&self) -> BTreeSet<i32> {
        self.consumer
            .assignment()
            .map(|a| a.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default()
    }

    /// Stops polling and closes the consumer (LeaveGroup).
    fn leave(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        drop(self.consumer);
    }
}

/// Records per second for `members` consumers of one group reading every record, from the first record
/// received to the last.
fn consume_rate(bootstrap: &str, group: &str, members: usize, records: u64) -> BenchResult<f64> {
    let progress = Progress::default();
    let started: Vec<Member> = (0..members)
        .map(|_| Member::start(bootstrap, group, "bench", 500, progress.clone()))
        .collect::<BenchResult<_>>()?;
    let deadline = Instant::now() + WAIT_LIMIT;
    while progress.consumed.load(Ordering::Relaxed) < records {
        if Instant::now() > deadline {
            return Err(format!(
                "{group}: only {} of {records} records consumed",
                progress.consumed.load(Ordering::Relaxed)
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = progress
        .first
        .lock()
        .map_err(|_| "poisoned")?
        .map(|t| t.elapsed())
        .unwrap_or_default();
    for member in started {
        member.leave();
    }
    Ok(records as f64 / elapsed.as_secs_f64())
}

/// Time from one member's clean leave until the other two own all partitions.
fn handover_time(bootstrap: &str, heartbeat_ms: u64) -> BenchResult<Duration> {
    let topic = format!("handover-{heartbeat_ms}");
    let group = format!("handover-{heartbeat_ms}");
    let progress = Progress::default();
    let mut members: Vec<Member> = (0..3)
        .map(|_| Member::start(bootstrap, &group, &topic, heartbeat_ms, progress.clone()))
        .collect::<BenchResult<_>>()?;
    wait_until(|| owned_by(&members) == Some(2))?;
    let leaver = members.pop().ok_or("no member")?;
    let left_at = Instant::now();
    leaver.leave();
    wait_until(|| owned_by(&members) == Some(3))?;
    let handover = left_at.elapsed();
    for member in members {
        member.leave();
    }
    Ok(handover)
}

/// `Some(n)` when every partition is owned by exactly one member and each owns `n`.
fn owned_by(members: &[Member]) -> Option<usize> {
    let owned: Vec<BTreeSet<i32>> = members.iter().map(|m| m.owned()).collect();
    let union: BTreeSet<i32> = owned.iter().flatten().copied().collect();
    let total: usize = owned.iter().map(|o| o.len()).sum();
    let per_member = owned.first()?.len();
    (union.len() == PARTITIONS as usize
        && total == union.len()
        && owned.iter().all(|o| o.len() == per_member))
    .then_some(per_member)
}

fn wait_until(mut condition: impl FnMut() -> bool) -> BenchResult<()> {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !condition() {
        if Instant::now() > deadline {
            return Err("condition not reached".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
