//! Record-level reading of one stored record batch v2: the offset and timestamp of each record, for
//! ListOffsets (Kafka answers the first *record* at or after a timestamp, and the first record that
//! carries the largest timestamp, not the batch that holds it).
//!
//! After the 61-byte header come `recordsCount` records, compressed together by the batch's codec
//! (`codec.rs`). Each record is `length varint | attributes i8 | timestampDelta varlong |
//! offsetDelta varint | key | value | headers`; only the leading fields are decoded and the rest is
//! skipped without being buffered. Varints are zigzag-encoded, as in protobuf. With the LogAppendTime
//! attribute every record's timestamp is the batch's max timestamp. What this is not: a record
//! decoder for consumers (keys, values and headers are never looked at).

use std::io::{self, BufRead, Read};

use crate::batch::{RecordBatchHeader, ATTRIBUTE_LOG_APPEND_TIME, RECORD_BATCH_HEADER_BYTES};
use crate::codec::decompressed;
use crate::error::LogError;

/// Longest varint of a 32-bit value, in bytes.
const VARINT_BYTES_MAX: u32 = 5;
/// Longest varint of a 64-bit value, in bytes.
const VARLONG_BYTES_MAX: u32 = 10;

/// Where one record sits in the log and when it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPosition {
    pub offset: i64,
    pub timestamp: i64,
}

fn corrupt(reason: &'static str) -> LogError {
    LogError::InvalidRecordBatch { reason }
}

/// The first record of `batch` (one whole batch, header included) for which `wanted` is true.
pub fn find_record(
    batch: &[u8],
    mut wanted: impl FnMut(RecordPosition) -> bool,
) -> Result<Option<RecordPosition>, LogError> {
    let header = RecordBatchHeader::parse(batch)?;
    let body = batch
        .get(RECORD_BATCH_HEADER_BYTES..header.total_bytes())
        .ok_or(corrupt("batch shorter than its length"))?;
    let mut reader = decompressed(header.compression(), body)?;
    let log_append_time = header.attributes & ATTRIBUTE_LOG_APPEND_TIME != 0;
    for _ in 0..header.records_count.max(0) {
        let (offset_delta, timestamp_delta) = next_record(&mut reader)?;
        let record = RecordPosition {
            offset: header.base_offset + offset_delta,
            timestamp: if log_append_time {
                header.max_timestamp
            } else {
                header.base_timestamp.saturating_add(timestamp_delta)
            },
        };
        if wanted(record) {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// Reads one record's (offsetDelta, timestampDelta) and skips the rest of it.
fn next_record(reader: &mut dyn BufRead) -> Result<(i64, i64), LogError> {
    let mut counted = Counted { reader, read: 0 };
    let length = read_varint(&mut counted, VARINT_BYTES_MAX)?;
    let start = counted.read;
    let mut attributes = [0u8; 1];
    counted
        .read_exact(&mut attributes)
        .map_err(|_| corrupt("truncated record"))?;
    let timestamp_delta = read_varint(&mut counted, VARLONG_BYTES_MAX)?;
    let offset_delta = read_varint(&mut counted, VARINT_BYTES_MAX)?;
    let rest = u64::try_from(length)
        .ok()
        .and_then(|length| length.checked_sub(counted.read - start))
        .ok_or(corrupt("record length shorter than its fields"))?;
    let skipped = io::copy(&mut (&mut *counted.reader).take(rest), &mut io::sink())
        .map_err(|_| corrupt("records do not decompress"))?;
    if skipped != rest {
        return Err(corrupt("truncated record"));
    }
    Ok((offset_delta, timestamp_delta))
}

/// A reader that counts the bytes it has handed out.
struct Counted<'a> {
    reader: &'a mut dyn BufRead,
    read: u64,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads a zigzag varint of at most `max_bytes` bytes.
fn read_varint(reader: &mut impl Read, max_bytes: u32) -> Result<i64, LogError> {
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        let mut byte = [0u8; 1];
        reader
            .read_exact(&mut byte)
            .map_err(|_| corrupt("truncated record"))?;
        value |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    Err(corrupt("varint too long"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn varint(value: i64, out: &mut Vec<u8>) {
        let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
        loop {
            let byte = (zigzag & 0x7f) as u8;
            zigzag >>= 7;
            if zigzag == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// An uncompressed batch at `base_offset` whose records have these timestamps.
    fn batch(base_offset: i64, timestamps: &[i64]) -> Vec<u8> {
        let base_timestamp = timestamps[0];
        let mut records = Vec::new();
        for (i, ts) in timestamps.iter().enumerate() {
            let mut record = vec![0u8]; // attributes
            varint(ts - base_timestamp, &mut record);
            varint(i as i64, &mut record);
            varint(-1, &mut record); // null key
            varint(3, &mut record);
            record.extend_from_slice(b"abc");
            varint(0, &mut record); // no headers
            varint(record.len() as i64, &mut records);
            records.extend_from_slice(&record);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&base_offset.to_be_bytes());
        let length = (RECORD_BATCH_HEADER_BYTES - 12 + records.len()) as i32;
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
        out.push(2); // magic
        out.extend_from_slice(&0u32.to_be_bytes()); // crc (not checked here)
        out.extend_from_slice(&0i16.to_be_bytes()); // attributes
        out.extend_from_slice(&(timestamps.len() as i32 - 1).to_be_bytes());
        out.extend_from_slice(&base_timestamp.to_be_bytes());
        out.extend_from_slice(&timestamps.iter().max().unwrap().to_be_bytes());
        out.extend_from_slice(&(-1i64).to_be_bytes());
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out.extend_from_slice(&(-1i32).to_be_bytes());
        out.extend_from_slice(&(timestamps.len() as i32).to_be_bytes());
        out.extend_from_slice(&records);
        out
    }

    // The first record at or after a timestamp is found inside the batch, with its own offset.
    #[test]
    fn finds_the_first_record_at_or_after_a_timestamp() {
        let batch = batch(10, &[1234, 999_999_999_999, 5]);
        let found = find_record(&batch, |r| r.timestamp >= 999_999_999_999).unwrap();
        assert_eq!(
            found,
            Some(RecordPosition {
                offset: 11,
                timestamp: 999_999_999_999
            })
        );
        assert_eq!(
            find_record(&batch, |r| r.timestamp > 999_999_999_999).unwrap(),
            None
        );
    }

    // A batch cut short is an error, not a panic or a wrong answer.
    #[test]
    fn truncated_records_are_an_error() {
        let mut batch = batch(0, &[1, 2, 3]);
        batch.truncate(batch.len() - 2);
        let length = (batch.len() - 12) as i32;
        batch[8..12].copy_from_slice(&length.to_be_bytes());
        assert!(find_record(&batch, |_| false).is_err());
    }
}
