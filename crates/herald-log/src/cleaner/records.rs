//! The records inside a record-batch v2: parsing and re-encoding, as far as the cleaner needs.
//!
//! A record is `length varint | attributes i8 | timestampDelta varlong | offsetDelta varint |
//! keyLength varint | key | valueLength varint | value | headerCount varint | headers`, every varint
//! zigzag-encoded as in protobuf; a length of -1 is null (a null value is a tombstone). [`Records`]
//! iterates a decompressed records section, borrowing from it; [`encode_batch`] writes a whole batch
//! with a fresh CRC32C. [`batch_has_keyless_records`] is what a broker calls to refuse keyless records on
//! a compacted topic. Not here: codecs (`codec.rs`), which records to keep (`clean.rs`).

use crate::batch::{
    validate_batch, RecordBatchHeader, LOG_OVERHEAD_BYTES, RECORD_BATCH_HEADER_BYTES,
};
use crate::codec::decompress;
use crate::error::LogError;

/// Offset of the attributes field: the CRC32C covers the batch from here to its end.
const ATTRIBUTES_OFFSET: usize = 21;
/// Attribute bit (KIP-534): `baseTimestamp` holds the delete horizon, after which the batch's tombstones
/// may be removed.
pub const ATTRIBUTE_DELETE_HORIZON: i16 = 0x40;

fn corrupt(reason: &'static str) -> LogError {
    LogError::InvalidRecordBatch { reason }
}

/// One record, borrowing from the decompressed records section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// The header count and headers, as stored (written back verbatim).
    pub headers: &'a [u8],
    /// The whole record, length prefix included (written back verbatim when nothing changes).
    pub raw: &'a [u8],
}

/// Reads one zigzag varint (at most 10 bytes) from `bytes` at `*at`.
pub fn read_varlong(bytes: &[u8], at: &mut usize) -> Result<i64, LogError> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *bytes.get(*at).ok_or_else(|| corrupt("truncated varint"))?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    Err(corrupt("varint longer than 10 bytes"))
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Result<i32, LogError> {
    i32::try_from(read_varlong(bytes, at)?).map_err(|_| corrupt("varint out of i32 range"))
}

/// Appends a zigzag varint.
pub fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A nullable byte string: length varint (-1 = null) then the bytes.
fn read_bytes<'a>(bytes: &'a [u8], at: &mut usize) -> Result<Option<&'a [u8]>, LogError> {
    let len = read_varint(bytes, at)?;
    if len < 0 {
        return Ok(None);
    }
    let end = at
        .checked_add(len as usize)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| corrupt("record field beyond its record"))?;
    let out = &bytes[*at..end];
    *at = end;
    Ok(Some(out))
}

fn parse_record(raw: &[u8], body_start: usize) -> Result<Record<'_>, LogError> {
    let mut at = body_start;
    let attributes = *raw.get(at).ok_or_else(|| corrupt("empty record"))? as i8;
    at += 1;
    let timestamp_delta = read_varlong(raw, &mut at)?;
    let offset_delta = read_varint(raw, &mut at)?;
    let key = read_bytes(raw, &mut at)?;
    let value = read_bytes(raw, &mut at)?;
    let headers_start = at;
    let count = read_varint(raw, &mut at)?;
    if count < 0 {
        return Err(corrupt("negative header count"));
    }
    for _ in 0..count {
        if read_bytes(raw, &mut at)?.is_none() {
            return Err(corrupt("null header key"));
        }
        read_bytes(raw, &mut at)?;
    }
    if at != raw.len() {
        return Err(corrupt("record length does not match its fields"));
    }
    Ok(Record {
        attributes,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers: &raw[headers_start..],
        raw,
    })
}

/// Iterates the records of a decompressed records section.
#[derive(Debug)]
pub struct Records<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Records<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let start = self.at;
        let parsed = read_varint(self.bytes, &mut self.at).and_then(|len| {
            let end = usize::try_from(len)
                .ok()
                .and_then(|len| self.at.checked_add(len))
                .filter(|&end| end <= self.bytes.len())
                .ok_or_else(|| corrupt("record beyond its batch"))?;
            let raw = &self.bytes[start..end];
            let body_start = self.at - start;
            self.at = end;
            parse_record(raw, body_start)
        });
        if parsed.is_err() {
            self.at = self.bytes.len();
        }
        Some(parsed)
    }
}

/// Appends `record` re-encoded with a new timestamp delta (used when the base timestamp changes).
pub fn encode_record(out: &mut Vec<u8>, record: &Record<'_>, timestamp_delta: i64) {
    let mut body = Vec::with_capacity(record.raw.len() + 8);
    body.push(record.attributes as u8);
    put_varlong(&mut body, timestamp_delta);
    put_varlong(&mut body, i64::from(record.offset_delta));
    for field in [record.key, record.value] {
        match field {
            Some(bytes) => {
                put_varlong(&mut body, bytes.len() as i64);
                body.extend_from_slice(bytes);
            }
            None => put_varlong(&mut body, -1),
        }
    }
    body.extend_from_slice(record.headers);
    put_varlong(out, body.len() as i64);
    out.extend(body);
}

/// A record's key and value, `None` for null.
pub type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// One uncompressed batch (magic 2, no producer id, base offset 0: the log assigns offsets on
/// append) holding the `(key, value)` records in order, each without headers and timestamped
/// `timestamp_ms`. For the broker's own writes (committed offsets) and for tests and benchmarks.
pub fn encode_plain_batch(records: &[KeyValue<'_>], timestamp_ms: i64) -> Vec<u8> {
    let mut section = Vec::with_capacity(records.len() * 32);
    for (offset_delta, (key, value)) in records.iter().enumerate() {
        let record = Record {
            attributes: 0,
            timestamp_delta: 0,
            offset_delta: i32::try_from(offset_delta).unwrap_or(i32::MAX),
            key: *key,
            value: *value,
            headers: &[0],
            raw: &[],
        };
        encode_record(&mut section, &record, 0);
    }
    let count = i32::try_from(records.len()).unwrap_or(i32::MAX);
    let original = RecordBatchHeader {
        base_offset: 0,
        batch_length: 0,
        partition_leader_epoch: 0,
        magic: 2,
        crc: 0,
        attributes: 0,
        last_offset_delta: count.saturating_sub(1),
        base_timestamp: timestamp_ms,
        max_timestamp: timestamp_ms,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records_count: count,
    };
    let fields = BatchFields {
        original,
        attributes: 0,
        base_timestamp: timestamp_ms,
        max_timestamp: timestamp_ms,
        records_count: count,
    };
    let mut out = Vec::with_capacity(section.len() + RECORD_BATCH_HEADER_BYTES);
    encode_batch(&mut out, &fields, &section);
    out
}

/// The fields of a batch being written: the original header's identity plus what cleaning changed.
#[derive(Debug, Clone, Copy)]
pub struct BatchFields {
    /// The original header: base offset, leader epoch, last offset delta, producer id/epoch, base
    /// sequence are kept.
    pub original: RecordBatchHeader,
    pub attributes: i16,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub records_count: i32,
}

/// Writes a whole batch (header, fresh CRC32C, the already compressed records section) to `out`.
pub fn encode_batch(out: &mut Vec<u8>, fields: &BatchFields, records_section: &[u8]) {
    let h = &fields.original;
    let start = out.len();
    let batch_length =
        (RECORD_BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES + records_section.len()) as i32;
    out.extend_from_slice(&h.base_offset.to_be_bytes());
    out.extend_from_slice(&batch_length.to_be_bytes());
    out.extend_from_slice(&h.partition_leader_epoch.to_be_bytes());
    out.push(2);
    out.extend_from_slice(&[0; 4]); // CRC, filled below
    out.extend_from_slice(&fields.attributes.to_be_bytes());
    out.extend_from_slice(&h.last_offset_delta.to_be_bytes());
    out.extend_from_slice(&fields.base_timestamp.to_be_bytes());
    out.extend_from_slice(&fields.max_timestamp.to_be_bytes());
    out.extend_from_slice(&h.producer_id.to_be_bytes());
    out.extend_from_slice(&h.producer_epoch.to_be_bytes());
    out.extend_from_slice(&h.base_sequence.to_be_bytes());
    out.extend_from_slice(&fields.records_count.to_be_bytes());
    out.extend_from_slice(records_section);
    let crc = crc32c::crc32c(&out[start + ATTRIBUTES_OFFSET..]);
    out[start + ATTRIBUTES_OFFSET - 4..start + ATTRIBUTES_OFFSET]
        .copy_from_slice(&crc.to_be_bytes());
}

/// Whether any record of the (validated, CRC-checked) batch at the start of `batch` has a null key.
/// Control batches never count. A broker refuses such a batch on a compacted topic with INVALID_RECORD,
/// as Kafka does.
pub fn batch_has_keyless_records(batch: &[u8]) -> Result<bool, LogError> {
    Ok(!keyless_record_indices(batch)?.is_empty())
}

/// The positions (0-based, in the batch) of the records without a key: what a produce to a
/// compacted topic reports in `record_errors` (KIP-467). Empty for control batches.
pub fn keyless_record_indices(batch: &[u8]) -> Result<Vec<i32>, LogError> {
    let header = validate_batch(batch)?;
    if header.is_control() {
        return Ok(Vec::new());
    }
    let section = &batch[RECORD_BATCH_HEADER_BYTES..header.total_bytes()];
    let (records, _) = decompress(header.compression(), section)?;
    let mut keyless = Vec::new();
    for (index, record) in Records::new(&records).enumerate() {
        if record?.key.is_none() {
            keyless.push(i32::try_from(index).unwrap_or(i32::MAX));
        }
    }
    Ok(keyless)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn record_bytes(key: Option<&[u8]>, value: Option<&[u8]>) -> Vec<u8> {
        let r = Record {
            attributes: 0,
            timestamp_delta: 0,
            offset_delta: 0,
            key,
            value,
            headers: &[2, 2, b'h', 0], // one header "h" with an empty value (zigzag: 1 -> 2, 0 -> 0)
            raw: &[],
        };
        let mut out = Vec::new();
        encode_record(&mut out, &r, -5);
        out
    }

    // a record re-encoded parses back to the same fields, and truncations are errors, never panics
    #[test]
    fn records_round_trip_and_truncation_is_an_error() {
        let mut section = record_bytes(Some(b"k"), None);
        section.extend(record_bytes(None, Some(b"v")));
        let parsed: Vec<_> = Records::new(&section).map(Result::unwrap).collect();
        assert_eq!(parsed.len(), 2);
        assert_eq!((parsed[0].key, parsed[0].value), (Some(&b"k"[..]), None));
        assert_eq!((parsed[1].key, parsed[1].value), (None, Some(&b"v"[..])));
        assert_eq!(parsed[0].timestamp_delta, -5);
        for cut in 0..section.len() {
            let results: Vec<_> = Records::new(&section[..cut]).collect();
            assert!(cut == 0 || results.iter().any(Result::is_err) || results.len() == 1);
        }
    }

    // a plain batch validates (CRC, lengths) and holds the records in order, keyless ones included
    #[test]
    fn plain_batch_holds_its_records() {
        let batch = encode_plain_batch(&[(Some(b"a"), Some(b"1")), (None, None)], 77);
        let header = validate_batch(&batch).unwrap();
        assert_eq!((header.records_count, header.last_offset_delta), (2, 1));
        assert_eq!((header.base_timestamp, header.producer_id), (77, -1));
        let section = &batch[RECORD_BATCH_HEADER_BYTES..];
        let parsed: Vec<_> = Records::new(section).map(Result::unwrap).collect();
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            (parsed[0].key, parsed[0].value),
            (Some(&b"a"[..]), Some(&b"1"[..]))
        );
        assert_eq!(
            (parsed[1].key, parsed[1].value, parsed[1].offset_delta),
            (None, None, 1)
        );
        assert_eq!(keyless_record_indices(&batch).unwrap(), [1]);
    }

    // varints at the edges of their range decode to what was encoded
    #[test]
    fn varlong_round_trips() {
        for v in [
            0,
            1,
            -1,
            63,
            -64,
            64,
            i64::from(i32::MAX),
            i64::MIN,
            i64::MAX,
        ] {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            let mut at = 0;
            assert_eq!(read_varlong(&out, &mut at).unwrap(), v);
            assert_eq!(at, out.len());
        }
        assert!(read_varlong(&[0x80; 11], &mut 0).is_err());
    }
}
