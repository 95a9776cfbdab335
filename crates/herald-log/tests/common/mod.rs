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
        ..LogConfig::default()
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

/// A record of a keyed test batch: key and value, `None` for null (a null value is a tombstone).
pub type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

/// What a keyed test batch looks like.
#[derive(Debug, Clone)]
pub struct KeyedSpec {
    pub records: Vec<KeyValue>,
    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub codec: i16,
    pub base_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl Default for KeyedSpec {
    fn default() -> Self {
        Self {
            records: Vec::new(),
            codec: 0,
            base_timestamp: 1_700_000_000_000,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
        None => put_varint(out, -1),
    }
}

/// A valid v2 batch of keyed records, compressed with `spec.codec`. Record `i` has timestamp
/// `base_timestamp + i` and one header `h` = `i`.
pub fn keyed(spec: &KeyedSpec) -> Vec<u8> {
    let mut records = Vec::new();
    for (i, (key, value)) in spec.records.iter().enumerate() {
        let mut body = vec![0u8];
        put_varint(&mut body, i as i64);
        put_varint(&mut body, i as i64);
        put_bytes(&mut body, key.as_deref());
        put_bytes(&mut body, value.as_deref());
        put_varint(&mut body, 1);
        put_bytes(&mut body, Some(b"h"));
        put_bytes(&mut body, Some(i.to_string().as_bytes()));
        put_varint(&mut records, body.len() as i64);
        records.extend(body);
    }
    let section =
        herald_log::codec::compress(spec.codec, herald_log::codec::Framing::Plain, &records)
            .unwrap();
    let n = spec.records.len() as i32;
    let mut after_crc = Vec::new();
    after_crc.extend_from_slice(&spec.codec.to_be_bytes());
    after_crc.extend_from_slice(&(n - 1).to_be_bytes());
    after_crc.extend_from_slice(&spec.base_timestamp.to_be_bytes());
    after_crc.extend_from_slice(&(spec.base_timestamp + i64::from(n - 1)).to_be_bytes());
    after_crc.extend_from_slice(&spec.producer_id.to_be_bytes());
    after_crc.extend_from_slice(&spec.producer_epoch.to_be_bytes());
    after_crc.extend_from_slice(&spec.base_sequence.to_be_bytes());
    after_crc.extend_from_slice(&n.to_be_bytes());
    after_crc.extend_from_slice(&section);
    let mut out = Vec::new();
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&((9 + after_crc.len()) as i32).to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes());
    out.push(2);
    out.extend_from_slice(&crc32c::crc32c(&after_crc).to_be_bytes());
    out.extend(after_crc);
    out
}

/// `key-{k}` / `value-{k}-{v}` as a record.
pub fn kv(key: usize, version: usize) -> KeyValue {
    (
        Some(format!("key-{key}").into_bytes()),
        Some(format!("value-{key}-{version}").into_bytes()),
    )
}

/// A tombstone for `key-{k}`.
pub fn tombstone(key: usize) -> KeyValue {
    (Some(format!("key-{key}").into_bytes()), None)
}

/// One record as read back: offset, timestamp, key, value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// Every record of the log, read batch by batch from the log start (CRCs checked, records decompressed).
pub fn read_records(log: &Log) -> Vec<ReadRecord> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let bytes = log.read(next, 256 * 1024).unwrap();
        let batches = split_batches(&bytes).unwrap();
        assert!(!batches.is_empty(), "read at {next} returned nothing");
        for (h, range) in batches {
            assert!(h.last_offset() >= next, "batch before the offset asked for");
            let section = &bytes[range][herald_log::RECORD_BATCH_HEADER_BYTES..];
            let (plain, _) = herald_log::codec::decompress(h.compression(), section).unwrap();
            let mut count = 0;
            for r in herald_log::cleaner::records::Records::new(&plain) {
                let r = r.unwrap();
                count += 1;
                out.push(ReadRecord {
                    offset: h.base_offset + i64::from(r.offset_delta),
                    timestamp: h.base_timestamp + r.timestamp_delta,
                    key: r.key.map(<[u8]>::to_vec),
                    value: r.value.map(<[u8]>::to_vec),
                });
            }
            assert_eq!(
                count, h.records_count,
                "records count of batch at {}",
                h.base_offset
            );
            next = h.last_offset() + 1;
        }
    }
    out
}

/// Latest record per key among `records` (what a compacted log must return for keys below the
/// active segment, plus anything newer).
pub fn latest_per_key(records: &[ReadRecord]) -> std::collections::BTreeMap<Vec<u8>, ReadRecord> {
    let mut latest = std::collections::BTreeMap::new();
    for r in records {
        if let Some(key) = &r.key {
            latest.insert(key.clone(), r.clone());
        }
    }
    latest
}

/// A compacted config: small segments, no time retention, tombstones kept `delete_retention_ms`.
pub fn compact_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        cleanup_policy: herald_log::CleanupPolicy::Compact,
        delete_retention_ms: 1000,
        min_cleanable_dirty_ratio: 0.0,
        ..small_config(segment_bytes)
    }
}
