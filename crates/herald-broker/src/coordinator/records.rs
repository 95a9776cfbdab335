//! Kafka's record format for `__consumer_offsets` (`GroupMetadataManager` / `CoordinatorRecordSerde`,
//! schemas `OffsetCommitKey`, `OffsetCommitValue`, `GroupMetadataKey` in Kafka's
//! `group-coordinator/src/main/resources/common/message/`), so that tools reading the topic (lag
//! monitors, `kafka-console-consumer --formatter OffsetsMessageFormatter`) understand herald's.
//!
//! Key: `version i16` then the key struct; version 0 and 1 are `OffsetCommitKey` (`group string, topic
//! string, partition i32`), version 2 is `GroupMetadataKey` (`group string`). Value of a commit:
//! `version i16` then `OffsetCommitValue`; herald writes v3 (`offset i64, leaderEpoch i32, metadata
//! string, commitTimestamp i64`) as Kafka does, and reads v0-v4. A null value is a tombstone. Strings are
//! `i16 length + UTF-8` (v4 is flexible: compact strings, tagged fields). kafka-protocol 0.18 does not
//! carry these record types, hence the hand encoding (tests check it byte by byte).
//!
//! Also here: which partition holds a group ([`partition_for`], Kafka's
//! `abs(groupId.hashCode) % partitions`) and the record batch that carries the records.

use herald_log::cleaner::records::{encode_plain_batch, KeyValue, Records};

use super::types::{CommittedOffset, OffsetRecord};

/// Key version Kafka writes for an offset commit.
const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Key version of group metadata.
const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// Value version Kafka writes for an offset commit (leader epoch, no expire timestamp).
const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;

/// One record of `__consumer_offsets` as herald understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredRecord {
    /// A commit or its tombstone.
    Offset(OffsetRecord),
    /// A group's metadata record; herald writes only tombstones (group deleted), since membership is
    /// not persisted. `deleted` is false for a value written by another implementation.
    GroupMetadata { group_id: String, deleted: bool },
}

/// Java's `String.hashCode` (over UTF-16 code units, wrapping).
pub fn java_string_hash(text: &str) -> i32 {
    text.encode_utf16().fold(0i32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The `__consumer_offsets` partition of a group: Kafka's `Utils.abs(groupId.hashCode) % partitions`
/// (`Utils.abs(Integer.MIN_VALUE)` is 0).
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = java_string_hash(group_id);
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    // Group ids and topic names are bounded far below i16::MAX by the request decoder and Kafka's rules.
    let bytes = &text.as_bytes()[..text.len().min(i16::MAX as usize)];
    out.extend_from_slice(&(bytes.len() as i16).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The key of an offset commit (and of its tombstone).
pub fn offset_commit_key(group_id: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + group_id.len() + topic.len());
    out.extend_from_slice(&OFFSET_COMMIT_KEY_VERSION.to_be_bytes());
    put_string(&mut out, group_id);
    put_string(&mut out, topic);
    out.extend_from_slice(&partition.to_be_bytes());
    out
}

/// The key of a group's metadata record.
pub fn group_metadata_key(group_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + group_id.len());
    out.extend_from_slice(&GROUP_METADATA_KEY_VERSION.to_be_bytes());
    put_string(&mut out, group_id);
    out
}

/// The value of an offset commit (v3). Missing metadata is written as "" as Kafka does.
pub fn offset_commit_value(value: &CommittedOffset) -> Vec<u8> {
    let metadata = value.metadata.as_deref().unwrap_or("");
    let mut out = Vec::with_capacity(26 + metadata.len());
    out.extend_from_slice(&OFFSET_COMMIT_VALUE_VERSION.to_be_bytes());
    out.extend_from_slice(&value.offset.to_be_bytes());
    out.extend_from_slice(&value.leader_epoch.to_be_bytes());
    put_string(&mut out, metadata);
    out.extend_from_slice(&value.commit_timestamp_ms.to_be_bytes());
    out
}

/// (key, value) of a stored record; a `None` value is a tombstone.
pub fn encode(record: &StoredRecord) -> (Vec<u8>, Option<Vec<u8>>) {
    match record {
        StoredRecord::Offset(OffsetRecord::Commit {
            group_id,
            topic,
            partition,
            value,
        }) => (
            offset_commit_key(group_id, topic, *partition),
            Some(offset_commit_value(value)),
        ),
        StoredRecord::Offset(OffsetRecord::Tombstone {
            group_id,
            topic,
            partition,
        }) => (offset_commit_key(group_id, topic, *partition), None),
        StoredRecord::GroupMetadata { group_id, .. } => (group_metadata_key(group_id), None),
    }
}

/// Why a record could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .ok_or(DecodeError("length overflow"))?;
        let slice = self
            .bytes
            .get(self.at..end)
            .ok_or(DecodeError("truncated"))?;
        self.at = end;
        Ok(slice)
    }
    fn i16(&mut self) -> Result<i16, DecodeError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(i32::from_be_bytes(a))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(i64::from_be_bytes(a))
    }
    fn string(&mut self) -> Result<String, DecodeError> {
        let len = usize::try_from(self.i16()?).map_err(|_| DecodeError("null string"))?;
        utf8(self.take(len)?)
    }
    fn unsigned_varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..35).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError("varint too long"))
    }
    fn compact_string(&mut self) -> Result<String, DecodeError> {
        let len = self.unsigned_varint()?;
        let len = usize::try_from(len.checked_sub(1).ok_or(DecodeError("null string"))?)
            .map_err(|_| DecodeError("string too long"))?;
        utf8(self.take(len)?)
    }
}

fn utf8(bytes: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError("string is not UTF-8"))
}

/// Decodes one record of the topic. Unknown key versions (Kafka's newer consumer-group, share-group and
/// streams records) yield `Ok(None)`: skipped, as they hold nothing this coordinator keeps.
pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Option<StoredRecord>, DecodeError> {
    let mut reader = Reader { bytes: key, at: 0 };
    match reader.i16()? {
        0 | 1 => {
            let group_id = reader.string()?;
            let topic = reader.string()?;
            let partition = reader.i32()?;
            let record = match value {
                None => OffsetRecord::Tombstone {
                    group_id,
                    topic,
                    partition,
                },
                Some(value) => OffsetRecord::Commit {
                    group_id,
                    topic,
                    partition,
                    value: decode_commit_value(value)?,
                },
            };
            Ok(Some(StoredRecord::Offset(record)))
        }
        2 => Ok(Some(StoredRecord::GroupMetadata {
            group_id: reader.string()?,
            deleted: value.is_none(),
        })),
        _ => Ok(None),
    }
}

fn decode_commit_value(value: &[u8]) -> Result<CommittedOffset, DecodeError> {
    let mut reader = Reader {
        bytes: value,
        at: 0,
    };
    let version = reader.i16()?;
    let offset = reader.i64()?;
    let (leader_epoch, metadata) = match version {
        0..=2 => (-1, reader.string()?),
        3 => (reader.i32()?, reader.string()?),
        4 => (reader.i32()?, reader.compact_string()?),
        _ => return Err(DecodeError("unknown OffsetCommitValue version")),
    };
    let commit_timestamp_ms = reader.i64()?;
    // v1's expireTimestamp and v4's tagged fields follow; nothing herald keeps.
    Ok(CommittedOffset {
        offset,
        leader_epoch,
        metadata: (!metadata.is_empty()).then_some(metadata),
        commit_timestamp_ms,
    })
}

/// One uncompressed record batch (magic 2, no producer id) holding `records` in order, timestamped
/// `now_ms`.
pub fn encode_records_batch(records: &[StoredRecord], now_ms: i64) -> Vec<u8> {
    let encoded: Vec<(Vec<u8>, Option<Vec<u8>>)> = records.iter().map(encode).collect();
    let pairs: Vec<KeyValue<'_>> = encoded
        .iter()
        .map(|(key, value)| (Some(key.as_slice()), value.as_deref()))
        .collect();
    encode_plain_batch(&pairs, now_ms)
}

/// Records read from whole batches, each with its offset, and the last offset of the last batch.
pub type DecodedBatches = (Vec<(i64, StoredRecord)>, Option<i64>);

/// Every record of whole batches read from the topic, with its offset. Control batches are skipped;
/// a record that does not decode is reported to `on_error` and skipped.
pub fn decode_batches(
    bytes: &[u8],
    mut on_error: impl FnMut(i64, &str),
) -> Result<DecodedBatches, herald_log::LogError> {
    let mut out = Vec::new();
    let mut last_offset = None;
    for (header, range) in herald_log::batch::split_batches(bytes)? {
        last_offset = Some(header.last_offset());
        if header.is_control() {
            continue;
        }
        let batch = bytes.get(range).unwrap_or_default();
        let section = batch
            .get(herald_log::RECORD_BATCH_HEADER_BYTES..)
            .unwrap_or_default();
        let (plain, _) = herald_log::codec::decompress(header.compression(), section)?;
        for record in Records::new(&plain) {
            let record = record?;
            let offset = header.base_offset + i64::from(record.offset_delta);
            let Some(key) = record.key else {
                on_error(offset, "record without a key");
                continue;
            };
            match decode(key, record.value) {
                Ok(Some(stored)) => out.push((offset, stored)),
                Ok(None) => {}
                Err(e) => on_error(offset, e.0),
            }
        }
    }
    Ok((out, last_offset))
}
