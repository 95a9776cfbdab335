//! The real `herald broker` SIGKILLed while its log cleaner works: a compacted topic takes a stream of
//! updates over a few hundred keys (rdkafka, acks=all, idempotent) while the broker is killed at seeded
//! random moments, many of them while a cleaned segment is being written or swapped (the kill waits for
//! a `.cleaned` or `.swap` file to appear: timing, not synchronisation). After every restart the log must
//! recover and a full read must agree with a model the test keeps: every record read sits at the offset
//! its acknowledgement gave, and the latest record per key read is exactly the latest acknowledged one.
//!
//! `HERALD_SEED=<u64>` replays the kill schedule (the seed is printed); thread timing still varies.
//! Also here: the cleaner flags of `herald broker` refuse bad values at start-up.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::BrokerProcess;
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "entities";
const KEYS: u64 = 300;
const KILLS: u32 = 20;
/// Unacknowledged sends kept at once.
const IN_FLIGHT: usize = 64;
/// Broker uptime before a kill is armed, drawn uniformly.
const UPTIME_MS: (u64, u64) = (150, 700);
/// Once armed, how long a kill may wait for the cleaner to be mid-pass before it fires anyway.
const PASS_WAIT_MS: u64 = 400;
/// Bound on each wait for acknowledgements and reads.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The cleaner looks for work every 5 ms; broker-wide segments are small too.
const BROKER_FLAGS: &[&str] = &[
    "--retention-ms",
    "-1",
    "--log-cleaner-backoff-ms",
    "5",
    "--log-cleaner-dedupe-buffer-size",
    "1048576",
];

async fn create_topic(bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> =
        common::fast_reconnect_config(bootstrap).create().unwrap();
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        .set("segment.bytes", "16384")
        .set("min.cleanable.dirty.ratio", "0.01");
    for result in admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .unwrap()
    {
        result.unwrap();
    }
}

/// An acknowledged write: offset -> (key, value).
type Acked = BTreeMap<i64, (String, String)>;

/// Sends updates (keys drawn from the seed) with up to `IN_FLIGHT` unacknowledged until `stop`, then
/// waits for every send to resolve. Returns the acknowledged writes and the failures.
async fn produce(
    bootstrap: String,
    round: u32,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> (Acked, Vec<String>) {
    let producer: FutureProducer = common::fast_reconnect_config(&bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("retry.backoff.ms", "20")
        .set("retry.backoff.max.ms", "200")
        .set("message.timeout.ms", "120000")
        .create()
        .unwrap();
    let mut keys = common::Rng(seed ^ u64::from(round).wrapping_mul(0x9E37_79B9));
    let (mut acked, mut failed) = (Acked::new(), Vec::new());
    let mut in_flight = FuturesUnordered::new();
    let mut sequence = 0u64;
    loop {
        while !stop.load(Ordering::Relaxed) && in_flight.len() < IN_FLIGHT {
            let key = format!("key-{:03}", keys.next() % KEYS);
            let value = format!("r{round}-{sequence:07}");
            sequence += 1;
            let record = FutureRecord::to(TOPIC)
                .partition(0)
                .key(&key)
                .payload(&value);
            match producer.send_result(record) {
                Ok(delivery) => in_flight.push(async move { (key, value, delivery.await) }),
                Err(_) => break, // never handed to librdkafka: not stored
            }
        }
        let Some((key, value, result)) = in_flight.next().await else {
            break;
        };
        match result {
            Ok(Ok(delivery)) => {
                acked.insert(delivery.offset, (key, value));
            }
            Ok(Err((e, _))) => failed.push(format!("{value}: {e}")),
            Err(_) => failed.push(format!("{value}: delivery canceled")),
        }
        if stop.load(Ordering::Relaxed) && in_flight.is_empty() {
            break;
        }
    }
    (acked, failed)
}

/// Every (offset, key, value) from the log start to the high watermark, read with a fresh consumer.
fn read_all(bootstrap: &str) -> Vec<(i64, String, String)> {
    let consumer: BaseConsumer = common::fast_reconnect_config(bootstrap)
        .set("group.id", "crash-compaction-reader")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("check.crcs", "true")
        .set("fetch.wait.max.ms", "50")
        .create()
        .unwrap();
    let (_, high) = consumer
        .fetch_watermarks(TOPIC, 0, Duration::from_secs(10))
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut out: Vec<(i64, String, String)> = Vec::new();
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while out
        .last()
        .map_or(high > 0, |(offset, _, _)| offset + 1 < high)
    {
        assert!(Instant::now() < deadline, "read stalled below {high}");
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
        out.push((
            message.offset(),
            text(message.key()),
            text(message.payload()),
        ));
    }
    out
}

/// Latest (offset, value) per key.
fn latest_per_key<'a>(
    records: impl IntoIterator<Item = (i64, &'a str, &'a str)>,
) -> BTreeMap<String, (i64, String)> {
    let mut latest = BTreeMap::new();
    for (offset, key, value) in records {
        latest.insert(key.to_string(), (offset, value.to_string()));
    }
    latest
}

/// What a read shows against the acknowledged writes: records away from their acknowledged offset,
/// and keys whose latest record differs from the model.
fn check(acked: &Acked, read: &[(i64, String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut previous = -1;
    for (offset, key, value) in read {
        if *offset <= previous {
            problems.push(format!("offset {offset} read after {previous}"));
        }
        previous = *offset;
        match acked.get(offset) {
            Some((k, v)) if k == key && v == value => {}
            other => problems.push(format!(
                "{offset}: read {key}={value}, acknowledged {other:?}"
            )),
        }
    }
    let model = latest_per_key(acked.iter().map(|(o, (k, v))| (*o, k.as_str(), v.as_str())));
    let seen = latest_per_key(read.iter().map(|(o, k, v)| (*o, k.as_str(), v.as_str())));
    for (key, expected) in &model {
        if seen.get(key) != Some(expected) {
            problems.push(format!(
                "{key}: latest acknowledged {expected:?}, read {:?}",
                seen.get(key)
            ));
        }
    }
    for key in seen.keys().filter(|k| !model.contains_key(*k)) {
        problems.push(format!("{key}: read but never acknowledged"));
    }
    problems
}

/// Whether the cleaner is mid-pass: a cleaned segment written beside the originals or a swap file.
fn cleaner_files_present(data_dir: &Path) -> bool {
    fn walk(dir: &Path) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        entries.flatten().any(|entry| {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".cleaned") || name.ends_with(".swap") || (path.is_dir() && walk(&path))
        })
    }
    walk(data_dir)
}

/// Lets the broker run for a drawn uptime, then waits (up to `PASS_WAIT_MS`) for the cleaner to be
/// mid-pass and SIGKILLs it; returns whether the kill landed inside a pass.
fn kill_during_cleaning(broker: BrokerProcess, data_dir: &Path, rng: &mut common::Rng) -> bool {
    // The sleeps are the chaos schedule itself, not synchronisation.
    std::thread::sleep(Duration::from_millis(rng.between(UPTIME_MS.0, UPTIME_MS.1)));
    let armed = Instant::now();
    let mut in_pass = cleaner_files_present(data_dir);
    while !in_pass && armed.elapsed() < Duration::from_millis(PASS_WAIT_MS) {
        std::thread::sleep(Duration::from_millis(1));
        in_pass = cleaner_files_present(data_dir);
    }
    broker.stop_with("KILL");
    in_pass
}

// 20 SIGKILLs of the real broker while its cleaner compacts a topic taking acks=all updates: every
// restart recovers, no record moves from its acknowledged offset, and the latest value of every key is
// the latest acknowledged one
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleaning_survives_repeated_kill_9() {
    let seed = common::seed_from_env("HERALD_SEED");
    println!("crash_compaction seed {seed} (HERALD_SEED={seed} replays the kill schedule)");
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let mut broker = BrokerProcess::start(&data_dir, BROKER_FLAGS);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap).await;
    let mut rng = common::Rng(seed);
    let mut acked = Acked::new();
    let (mut kills_in_pass, mut reads, mut last_read) = (0u32, 0usize, 0usize);
    for round in 0..KILLS {
        let stop = Arc::new(AtomicBool::new(false));
        let producer = tokio::spawn(produce(bootstrap.clone(), round, seed, stop.clone()));
        let (in_pass, dir_for_kill) = {
            let data_dir = data_dir.clone();
            let round_seed = rng.next();
            tokio::task::spawn_blocking(move || {
                let mut round_rng = common::Rng(round_seed);
                (
                    kill_during_cleaning(broker, &data_dir, &mut round_rng),
                    data_dir,
                )
            })
            .await
            .unwrap()
        };
        kills_in_pass += u32::from(in_pass);
        broker = BrokerProcess::start_at(&bootstrap, &dir_for_kill, BROKER_FLAGS);
        stop.store(true, Ordering::Relaxed);
        let (round_acked, failed) = tokio::time::timeout(SETTLE_TIMEOUT, producer)
            .await
            .expect("outstanding sends did not resolve")
            .unwrap();
        assert!(
            failed.is_empty(),
            "round {round}: sends failed despite retries: {:?}",
            &failed[..failed.len().min(5)]
        );
        for (offset, record) in round_acked {
            assert!(
                acked.insert(offset, record).is_none(),
                "offset {offset} acknowledged twice"
            );
        }
        let read = {
            let bootstrap = bootstrap.clone();
            tokio::task::spawn_blocking(move || read_all(&bootstrap))
                .await
                .unwrap()
        };
        reads += read.len();
        last_read = read.len();
        let problems = check(&acked, &read);
        assert!(
            problems.is_empty(),
            "seed {seed}, after kill {}: {} problems, first: {:#?}",
            round + 1,
            problems.len(),
            &problems[..problems.len().min(10)]
        );
    }
    drop(broker);
    let distinct: HashMap<&str, ()> = acked.values().map(|(k, _)| (k.as_str(), ())).collect();
    println!(
        "crash_compaction: {KILLS} kills ({kills_in_pass} mid-pass), {} acknowledged over {} keys, \
         {reads} records read in all, run {:.1}s",
        acked.len(),
        distinct.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        acked.len() >= 2_000,
        "too few writes to judge: {}",
        acked.len()
    );
    assert!(
        kills_in_pass >= 1,
        "no kill landed while the cleaner was mid-pass"
    );
    // The cleaner did work: fewer records are left than were acknowledged.
    assert!(
        last_read < acked.len() / 2,
        "little was compacted: {last_read} of {} records left",
        acked.len()
    );
}

// the checker flags a moved record, a lost latest value and a value never acknowledged
#[test]
fn checker_flags_each_problem() {
    let acked: Acked = [
        (0, ("a".to_string(), "1".to_string())),
        (1, ("b".to_string(), "2".to_string())),
        (2, ("a".to_string(), "3".to_string())),
    ]
    .into();
    let record = |o: i64, k: &str, v: &str| (o, k.to_string(), v.to_string());
    assert!(check(&acked, &[record(1, "b", "2"), record(2, "a", "3")]).is_empty());
    // a's latest is missing
    assert_eq!(
        check(&acked, &[record(0, "a", "1"), record(1, "b", "2")]).len(),
        1
    );
    // b moved to offset 3
    assert!(!check(&acked, &[record(2, "a", "3"), record(3, "b", "2")]).is_empty());
    // c was never acknowledged
    assert!(!check(
        &acked,
        &[
            record(1, "b", "2"),
            record(2, "a", "3"),
            record(5, "c", "9")
        ]
    )
    .is_empty());
}

// `herald broker` refuses a second cleaner thread and a key map under 1 MiB, naming the config
#[test]
fn cleaner_flags_refuse_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value, name) in [
        ("--log-cleaner-threads", "2", "log.cleaner.threads"),
        (
            "--log-cleaner-dedupe-buffer-size",
            "65536",
            "log.cleaner.dedupe.buffer.size",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["broker", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args([flag, value])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{flag} {value}: broker started");
        assert!(stderr.contains(name), "{flag} {value}: {stderr}");
    }
}
