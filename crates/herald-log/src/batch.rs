//! The record-batch v2 header: the only part of Kafka's format the log understands.
//!
//! Layout (big-endian), 61 bytes:
//! `baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 | crc u32 | attributes i16 |
//! lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 | producerId i64 | producerEpoch i16 |
//! baseSequence i32 | recordsCount i32`. `batchLength` counts the bytes after itself (offset 12 on);
//! the CRC32C covers the bytes from `attributes` (offset 21) to the end of the batch.

use crate::error::LogError;

/// Size of the fixed record-batch v2 header.
pub const RECORD_BATCH_HEADER_BYTES: usize = 61;
/// Bytes before `batchLength`'s coverage starts: baseOffset (8) + batchLength (4).
pub const LOG_OVERHEAD_BYTES: usize = 12;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
const MAX_TIMESTAMP_OFFSET: usize = 35;

/// Attribute bit: the batch belongs to a transaction.
pub const ATTRIBUTE_TRANSACTIONAL: i16 = 0x10;
/// Attribute bit: the batch is a control batch (transaction markers).
pub const ATTRIBUTE_CONTROL: i16 = 0x20;
/// Attribute bit: timestamps are log-append times.
pub const ATTRIBUTE_LOG_APPEND_TIME: i16 = 0x08;

/// The decoded fixed header of one record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordBatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl RecordBatchHeader {
    /// Decodes the header at the start of `bytes` without checking the CRC. Checks that the bytes hold a
    /// whole header, that the magic is 2 and that `batchLength` is plausible.
    pub fn parse(bytes: &[u8]) -> Result<Self, LogError> {
        if bytes.len() < RECORD_BATCH_HEADER_BYTES {
            return Err(LogError::InsufficientLength {
                needed: RECORD_BATCH_HEADER_BYTES,
                available: bytes.len(),
            });
        }
        let batch_length = i32_at(bytes, 8);
        if batch_length < (RECORD_BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32 {
            return Err(LogError::InvalidBatchLength {
                length: batch_length,
            });
        }
        let magic = bytes[MAGIC_OFFSET] as i8;
        if magic != 2 {
            return Err(LogError::InvalidMagic { magic });
        }
        Ok(Self {
            base_offset: i64_at(bytes, 0),
            batch_length,
            partition_leader_epoch: i32_at(bytes, PARTITION_LEADER_EPOCH_OFFSET),
            magic,
            crc: i32_at(bytes, CRC_OFFSET) as u32,
            attributes: i16_at(bytes, ATTRIBUTES_OFFSET),
            last_offset_delta: i32_at(bytes, 23),
            base_timestamp: i64_at(bytes, 27),
            max_timestamp: i64_at(bytes, MAX_TIMESTAMP_OFFSET),
            producer_id: i64_at(bytes, 43),
            producer_epoch: i16_at(bytes, 51),
            base_sequence: i32_at(bytes, 53),
            records_count: i32_at(bytes, 57),
        })
    }

    /// Total size of the batch on the wire and on disk, header included.
    pub fn total_bytes(&self) -> usize {
        LOG_OVERHEAD_BYTES + self.batch_length as usize
    }

    /// Offset of the last record in the batch.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes & 0x07
    }

    /// Whether the batch was written by an idempotent or transactional producer.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    /// Whether the batch is part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTRIBUTE_TRANSACTIONAL != 0
    }

    /// Whether the batch holds control records.
    pub fn is_control(&self) -> bool {
        self.attributes & ATTRIBUTE_CONTROL != 0
    }
}

/// Parses the header of the batch at the start of `bytes`, checks that the whole batch is present, and
/// checks its CRC32C. Returns the header; the batch is `bytes[..header.total_bytes()]`.
pub fn validate_batch(bytes: &[u8]) -> Result<RecordBatchHeader, LogError> {
    let header = RecordBatchHeader::parse(bytes)?;
    let total = header.total_bytes();
    if bytes.len() < total {
        return Err(LogError::InsufficientLength {
            needed: total,
            available: bytes.len(),
        });
    }
    let computed = crc32c::crc32c(&bytes[ATTRIBUTES_OFFSET..total]);
    if computed != header.crc {
        return Err(LogError::ChecksumMismatch {
            stored: header.crc,
            computed,
        });
    }
    Ok(header)
}

/// Splits a produce request's `records` field (one or more concatenated batches) into validated batches.
/// Fails on the first batch that is truncated, not v2, or has a bad CRC.
pub fn split_batches(
    records: &[u8],
) -> Result<Vec<(RecordBatchHeader, std::ops::Range<usize>)>, LogError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let header = validate_batch(&records[at..])?;
        let end = at + header.total_bytes();
        out.push((header, at..end));
        at = end;
    }
    Ok(out)
}

/// Writes `base_offset` into a batch in place (bytes 0-7). The CRC does not cover it.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Stamps a batch with the broker's clock (LogAppendTime): sets the timestamp-type attribute and
/// `maxTimestamp` to `now_ms`, then recomputes the CRC32C, which covers both.
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    if batch.len() < RECORD_BATCH_HEADER_BYTES {
        return;
    }
    let attributes = i16_at(batch, ATTRIBUTES_OFFSET) | ATTRIBUTE_LOG_APPEND_TIME;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Writes `partitionLeaderEpoch` into a batch in place (bytes 12-15). The CRC does not cover it.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&epoch.to_be_bytes());
}
