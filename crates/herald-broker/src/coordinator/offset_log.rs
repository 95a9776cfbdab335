//! The committed-offsets log: an append-only file of checksummed records under
//! `data_dir/__consumer_offsets/`, replayed at start-up and compacted when dead records dominate. It is
//! herald's stand-in for Kafka's compacted `__consumer_offsets` topic.
//!
//! Frame: `payload_length u32 | crc32c(payload) u32 | payload`, big-endian. Payload: `kind u8` (1 commit,
//! 2 tombstone), group, topic (u16 length + UTF-8 each), partition i32, and for a commit: offset i64,
//! leader_epoch i32, commit_timestamp_ms i64, metadata (i32 length, -1 = null, + UTF-8). Replay stops at
//! the first frame that is short, oversized or fails its checksum (a torn write), and truncates there.
//! Compaction writes the live records to a new file, fsyncs it, renames it over the old one and fsyncs
//! the directory. Main type: [`OffsetLog`]. Not here: what the records mean (`offsets`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::types::{CommittedOffset, OffsetRecord};

/// Directory under `data_dir` holding the log.
pub const OFFSETS_DIR_NAME: &str = "__consumer_offsets";
const LOG_FILE_NAME: &str = "offsets.log";
const COMPACT_FILE_NAME: &str = "offsets.log.compacting";
/// Largest payload a frame may claim; anything larger is a torn or corrupt length.
pub const RECORD_BYTES_MAX: usize = 256 * 1024;
/// Compact at run time only past this many records, and only when most of them are dead.
pub const COMPACTION_RECORDS_MIN: usize = 10_000;
const FRAME_HEADER_BYTES: usize = 8;
const KIND_COMMIT: u8 = 1;
const KIND_TOMBSTONE: u8 = 2;

/// The open log file.
#[derive(Debug)]
pub struct OffsetLog {
    dir: PathBuf,
    file: File,
    /// Records in the file, live or dead.
    records: usize,
}

impl OffsetLog {
    /// Opens (creating if needed) the log under `data_dir`, replays it, truncates a torn tail, and
    /// compacts it when it holds dead records. Returns the log and the records to apply, in order.
    pub fn open(data_dir: &Path) -> io::Result<(OffsetLog, Vec<OffsetRecord>)> {
        let dir = data_dir.join(OFFSETS_DIR_NAME);
        fs::create_dir_all(&dir)?;
        let path = dir.join(LOG_FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (records, valid_bytes) = decode_frames(&bytes);
        if valid_bytes < bytes.len() {
            tracing::warn!(path = %path.display(), valid_bytes, file_bytes = bytes.len(), "truncating torn tail of the offset log");
            file.set_len(valid_bytes as u64)?;
            file.sync_all()?;
        }
        sync_dir(&dir)?;
        let mut log = OffsetLog {
            dir,
            file,
            records: records.len(),
        };
        let live = live_records(&records);
        if live.len() < records.len() {
            log.compact(&live)?;
        }
        Ok((log, records))
    }

    /// Appends records with one write (not yet durable: see `sync`).
    pub fn append(&mut self, records: &[OffsetRecord]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buffer = Vec::new();
        for record in records {
            encode_frame(record, &mut buffer)?;
        }
        self.file.write_all(&buffer)?;
        self.records += records.len();
        Ok(())
    }

    /// A handle for fsyncing outside the caller's lock.
    pub fn sync_handle(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Records in the file, live or dead.
    pub fn records(&self) -> usize {
        self.records
    }

    /// Whether dead records dominate enough to rewrite the file, given how many are live.
    pub fn should_compact(&self, live: usize) -> bool {
        self.records >= COMPACTION_RECORDS_MIN && self.records > live.saturating_mul(2)
    }

    /// Rewrites the file with only `live` records: new file, fsync, rename, fsync the directory.
    pub fn compact(&mut self, live: &[OffsetRecord]) -> io::Result<()> {
        let temporary = self.dir.join(COMPACT_FILE_NAME);
        let mut buffer = Vec::new();
        for record in live {
            encode_frame(record, &mut buffer)?;
        }
        {
            let mut file = File::create(&temporary)?;
            file.write_all(&buffer)?;
            file.sync_all()?;
        }
        let path = self.dir.join(LOG_FILE_NAME);
        fs::rename(&temporary, &path)?;
        sync_dir(&self.dir)?;
        self.file = OpenOptions::new().read(true).append(true).open(&path)?;
        self.records = live.len();
        Ok(())
    }
}

/// The commits still in force after replaying `records` in order.
fn live_records(records: &[OffsetRecord]) -> Vec<OffsetRecord> {
    let mut live: indexmap::IndexMap<(String, String, i32), OffsetRecord> =
        indexmap::IndexMap::new();
    for record in records {
        match record {
            OffsetRecord::Commit {
                group_id,
                topic,
                partition,
                ..
            } => {
                live.insert(
                    (group_id.clone(), topic.clone(), *partition),
                    record.clone(),
                );
            }
            OffsetRecord::Tombstone {
                group_id,
                topic,
                partition,
            } => {
                live.shift_remove(&(group_id.clone(), topic.clone(), *partition));
            }
        }
    }
    live.into_values().collect()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
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
