//! The committed-offsets file of herald before `__consumer_offsets` became a topic:
//! `data_dir/__consumer_offsets/offsets.log`, an append-only file of checksummed frames. Only read now,
//! to migrate it into the topic on the first start (`store::OffsetStore::migrate_legacy`); the encoder
//! stays for tests and fuzz corpora that write a file of the old layout.
//!
//! Frame: `payload_length u32 | crc32c(payload) u32 | payload`, big-endian. Payload: `kind u8` (1 commit,
//! 2 tombstone), group, topic (u16 length + UTF-8 each), partition i32, and for a commit: offset i64,
//! leader_epoch i32, commit_timestamp_ms i64, metadata (i32 length, -1 = null, + UTF-8). Reading stops at
//! the first frame that is short, oversized or fails its checksum (a torn write). Main functions:
//! [`read_legacy_log`], [`decode_frames`], [`encode_frame`].

use std::io;
use std::path::{Path, PathBuf};

use super::types::{CommittedOffset, OffsetRecord};

/// Directory under `data_dir` that held the old log.
pub const OFFSETS_DIR_NAME: &str = "__consumer_offsets";
/// The old log's file name inside [`OFFSETS_DIR_NAME`].
pub const LOG_FILE_NAME: &str = "offsets.log";
/// What the old directory is renamed to once its records are in the topic.
pub const MIGRATED_DIR_NAME: &str = "__consumer_offsets.migrated";
/// Largest payload a frame may claim; anything larger is a torn or corrupt length.
pub const RECORD_BYTES_MAX: usize = 256 * 1024;
const FRAME_HEADER_BYTES: usize = 8;
const KIND_COMMIT: u8 = 1;
const KIND_TOMBSTONE: u8 = 2;

/// The old directory under `data_dir`.
pub fn legacy_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(OFFSETS_DIR_NAME)
}

/// The records of the old log under `data_dir` in order (its valid prefix), or `None` if there is
/// none. Blocking.
pub fn read_legacy_log(data_dir: &Path) -> io::Result<Option<Vec<OffsetRecord>>> {
    let path = legacy_dir(data_dir).join(LOG_FILE_NAME);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let (records, valid_bytes) = decode_frames(&bytes);
    if valid_bytes < bytes.len() {
        tracing::warn!(path = %path.display(), valid_bytes, file_bytes = bytes.len(),
            "old offset log has a torn tail; migrating its valid prefix");
    }
    Ok(Some(records))
}

/// Encodes one record as a frame appended to `out`.
pub fn encode_frame(record: &OffsetRecord, out: &mut Vec<u8>) -> io::Result<()> {
    let mut payload = Vec::with_capacity(64);
    match record {
        OffsetRecord::Commit {
            group_id,
            topic,
            partition,
            value,
        } => {
            payload.push(KIND_COMMIT);
            put_key(&mut payload, group_id, topic, *partition)?;
            payload.extend_from_slice(&value.offset.to_be_bytes());
            payload.extend_from_slice(&value.leader_epoch.to_be_bytes());
            payload.extend_from_slice(&value.commit_timestamp_ms.to_be_bytes());
            match &value.metadata {
                None => payload.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(metadata) => {
                    let length =
                        i32::try_from(metadata.len()).map_err(|_| too_large("metadata"))?;
                    payload.extend_from_slice(&length.to_be_bytes());
                    payload.extend_from_slice(metadata.as_bytes());
                }
            }
        }
        OffsetRecord::Tombstone {
            group_id,
            topic,
            partition,
        } => {
            payload.push(KIND_TOMBSTONE);
            put_key(&mut payload, group_id, topic, *partition)?;
        }
    }
    if payload.len() > RECORD_BYTES_MAX {
        return Err(too_large("offset record"));
    }
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

fn too_large(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} too large for the offset log"),
    )
}

fn put_key(payload: &mut Vec<u8>, group_id: &str, topic: &str, partition: i32) -> io::Result<()> {
    for text in [group_id, topic] {
        let length = u16::try_from(text.len()).map_err(|_| too_large("group id or topic"))?;
        payload.extend_from_slice(&length.to_be_bytes());
        payload.extend_from_slice(text.as_bytes());
    }
    payload.extend_from_slice(&partition.to_be_bytes());
    Ok(())
}

/// Decodes frames from the start of `bytes`; returns the records and how many bytes were valid.
pub fn decode_frames(bytes: &[u8]) -> (Vec<OffsetRecord>, usize) {
    let mut records = Vec::new();
    let mut position = 0;
    while let Some((record, frame_bytes)) = decode_frame(&bytes[position..]) {
        records.push(record);
        position += frame_bytes;
    }
    (records, position)
}

/// One frame, or `None` if it is incomplete or corrupt.
fn decode_frame(bytes: &[u8]) -> Option<(OffsetRecord, usize)> {
    let mut reader = Reader { bytes, position: 0 };
    let length = reader.u32()? as usize;
    let crc = reader.u32()?;
    if length > RECORD_BYTES_MAX {
        return None;
    }
    let payload = reader.take(length)?;
    if crc32c::crc32c(payload) != crc {
        return None;
    }
    let record = decode_payload(payload)?;
    Some((record, FRAME_HEADER_BYTES + length))
}

fn decode_payload(payload: &[u8]) -> Option<OffsetRecord> {
    let mut reader = Reader {
        bytes: payload,
        position: 0,
    };
    let kind = reader.take(1)?.first().copied()?;
    let group_id = reader.string16()?;
    let topic = reader.string16()?;
    let partition = reader.u32()? as i32;
    match kind {
        KIND_COMMIT => {
            let offset = reader.u64()? as i64;
            let leader_epoch = reader.u32()? as i32;
            let commit_timestamp_ms = reader.u64()? as i64;
            let metadata_length = reader.u32()? as i32;
            let metadata = match usize::try_from(metadata_length) {
                Ok(length) => Some(String::from_utf8(reader.take(length)?.to_vec()).ok()?),
                Err(_) => None,
            };
            let value = CommittedOffset {
                offset,
                leader_epoch,
                metadata,
                commit_timestamp_ms,
            };
            Some(OffsetRecord::Commit {
                group_id,
                topic,
                partition,
                value,
            })
        }
        KIND_TOMBSTONE => Some(OffsetRecord::Tombstone {
            group_id,
            topic,
            partition,
        }),
        _ => None,
    }
}

/// Bounds-checked big-endian reads.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, length: usize) -> Option<&'a [u8]> {
        let end = self.position.checked_add(length)?;
        let slice = self.bytes.get(self.position..end)?;
        self.position = end;
        Some(slice)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    fn string16(&mut self) -> Option<String> {
        let length = u16::from_be_bytes(self.take(2)?.try_into().ok()?) as usize;
        String::from_utf8(self.take(length)?.to_vec()).ok()
    }
}
