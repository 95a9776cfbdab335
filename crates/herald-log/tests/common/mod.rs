//! Test helpers: builds real record-batch v2 bytes (varint-encoded records, correct CRC32C), small
//! configs and a reader that splits what `Log::read` returns back into headers.

#![allow(clippy::unwrap_used, dead_code)]

use herald_log::batch::split_batches;
use herald_log::{Log, LogConfig, RecordBatchHeader};

/// What one test batch looks like.
#[derive(Debug, Clone)]
pub struct BatchSpec {
    pub records: usize,
    pub value_bytes: usize,
    pub base_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl Default for BatchSpec {
    fn default() -> Self {
        Self {
            records: 1,
            value_bytes: 10,
            base_timestamp: 1_700_000_000_000,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }
}

fn put_varint(out: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn record(offset_delta: i32, timestamp_delta: i64, value: &[u8]) -> Vec<u8> {
    let mut body = vec![0u8]; // attributes
    put_varint(&mut body, timestamp_delta);
    put_varint(&mut body, i64::from(offset_delta));
    put_varint(&mut body, -1); // null key
    put_varint(&mut body, value.len() as i64);
    body.extend_from_slice(value);
    put_varint(&mut body, 0); // no headers
    let mut out = Vec::new();
    put_varint(&mut out, body.len() as i64);
    out.extend_from_slice(&body);
    out
}

/// A valid v2 batch (base offset 0) as a producer would send it. Record `i` has timestamp
/// `base_timestamp + i`.
pub fn build(spec: &BatchSpec) -> Vec<u8> {
    let deltas: Vec<i64> = (0..spec.records as i64).collect();
    build_with_deltas(spec, &deltas)
}

/// A valid v2 batch whose record `i` has timestamp `base_timestamp + deltas[i]`.
fn build_with_deltas(spec: &BatchSpec, deltas: &[i64]) -> Vec<u8> {
    let mut records = Vec::new();
    for (i, delta) in deltas.iter().enumerate() {
        let mut value = format!("value-{i}-").into_bytes();
        value.resize(spec.value_bytes.max(value.len()), b'x');
        records.extend(record(i as i32, *delta, &value));
    }
    let last_offset_delta = deltas.len() as i32 - 1;
    let max_delta = deltas.iter().copied().max().unwrap_or(0);
    let mut after_crc = Vec::new();
    after_crc.extend_from_slice(&0i16.to_be_bytes()); // attributes
    after_crc.extend_from_slice(&last_offset_delta.to_be_bytes());
    after_crc.extend_from_slice(&spec.base_timestamp.to_be_bytes());
    after_crc.extend_from_slice(&(spec.base_timestamp + max_delta).to_be_bytes());
    after_crc.extend_from_slice(&spec.producer_id.to_be_bytes());
    after_crc.extend_from_slice(&spec.producer_epoch.to_be_bytes());
    after_crc.extend_from_slice(&spec.base_sequence.to_be_bytes());
    after_crc.extend_from_slice(&(deltas.len() as i32).to_be_bytes());
    after_crc.extend_from_slice(&records);
    let crc = crc32c::crc32c(&after_crc);
    let batch_length = (4 + 1 + 4 + after_crc.len()) as i32;
    let mut out = Vec::new();
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&batch_length.to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes()); // partitionLeaderEpoch as sent by producers
    out.push(2);
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&after_crc);
    out
}

/// A plain (non-idempotent) batch of `records` records starting at `base_timestamp`.
pub fn batch(records: usize, base_timestamp: i64) -> Vec<u8> {
    build(&BatchSpec {
        records,
        base_timestamp,
        ..BatchSpec::default()
    })
}

/// A plain batch with one record per timestamp, in that order (the first is the base timestamp).
pub fn batch_with_timestamps(timestamps: &[i64]) -> Vec<u8> {
    let base_timestamp = timestamps[0];
    let deltas: Vec<i64> = timestamps.iter().map(|ts| ts - base_timestamp).collect();
    let spec = BatchSpec {
        records: timestamps.len(),
        base_timestamp,
        ..BatchSpec::default()
    };
    build_with_deltas(&spec, &deltas)
}

/// A batch of an idempotent producer.
pub fn idempotent_batch(
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    records: usize,
) -> Vec<u8> {
    build(&BatchSpec {
        records,
        producer_id,
        producer_epoch,
        base_sequence,
        ..BatchSpec::default()
    })
}

/// A config with small segments and dense indexes so that tests exercise rolling and index lookups.
pub fn small_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        segment_ms: None,
        retention_ms: None,
        retention_bytes: None,
        index_interval_bytes: 100,
        max_message_bytes: 1_000_000,
    }
}

/// Headers of the batches in `bytes` (checks every CRC on the way).
pub fn headers(bytes: &[u8]) -> Vec<RecordBatchHeader> {
    split_batches(bytes)
        .unwrap()
        .into_iter()
        .map(|(h, _)| h)
        .collect()
}

/// Reads every batch from `from` to the log end, one read at a time, and returns their headers.
pub fn read_all(log: &Log, from: i64) -> Vec<RecordBatchHeader> {
    let mut out = Vec::new();
    let mut next = from;
    while next < log.log_end_offset() {
        let bytes = log.read(next, 64 * 1024).unwrap();
        let hs = headers(&bytes);
        assert!(
            !hs.is_empty(),
            "read at {next} returned nothing before the log end"
        );
        next = hs.last().unwrap().last_offset() + 1;
        out.extend(hs);
    }
    out
}

/// The path of the segment file with `base_offset` in `dir`.
pub fn segment_file(dir: &std::path::Path, base_offset: i64, suffix: &str) -> std::path::PathBuf {
    dir.join(format!("{base_offset:020}.{suffix}"))
}
