//! Jepsen-style loss checker for the real `herald broker` under `kill -9`.
//!
//! Idempotent producers (acks=all, enable.idempotence=true, librdkafka retrying) record every
//! acknowledged (partition, offset, key, value) while a killer SIGKILLs the broker at random moments
//! and restarts it on the same data directory and port, and a consumer polls all the while. Afterwards
//! the broker is killed once more and two independent full reads are checked for Jepsen's Kafka
//! anomalies: lost-write (an acknowledged record missing from its acknowledged offset), duplicate (a
//! value stored twice), inconsistent-offsets (the reads disagree, or disagree with what the chaos
//! consumer saw at an offset) and nonmonotonic-poll (the chaos consumer saw a partition's offsets go
//! backwards within its one assignment). Not here: consumer groups (`crash_inbox.rs`).
//!
//! `CRASH_SEED=<u64>` replays the kill schedule of a run (its seed is printed); thread timing still varies.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::BrokerProcess;
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "chaos";
const PARTITIONS: i32 = 3;
const PRODUCERS: usize = 2;
/// Sends a producer keeps unacknowledged at once.
const IN_FLIGHT_PER_PRODUCER: usize = 64;
/// Distinct keys (librdkafka's partitioner spreads them over the partitions).
const KEYS: u64 = 16;
/// Kills per run; the run fails if the kill loop cannot reach it within `CHAOS_MS_MAX`.
const KILLS_MIN: u32 = 20;
const CHAOS_MS_MAX: u64 = 45_000;
/// Broker uptime between a restart and the next kill, drawn uniformly.
const UPTIME_MS_MIN: u64 = 100;
const UPTIME_MS_MAX: u64 = 1_000;
/// How long the broker stays dead, drawn uniformly from 0.
const DOWNTIME_MS_MAX: u64 = 150;
/// Bound on each wait after the chaos (acks draining, final reads).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Small segments, so that kills also land around segment rolls; data is never deleted.
const BROKER_FLAGS: &[&str] = &["--segment-bytes", "65536", "--retention-ms", "-1"];

/// An acknowledged write.
#[derive(Debug, Clone)]
struct Ack {
    partition: i32,
    offset: i64,
    key: String,
    value: String,
}

/// What one producer saw.
#[derive(Debug, Default)]
struct ProducerReport {
    acked: Vec<Ack>,
    /// Sends that failed after being handed to librdkafka: indeterminate (stored at most once).
    failed: Vec<String>,
    /// librdkafka's fatal error, if the idempotent producer hit one.
    fatal: Option<String>,
}

/// (offset, key, value) per partition, in the order read.
type Reads = BTreeMap<i32, Vec<(i64, String, String)>>;

/// What the consumer that polled during the chaos saw.
#[derive(Debug, Default)]
struct PollReport {
    seen: Vec<(i32, i64, String)>,
    nonmonotonic: Vec<String>,
}

#[derive(Debug, Default)]
struct Anomalies {
    lost: Vec<String>,
    duplicate: Vec<String>,
    inconsistent_offsets: Vec<String>,
    nonmonotonic_poll: Vec<String>,
}

impl Anomalies {
    /// The first `n` of each kind, for a readable failure message.
    fn sample(&self, n: usize) -> [(&'static str, &[String]); 4] {
        fn first(v: &[String], n: usize) -> &[String] {
            &v[..v.len().min(n)]
        }
        [
            ("lost", first(&self.lost, n)),
            ("duplicate", first(&self.duplicate, n)),
            ("inconsistent-offsets", first(&self.inconsistent_offsets, n)),
            ("nonmonotonic-poll", first(&self.nonmonotonic_poll, n)),
        ]
    }

    fn count(&self) -> usize {
        self.lost.len()
            + self.duplicate.len()
            + self.inconsistent_offsets.len()
            + self.nonmonotonic_poll.len()
    }
}

/// acks=all and idempotence: the guarantees under test. A long message timeout makes sends wait out
/// the chaos instead of failing; retries are librdkafka's default (unbounded with idempotence).
fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut config = common::fast_reconnect_config(bootstrap);
    config
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("retry.backoff.ms", "20")
        .set("retry.backoff.max.ms", "200")
        .set("message.timeout.ms", "120000");
    config
}

/// Manual assignment, nothing committed, CRCs checked on every batch.
fn consumer_config(bootstrap: &str) -> ClientConfig {
    let mut config = common::fast_reconnect_config(bootstrap);
    config
        .set("group.id", "crash-loss-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("check.crcs", "true")
        .set("fetch.wait.max.ms", "100");
    config
}

async fn create_topic(bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> =
        common::fast_reconnect_config(bootstrap).create().unwrap();
    let topic = NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(1));
    for result in admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .unwrap()
    {
        result.unwrap();
    }
}

/// Sends unique values with up to `IN_FLIGHT_PER_PRODUCER` unacknowledged until `stop`, then waits
/// for every outstanding send to resolve.
async fn produce(id: usize, bootstrap: String, stop: Arc<AtomicBool>) -> ProducerReport {
    let producer: FutureProducer = producer_config(&bootstrap).create().unwrap();
    let mut report = ProducerReport::default();
    let mut in_flight = FuturesUnordered::new();
    let mut sequence = 0u64;
    loop {
        while !stop.load(Ordering::Relaxed) && in_flight.len() < IN_FLIGHT_PER_PRODUCER {
            let key = format!("k{}", sequence % KEYS);
            let value = format!("p{id}-{sequence:08}");
            sequence += 1;
            let record = FutureRecord::to(TOPIC).key(&key).payload(&value);
            match producer.send_result(record) {
                Ok(delivery) => in_flight.push(async move { (key, value, delivery.await) }),
                // Never handed to librdkafka (queue full): not stored, so not tracked.
                Err(_) => break,
            }
        }
        let Some((key, value, result)) = in_flight.next().await else {
            break;
        };
        match result {
            Ok(Ok(delivery)) => report.acked.push(Ack {
                partition: delivery.partition,
                offset: delivery.offset,
                key,
                value,
            }),
            Ok(Err((e, _))) => report.failed.push(format!("{value}: {e}")),
            Err(_) => report.failed.push(format!("{value}: delivery canceled")),
        }
    }
    report.fatal = producer
        .client()
        .fatal_error()
        .map(|(code, reason)| format!("{code:?}: {reason}"));
    report
}

fn assign_all(consumer: &BaseConsumer) {
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset(TOPIC, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
}

/// Polls every partition from the beginning until `stop`; offsets must rise within the assignment.
fn poll_during_chaos(bootstrap: &str, stop: &AtomicBool) -> PollReport {
    let consumer: BaseConsumer = consumer_config(bootstrap).create().unwrap();
    assign_all(&consumer);
    let mut report = PollReport::default();
    let mut last: HashMap<i32, i64> = HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        // Errors while the broker is down are expected; librdkafka reconnects by itself.
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let (partition, offset) = (message.partition(), message.offset());
        if let Some(previous) = last.insert(partition, offset) {
            if offset <= previous {
                report.nonmonotonic.push(format!(
                    "partition {partition}: offset {offset} polled after {previous}"
                ));
            }
        }
        let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
        report.seen.push((partition, offset, value));
    }
    report
}

/// Reads every partition from the beginning up to its high watermark with a fresh consumer.
fn read_all(bootstrap: &str) -> Reads {
    let consumer: BaseConsumer = consumer_config(bootstrap).create().unwrap();
    let mut remaining: HashMap<i32, i64> = HashMap::new();
    for partition in 0..PARTITIONS {
        let (_, high) = consumer
            .fetch_watermarks(TOPIC, partition, Duration::from_secs(10))
            .unwrap();
        if high > 0 {
            remaining.insert(partition, high);
        }
    }
    assign_all(&consumer);
    let mut reads = Reads::new();
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while !remaining.is_empty() {
        assert!(
            Instant::now() < deadline,
            "final read stalled: {remaining:?}"
        );
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let partition = message.partition();
        let text =
            |bytes: Option<&[u8]>| String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned();
        reads.entry(partition).or_default().push((
            message.offset(),
            text(message.key()),
            text(message.payload()),
        ));
        if remaining
            .get(&partition)
            .is_some_and(|high| message.offset() + 1 >= *high)
        {
            remaining.remove(&partition);
        }
    }
    reads
}

/// Kills and restarts the broker at random moments until `KILLS_MIN` kills (or `CHAOS_MS_MAX`).
fn kill_loop(mut broker: BrokerProcess, dir: &Path, seed: u64) -> (BrokerProcess, u32) {
    let listen = broker.bootstrap();
    let mut rng = common::Rng(seed);
    let started = Instant::now();
    let mut kills = 0;
    while kills < KILLS_MIN && started.elapsed() < Duration::from_millis(CHAOS_MS_MAX) {
        // The sleeps are the chaos schedule itself, not synchronisation.
        std::thread::sleep(Duration::from_millis(
            rng.between(UPTIME_MS_MIN, UPTIME_MS_MAX),
        ));
        broker.stop_with("KILL");
        kills += 1;
        std::thread::sleep(Duration::from_millis(rng.between(0, DOWNTIME_MS_MAX)));
        broker = BrokerProcess::start_at(&listen, dir, BROKER_FLAGS);
    }
    (broker, kills)
}

/// Compares the acknowledged writes, both final reads and what the chaos consumer saw.
fn check(acked: &[Ack], first: &Reads, second: &Reads, polled: &PollReport) -> Anomalies {
    let mut anomalies = Anomalies {
        nonmonotonic_poll: polled.nonmonotonic.clone(),
        ..Anomalies::default()
    };
    for partition in 0..PARTITIONS {
        let (a, b) = (first.get(&partition), second.get(&partition));
        if a != b {
            let (a, b) = (a.map_or(0, Vec::len), b.map_or(0, Vec::len));
            anomalies.inconsistent_offsets.push(format!(
                "partition {partition}: reads differ ({a} and {b} records)"
            ));
        }
    }
    let mut at: HashMap<(i32, i64), (&str, &str)> = HashMap::new();
    let mut copies: HashMap<&str, Vec<(i32, i64)>> = HashMap::new();
    for (partition, records) in first {
        for (offset, key, value) in records {
            at.insert((*partition, *offset), (key, value));
            copies.entry(value).or_default().push((*partition, *offset));
        }
    }
    for ack in acked {
        let stored = at.get(&(ack.partition, ack.offset));
        if stored != Some(&(ack.key.as_str(), ack.value.as_str())) {
            anomalies.lost.push(format!(
                "{} (key {}) acknowledged at {}/{}, found {stored:?}",
                ack.value, ack.key, ack.partition, ack.offset
            ));
        }
    }
    for (value, places) in copies {
        if places.len() > 1 {
            anomalies
                .duplicate
                .push(format!("{value} stored at {places:?}"));
        }
    }
    for (partition, offset, value) in &polled.seen {
        match at.get(&(*partition, *offset)) {
            Some((_, stored)) if stored == value => {}
            stored => anomalies.inconsistent_offsets.push(format!(
                "{partition}/{offset}: polled {value} during the chaos, now {stored:?}"
            )),
        }
    }
    anomalies
}

// Across 20+ random SIGKILLs of the broker, no acknowledged write is lost, moved or duplicated, two
// reads agree, and a consumer polling throughout never sees offsets go backwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_repeated_kill_9() {
    let seed = common::seed_from_env("CRASH_SEED");
    println!("crash_loss seed {seed} (CRASH_SEED={seed} replays the kill schedule)");
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let dir_path: PathBuf = dir.path().to_path_buf();
    let broker = BrokerProcess::start(&dir_path, BROKER_FLAGS);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap).await;

    let stop = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|id| tokio::spawn(produce(id, bootstrap.clone(), stop.clone())))
        .collect();
    let poller = {
        let (bootstrap, stop) = (bootstrap.clone(), stop.clone());
        tokio::task::spawn_blocking(move || poll_during_chaos(&bootstrap, &stop))
    };
    let killer = {
        let dir_path = dir_path.clone();
        tokio::task::spawn_blocking(move || kill_loop(broker, &dir_path, seed))
    };
    let (broker, kills) = killer.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut reports = Vec::new();
    for producer in producers {
        let report = tokio::time::timeout(SETTLE_TIMEOUT, producer)
            .await
            .expect("outstanding sends did not resolve")
            .unwrap();
        reports.push(report);
    }
    let polled = poller.await.unwrap();

    // Acknowledged means fsynced: one more kill right after the last acknowledgement loses nothing.
    broker.stop_with("KILL");
    let broker = BrokerProcess::start_at(&bootstrap, &dir_path, BROKER_FLAGS);
    let (first, second) = tokio::task::spawn_blocking(move || {
        let first = read_all(&bootstrap);
        (first, read_all(&bootstrap))
    })
    .await
    .unwrap();
    drop(broker);

    let acked: Vec<Ack> = reports.iter().flat_map(|r| r.acked.clone()).collect();
    let failed: Vec<&String> = reports.iter().flat_map(|r| &r.failed).collect();
    let fatal: Vec<&String> = reports.iter().filter_map(|r| r.fatal.as_ref()).collect();
    let stored: usize = first.values().map(Vec::len).sum();
    let anomalies = check(&acked, &first, &second, &polled);
    println!(
        "crash_loss: acked {} failed {} stored {stored} polled {} kills {kills} lost {} duplicates {} \
         inconsistent-offsets {} nonmonotonic-polls {} fatal {} run {:.1}s",
        acked.len(),
        failed.len(),
        polled.seen.len(),
        anomalies.lost.len(),
        anomalies.duplicate.len(),
        anomalies.inconsistent_offsets.len(),
        anomalies.nonmonotonic_poll.len(),
        fatal.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        kills >= KILLS_MIN,
        "only {kills} kills in {CHAOS_MS_MAX} ms"
    );
    assert!(
        acked.len() >= 1_000,
        "too few acknowledged writes to judge: {}",
        acked.len()
    );
    assert!(
        fatal.is_empty(),
        "idempotent producer fatal errors: {fatal:?}"
    );
    assert!(
        failed.is_empty(),
        "sends failed despite retries: {:?}",
        &failed[..failed.len().min(10)]
    );
    assert_eq!(
        anomalies.count(),
        0,
        "anomalies (first 10 of each): {:#?}",
        anomalies.sample(10)
    );
}

// The checker itself catches each anomaly kind on hand-made histories (so a green run means something).
#[test]
fn checker_flags_each_anomaly() {
    let record = |offset: i64, value: &str| (offset, "k".to_string(), value.to_string());
    let ack = |offset: i64, value: &str| Ack {
        partition: 0,
        offset,
        key: "k".to_string(),
        value: value.to_string(),
    };
    let first: Reads = [(0, vec![record(0, "a"), record(1, "b"), record(2, "b")])].into();
    let second: Reads = [(0, vec![record(0, "a"), record(1, "b")])].into();
    let polled = PollReport {
        seen: vec![(0, 0, "a".to_string()), (0, 1, "x".to_string())],
        nonmonotonic: vec!["partition 0: offset 0 polled after 1".to_string()],
    };
    let acked = [ack(0, "a"), ack(1, "b"), ack(3, "c")];
    let anomalies = check(&acked, &first, &second, &polled);
    assert_eq!(anomalies.lost.len(), 1, "{anomalies:?}"); // c at 3
    assert_eq!(anomalies.duplicate.len(), 1, "{anomalies:?}"); // b twice
    assert_eq!(anomalies.inconsistent_offsets.len(), 2, "{anomalies:?}"); // reads differ; x at 1
    assert_eq!(anomalies.nonmonotonic_poll.len(), 1, "{anomalies:?}");
    let clean = check(&acked[..2], &second, &second, &PollReport::default());
    assert_eq!(clean.count(), 0, "{clean:?}");
}
