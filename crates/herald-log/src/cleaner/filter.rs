//! Which records of one batch survive cleaning, and the batch written in its place.
//!
//! A record survives if it has a key and its offset is at least the latest offset the [`OffsetMap`]
//! holds for that key (keys not in the map were not seen in the dirty section: they survive too). A
//! tombstone (null value) survives only until its batch's delete horizon: the first clean of a batch
//! holding one sets the horizon to `now + delete.retention.ms` (KIP-534: attribute bit 0x40, the horizon
//! stored as `baseTimestamp`, record timestamp deltas rewritten so that every record keeps its
//! timestamp). Keyless records are dropped, as Kafka's cleaner drops them.
//!
//! A batch that keeps every record (and needs no horizon) is kept byte for byte. A batch that keeps some
//! is rewritten with its own codec, base offset, last offset delta, producer id, epoch and base sequence,
//! so offsets and idempotent-producer sequences are unchanged. A batch that keeps none is dropped,
//! unless it is its producer's last batch in the log: then an empty batch (header only) stays, so that
//! the producer's last sequence survives a restart. Control and transactional batches are kept as they
//! are (herald has no transaction index to tell committed from aborted data yet).

use std::collections::HashMap;

use crate::batch::{RecordBatchHeader, ATTRIBUTE_LOG_APPEND_TIME, RECORD_BATCH_HEADER_BYTES};
use crate::cleaner::offset_map::{digest, OffsetMap};
use crate::cleaner::records::{
    encode_batch, encode_record, BatchFields, Record, Records, ATTRIBUTE_DELETE_HORIZON,
};
use crate::codec::{compress, decompress};
use crate::error::LogError;

/// What a cleaning round knows when it filters a batch.
#[derive(Debug)]
pub(crate) struct FilterContext<'a> {
    pub map: &'a OffsetMap,
    pub now_ms: i64,
    pub delete_retention_ms: u64,
    /// Producer id -> last offset of its last batch in the log.
    pub producer_last_offsets: &'a HashMap<i64, i64>,
}

/// The outcome for one batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Filtered {
    /// Keep the stored bytes.
    Keep,
    /// Nothing of it stays.
    Drop,
    /// Write these bytes (a whole batch with a fresh CRC) instead.
    Rewrite(Vec<u8>),
}

/// The filtered batch plus the delete horizon of tombstones it kept, if any.
#[derive(Debug)]
pub(crate) struct FilterOutcome {
    pub filtered: Filtered,
    pub records_read: usize,
    pub records_kept: usize,
    pub kept_tombstone_horizon_ms: Option<i64>,
}

fn delete_horizon(header: &RecordBatchHeader) -> Option<i64> {
    (header.attributes & ATTRIBUTE_DELETE_HORIZON != 0).then_some(header.base_timestamp)
}

/// Whether `record`, whose latest offset in the map is `latest`, survives.
fn retained(
    record: &Record<'_>,
    base_offset: i64,
    latest: Option<i64>,
    horizon: Option<i64>,
    ctx: &FilterContext<'_>,
) -> bool {
    if record.key.is_none() {
        return false;
    }
    let offset = base_offset + i64::from(record.offset_delta);
    let latest = latest.is_none_or(|found| offset >= found);
    let tombstone_alive = horizon.is_none_or(|h| ctx.now_ms < h);
    latest && (record.value.is_some() || tombstone_alive)
}

/// Filters the stored batch `bytes` (CRC already checked) whose header is `header`.
pub(crate) fn filter_batch(
    header: &RecordBatchHeader,
    bytes: &[u8],
    ctx: &FilterContext<'_>,
) -> Result<FilterOutcome, LogError> {
    let keep_all = |records_read| FilterOutcome {
        filtered: Filtered::Keep,
        records_read,
        records_kept: records_read,
        kept_tombstone_horizon_ms: None,
    };
    if header.is_control() || header.is_transactional() {
        return Ok(keep_all(header.records_count.max(0) as usize));
    }
    let codec = header.compression();
    let (section, framing) = decompress(codec, &bytes[RECORD_BATCH_HEADER_BYTES..])?;
    let horizon = delete_horizon(header);
    // Two phases: parse every record and hash its key, then look all keys up in one tight loop. The
    // lookups are independent random reads of a table far larger than the caches, so the CPU overlaps
    // their misses instead of waiting for each in turn between two records' parsing.
    let capacity = header.records_count.clamp(0, 4096) as usize;
    let mut records: Vec<Record<'_>> = Vec::with_capacity(capacity);
    let mut digests: Vec<u128> = Vec::with_capacity(capacity);
    for record in Records::new(&section) {
        let record = record?;
        digests.push(record.key.map_or(0, digest));
        records.push(record);
    }
    let latest: Vec<Option<i64>> = digests.iter().map(|d| ctx.map.get(*d)).collect();
    let records_read = records.len();
    let kept: Vec<Record<'_>> = records
        .into_iter()
        .zip(latest)
        .filter(|(record, latest)| retained(record, header.base_offset, *latest, horizon, ctx))
        .map(|(record, _)| record)
        .collect();
    if records_read != header.records_count.max(0) as usize {
        return Err(LogError::InvalidRecordBatch {
            reason: "records count does not match the records stored",
        });
    }
    let has_tombstone = kept.iter().any(|r| r.value.is_none());
    let new_horizon = match horizon {
        Some(h) => Some(h),
        None if has_tombstone => Some(
            ctx.now_ms
                .saturating_add(i64::try_from(ctx.delete_retention_ms).unwrap_or(i64::MAX)),
        ),
        None => None,
    };
    let outcome = |filtered| FilterOutcome {
        filtered,
        records_read,
        records_kept: kept.len(),
        kept_tombstone_horizon_ms: new_horizon.filter(|_| has_tombstone),
    };
    if kept.len() == records_read && new_horizon == horizon {
        return Ok(outcome(Filtered::Keep));
    }
    if kept.is_empty() {
        let last_of_producer = header.has_producer_id()
            && ctx.producer_last_offsets.get(&header.producer_id) == Some(&header.last_offset());
        if !last_of_producer {
            return Ok(outcome(Filtered::Drop));
        }
        return Ok(outcome(Filtered::Rewrite(empty_batch(header))));
    }
    let rewritten = rewrite(header, &kept, new_horizon, framing)?;
    Ok(outcome(Filtered::Rewrite(rewritten)))
}

/// A header-only batch that keeps the producer's identity and sequence range (Kafka's empty batch).
fn empty_batch(header: &RecordBatchHeader) -> Vec<u8> {
    let fields = BatchFields {
        original: *header,
        // No records, so no codec; the timestamp type and flags stay.
        attributes: header.attributes & !0x07 & !ATTRIBUTE_DELETE_HORIZON,
        base_timestamp: header.max_timestamp,
        max_timestamp: header.max_timestamp,
        records_count: 0,
    };
    let mut out = Vec::with_capacity(RECORD_BATCH_HEADER_BYTES);
    encode_batch(&mut out, &fields, &[]);
    out
}

fn rewrite(
    header: &RecordBatchHeader,
    kept: &[Record<'_>],
    new_horizon: Option<i64>,
    framing: crate::codec::Framing,
) -> Result<Vec<u8>, LogError> {
    let old_base = header.base_timestamp;
    let new_base = new_horizon.unwrap_or(old_base);
    let mut section = Vec::with_capacity(kept.iter().map(|r| r.raw.len() + 4).sum());
    let mut max_timestamp = i64::MIN;
    for record in kept {
        let timestamp = old_base.saturating_add(record.timestamp_delta);
        max_timestamp = max_timestamp.max(timestamp);
        if new_base == old_base {
            section.extend_from_slice(record.raw);
        } else {
            encode_record(&mut section, record, timestamp.saturating_sub(new_base));
        }
    }
    if header.attributes & ATTRIBUTE_LOG_APPEND_TIME != 0 {
        max_timestamp = header.max_timestamp;
    }
    let mut attributes = header.attributes;
    if new_horizon.is_some() {
        attributes |= ATTRIBUTE_DELETE_HORIZON;
    }
    let compressed = compress(header.compression(), framing, &section)?;
    let fields = BatchFields {
        original: *header,
        attributes,
        base_timestamp: new_base,
        max_timestamp,
        records_count: kept.len() as i32,
    };
    let mut out = Vec::with_capacity(RECORD_BATCH_HEADER_BYTES + compressed.len());
    encode_batch(&mut out, &fields, &compressed);
    Ok(out)
}
