//! Torn and corrupt files of a stopped broker, end to end through the protocol.
//!
//! Each case writes a known workload (raw record batches over several small segments, plus group
//! offset commits), stops the broker, damages one kind of file with a seeded RNG (truncation, garbage
//! overwrite, bit flips, appended garbage), starts the broker again and reads everything back twice: a
//! raw Fetch loop that checks every served batch's CRC32C and compares its bytes with what was produced
//! at that offset, and rdkafka with `check.crcs=true`. The broker must start, must never serve a batch
//! that fails its CRC or differs from what was produced at its offset, must keep every record when only
//! a rebuildable file (index, time index, checkpoint, producer snapshot) was damaged, must cut a damaged
//! active segment back to its last valid batch and append after it, and must report committed offsets
//! that were really committed (or none). Not here: herald-log's own recovery unit tests.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Buf, Bytes};
use common::{consumer_config, create_topic, raw_produce, record_batch, RawClient, TestBroker};
use herald_log::batch::validate_batch;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "damaged";
const GROUP: &str = "damaged-group";
/// Batches produced per case, each of `RECORDS_PER_BATCH` records (so batch k holds offsets 3k..3k+2).
const BATCHES: usize = 30;
const RECORDS_PER_BATCH: usize = 3;
/// Small segments, so that a case has several sealed segments and an active one; with the padding
/// (batches of ~1.3 KiB) each segment also gets entries in its sparse indexes (one per 4 KiB).
const SEGMENT_BYTES: &str = "16384";
const VALUE_PAD_BYTES: usize = 400;
/// Group offset commits written per case (offsets 10, 20, ...).
const COMMITS: i64 = 8;
/// Seeds run per kind of file (`CORRUPT_SEEDS=n` runs more); seed % 4 picks the kind of damage, so
/// each kind of damage runs at least once.
const SEEDS_DEFAULT: u64 = 4;
/// The broker patches baseOffset (bytes 0-7) and partitionLeaderEpoch (12-15); from byte 16 on a stored
/// batch must equal the produced one.
const PATCHED_PREFIX_BYTES: usize = 16;
const WAIT: Duration = Duration::from_secs(20);

/// Which file a case damages.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    ActiveSegment,
    SealedSegment,
    OffsetIndex,
    TimeIndex,
    Checkpoints,
    CommittedOffsets,
}

/// What the workload wrote.
struct Workload {
    batches: Vec<Bytes>,
}

impl Workload {
    fn value(batch: usize, record: usize) -> String {
        format!("b{batch:03}-r{record}-{}", "x".repeat(VALUE_PAD_BYTES))
    }

    fn records(&self) -> i64 {
        (self.batches.len() * RECORDS_PER_BATCH) as i64
    }
}

async fn write_workload(broker: &TestBroker) -> Workload {
    create_topic(
        &broker.bootstrap(),
        TOPIC,
        1,
        &[("segment.bytes", SEGMENT_BYTES), ("retention.ms", "-1")],
    )
    .await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let mut batches = Vec::new();
    for k in 0..BATCHES {
        let values: Vec<String> = (0..RECORDS_PER_BATCH)
            .map(|i| Workload::value(k, i))
            .collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let batch = record_batch(-1, -1, -1, &values, common_now_ms());
        let response = raw_produce(&mut raw, TOPIC, 0, batch.clone()).await;
        assert_eq!(response.error_code, 0, "produce batch {k}");
        assert_eq!(response.base_offset, (k * RECORDS_PER_BATCH) as i64);
        batches.push(batch);
    }
    let consumer: BaseConsumer = consumer_config(&broker.bootstrap())
        .set("group.id", GROUP)
        .create()
        .unwrap();
    for i in 1..=COMMITS {
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(TOPIC, 0, Offset::Offset(i * 10))
            .unwrap();
        consumer.commit(&offsets, CommitMode::Sync).unwrap();
    }
    Workload { batches }
}

fn common_now_ms() -> i64 {
    herald_broker::clock::now_ms()
}

/// The files of `target` that exist, sorted by name.
fn candidates(broker: &TestBroker, target: Target) -> Vec<PathBuf> {
    let partition = broker.partition_dir(TOPIC, 0);
    let with_suffix = |dir: &Path, suffix: &str| -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect();
        files.sort();
        files
    };
    let mut logs = with_suffix(&partition, ".log");
    assert!(
        logs.len() >= 3,
        "workload made only {} segments",
        logs.len()
    );
    match target {
        Target::ActiveSegment => vec![logs.pop().unwrap()],
        Target::SealedSegment => {
            logs.pop();
            logs
        }
        Target::OffsetIndex => with_suffix(&partition, ".index"),
        Target::TimeIndex => with_suffix(&partition, ".timeindex"),
        Target::Checkpoints => ["recovery-point-checkpoint", "producer-state-snapshot"]
            .iter()
            .map(|name| partition.join(name))
            .filter(|p| p.exists())
            .collect(),
        // The internal topic's segments (one partition by default).
        Target::CommittedOffsets => {
            with_suffix(&broker.partition_dir("__consumer_offsets", 0), ".log")
        }
    }
}

/// Damages one file of `target`; returns what was done, for failure messages.
fn damage(broker: &TestBroker, target: Target, seed: u64, rng: &mut StdRng) -> String {
    let files = candidates(broker, target);
    assert!(!files.is_empty(), "no file to damage for {target:?}");
    let path = &files[rng.gen_range(0..files.len())];
    let mut bytes = std::fs::read(path).unwrap();
    let len = bytes.len();
    let what = match seed % 4 {
        0 => {
            let keep = rng.gen_range(0..len.max(1));
            bytes.truncate(keep);
            format!("truncated to {keep} of {len} bytes")
        }
        1 if len > 0 => {
            let at = rng.gen_range(0..len);
            let n = rng.gen_range(1..=64).min(len - at);
            rng.fill(&mut bytes[at..at + n]);
            format!("{n} garbage bytes at {at} of {len}")
        }
        2 if len > 0 => {
            let flips = rng.gen_range(1..=4);
            let mut at = Vec::new();
            for _ in 0..flips {
                let bit = rng.gen_range(0..len * 8);
                bytes[bit / 8] ^= 1 << (bit % 8);
                at.push(bit);
            }
            format!("flipped bits {at:?} of {len} bytes")
        }
        _ => {
            let n = rng.gen_range(1..=200);
            let mut garbage = vec![0u8; n];
            rng.fill(&mut garbage[..]);
            bytes.extend_from_slice(&garbage);
            format!("appended {n} garbage bytes to {len}")
        }
    };
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap();
    file.write_all(&bytes).unwrap();
    file.sync_all().unwrap();
    format!("{}: {what}", path.file_name().unwrap().to_string_lossy())
}

/// What a raw Fetch loop from offset 0 read: the next offset it wanted, the high watermark, and the
/// error code that stopped it early (if any).
#[derive(Debug)]
struct RawRead {
    end: i64,
    high_watermark: i64,
    error_code: i16,
    gaps: Vec<(i64, i64)>,
}

async fn fetch_once(raw: &mut RawClient, offset: i64) -> (i16, i64, Bytes) {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let mut response: FetchResponse = raw.request(ApiKey::Fetch, 4, &request).await;
    let partition = response.responses.remove(0).partitions.remove(0);
    let records = partition.records.unwrap_or_default();
    (partition.error_code, partition.high_watermark, records)
}

/// Reads every batch with raw Fetch; each must pass its CRC and equal the produced batch at its offset.
async fn raw_read_all(broker: &TestBroker, workload: &Workload, label: &str) -> RawRead {
    let mut raw = RawClient::connect(broker.addr()).await;
    let mut read = RawRead {
        end: 0,
        high_watermark: 0,
        error_code: 0,
        gaps: Vec::new(),
    };
    loop {
        let (error_code, high_watermark, mut records) = fetch_once(&mut raw, read.end).await;
        read.high_watermark = high_watermark;
        if error_code != 0 {
            read.error_code = error_code;
            return read;
        }
        if records.is_empty() {
            return read;
        }
        while !records.is_empty() {
            let header = validate_batch(&records)
                .unwrap_or_else(|e| panic!("{label}: served a bad batch at {}: {e}", read.end));
            let batch = records.split_to(header.total_bytes());
            let k = usize::try_from(header.base_offset).unwrap() / RECORDS_PER_BATCH;
            let produced = workload.batches.get(k);
            assert!(
                header.base_offset % RECORDS_PER_BATCH as i64 == 0
                    && produced.is_some_and(|p| p[PATCHED_PREFIX_BYTES..]
                        == batch[PATCHED_PREFIX_BYTES..]),
                "{label}: batch at {} differs from what was produced there",
                header.base_offset
            );
            if header.base_offset > read.end {
                read.gaps.push((read.end, header.base_offset));
            }
            read.end = header.last_offset() + 1;
        }
    }
}

/// Reads offsets `0..end` with rdkafka (`check.crcs=true`) and compares every value.
async fn rdkafka_read(broker: &TestBroker, end: i64, label: &str) -> usize {
    let consumer: StreamConsumer = consumer_config(&broker.bootstrap())
        .set("check.crcs", "true")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut read = 0;
    let mut next = 0;
    while next < end {
        let message = tokio::time::timeout(WAIT, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("{label}: rdkafka read stalled at {next} of {end}"))
            .unwrap_or_else(|e| panic!("{label}: rdkafka read failed at {next}: {e}"));
        let offset = message.offset();
        let (k, i) = (
            offset as usize / RECORDS_PER_BATCH,
            offset as usize % RECORDS_PER_BATCH,
        );
        let value = String::from_utf8_lossy(message.payload().unwrap_or_default());
        assert_eq!(value, Workload::value(k, i), "{label}: value at {offset}");
        next = offset + 1;
        read += 1;
    }
    read
}

/// The group's committed offset after the restart: one that was committed, or none.
async fn check_committed(broker: &TestBroker, label: &str) {
    let consumer: BaseConsumer = consumer_config(&broker.bootstrap())
        .set("group.id", GROUP)
        .create()
        .unwrap();
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition(TOPIC, 0);
    let committed = tokio::task::spawn_blocking(move || {
        consumer
            .committed_offsets(wanted, Duration::from_secs(10))
            .unwrap()
    })
    .await
    .unwrap();
    let offset = committed.find_partition(TOPIC, 0).unwrap().offset();
    match offset {
        Offset::Invalid => {}
        Offset::Offset(o) => assert!(
            o % 10 == 0 && (10..=COMMITS * 10).contains(&o),
            "{label}: committed offset {o} was never committed"
        ),
        other => panic!("{label}: unexpected committed offset {other:?}"),
    }
}

/// One case: workload, clean stop, damage, start, check everything that must hold for `target`.
async fn run_case(target: Target, seed: u64) {
    let mut broker = TestBroker::start().await;
    let workload = write_workload(&broker).await;
    broker.stop().await;
    let mut rng = StdRng::seed_from_u64(seed);
    let what = damage(&broker, target, seed, &mut rng);
    let label = format!("{target:?} seed {seed} ({what})");
    broker.restart().await; // panics if the broker does not start

    let read = raw_read_all(&broker, &workload, &label).await;
    let storage_errors = [
        ResponseError::KafkaStorageError.code(),
        ResponseError::CorruptMessage.code(),
    ];
    match target {
        Target::SealedSegment => {
            // Below the recovery point the broker trusts the files at start; damage there must
            // surface as an error (or a gap where bytes vanished), never as served bad data.
            assert!(
                read.error_code == 0 || storage_errors.contains(&read.error_code),
                "{label}: {read:?}"
            );
        }
        Target::ActiveSegment => {
            assert_eq!(read.error_code, 0, "{label}: {read:?}");
            assert!(read.gaps.is_empty(), "{label}: {read:?}");
            assert_eq!(read.end, read.high_watermark, "{label}: {read:?}");
            assert!(read.end <= workload.records(), "{label}: {read:?}");
        }
        _ => {
            // Only rebuildable files were damaged: nothing may be lost.
            assert_eq!(read.error_code, 0, "{label}: {read:?}");
            assert!(read.gaps.is_empty(), "{label}: {read:?}");
            assert_eq!(read.end, workload.records(), "{label}: {read:?}");
            assert_eq!(read.high_watermark, workload.records(), "{label}: {read:?}");
        }
    }
    if read.gaps.is_empty() {
        rdkafka_read(&broker, read.end, &label).await;
    }
    check_committed(&broker, &label).await;
    if target != Target::SealedSegment {
        // The log accepts appends right after what survived.
        let mut raw = RawClient::connect(broker.addr()).await;
        let batch = record_batch(-1, -1, -1, &["after-restart"], common_now_ms());
        let response = raw_produce(&mut raw, TOPIC, 0, batch).await;
        assert_eq!(response.error_code, 0, "{label}");
        assert_eq!(response.base_offset, read.high_watermark, "{label}");
        let (error_code, _, mut records) = fetch_once(&mut raw, read.high_watermark).await;
        assert_eq!(error_code, 0, "{label}");
        let header = validate_batch(&records).unwrap();
        assert_eq!(header.base_offset, read.high_watermark, "{label}");
        records.advance(header.total_bytes());
    }
    println!(
        "{label}: served {} of {} records",
        read.end,
        workload.records()
    );
    broker.stop().await;
}

async fn run_seeds(target: Target) {
    let seeds = std::env::var("CORRUPT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEEDS_DEFAULT);
    for seed in 1..=seeds {
        run_case(target, seed).await;
    }
}

// A damaged active segment is cut back to its last valid batch; what is served is intact; appends go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_active_segment_recovers_to_last_valid_batch() {
    run_seeds(Target::ActiveSegment).await;
}

// Damage in a sealed segment is never served as data: reads stop with a storage error instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_sealed_segment_is_never_served() {
    run_seeds(Target::SealedSegment).await;
}

// A damaged offset index is rebuilt: every record is still served, at its own offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_offset_index_loses_nothing() {
    run_seeds(Target::OffsetIndex).await;
}

// A damaged time index is rebuilt: every record is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_time_index_loses_nothing() {
    run_seeds(Target::TimeIndex).await;
}

// A damaged recovery-point checkpoint or producer snapshot costs a rescan, not data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_checkpoints_lose_nothing() {
    run_seeds(Target::Checkpoints).await;
}

// A damaged committed-offsets log yields offsets that were really committed (or none), and data stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_committed_offsets_log_yields_real_commits() {
    run_seeds(Target::CommittedOffsets).await;
}
