//! The two sparse indexes of a segment: [`OffsetIndex`] (offset -> file position) and [`TimeIndex`]
//! (timestamp -> offset), as in Kafka.
//!
//! Both are kept in memory as sorted vectors and mirrored to an append-only file (`.index`, 8-byte entries
//! `relative offset u32 | position u32`; `.timeindex`, 12-byte entries `timestamp i64 | relative offset
//! u32`, big-endian). They are hints, not the source of truth: a lookup returns a position at or before
//! the wanted batch and the caller scans batch headers from there. A missing or inconsistent index file
//! is rebuilt from the segment (see `recovery.rs`), so the files are never fsynced on the hot path.
//!
//! The lookup math (`floor_offset_entry`, `last_time_entry_before`, `decode_*`) is pure and unit-tested
//! here. What this is not: Kafka's memory-mapped, preallocated index files.

use std::path::{Path, PathBuf};

use crate::error::{io_error, LogError};
use crate::fs::{FileSystem, OpenMode, SharedFile};

/// Size of one offset index entry on disk.
pub const OFFSET_INDEX_ENTRY_BYTES: usize = 8;
/// Size of one time index entry on disk.
pub const TIME_INDEX_ENTRY_BYTES: usize = 12;

/// One offset index entry: the batch whose base offset is `segment base + relative_offset` starts at
/// byte `position` of the segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

/// One time index entry: every record up to and including the batch that holds
/// `segment base + relative_offset` has a timestamp `<= timestamp`, and that batch is the first to
/// reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

/// The entry with the largest relative offset `<= target`, if any.
pub fn floor_offset_entry(entries: &[OffsetEntry], target: u32) -> Option<OffsetEntry> {
    let after = entries.partition_point(|e| e.relative_offset <= target);
    after.checked_sub(1).and_then(|i| entries.get(i)).copied()
}

/// The last entry whose timestamp is strictly below `timestamp`: every batch up to the one holding its
/// offset is older than `timestamp`, so a search for `timestamp` may start at that batch.
pub fn last_time_entry_before(entries: &[TimeEntry], timestamp: i64) -> Option<TimeEntry> {
    let after = entries.partition_point(|e| e.timestamp < timestamp);
    after.checked_sub(1).and_then(|i| entries.get(i)).copied()
}

/// Decodes an offset index file. `None` if its length is not a whole number of entries, if entries are
/// not strictly increasing, or if a position is not below `segment_bytes` (the file is then rebuilt).
pub fn decode_offset_entries(bytes: &[u8], segment_bytes: u64) -> Option<Vec<OffsetEntry>> {
    if bytes.len() % OFFSET_INDEX_ENTRY_BYTES != 0 {
        return None;
    }
    let mut entries: Vec<OffsetEntry> = Vec::with_capacity(bytes.len() / OFFSET_INDEX_ENTRY_BYTES);
    for chunk in bytes.chunks_exact(OFFSET_INDEX_ENTRY_BYTES) {
        let relative_offset = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let position = u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        if u64::from(position) >= segment_bytes {
            return None;
        }
        if let Some(last) = entries.last() {
            if relative_offset <= last.relative_offset || position <= last.position {
                return None;
            }
        }
        entries.push(OffsetEntry {
            relative_offset,
            position,
        });
    }
    Some(entries)
}

/// Decodes a time index file. `None` if its length is not a whole number of entries or if timestamps or
/// offsets go backwards.
pub fn decode_time_entries(bytes: &[u8]) -> Option<Vec<TimeEntry>> {
    if bytes.len() % TIME_INDEX_ENTRY_BYTES != 0 {
        return None;
    }
    let mut entries: Vec<TimeEntry> = Vec::with_capacity(bytes.len() / TIME_INDEX_ENTRY_BYTES);
    for chunk in bytes.chunks_exact(TIME_INDEX_ENTRY_BYTES) {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&chunk[..8]);
        let timestamp = i64::from_be_bytes(ts);
        let relative_offset = u32::from_be_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]);
        if let Some(last) = entries.last() {
            if timestamp <= last.timestamp || relative_offset < last.relative_offset {
                return None;
            }
        }
        entries.push(TimeEntry {
            timestamp,
            relative_offset,
        });
    }
    Some(entries)
}

fn encode_offset_entry(e: &OffsetEntry) -> [u8; OFFSET_INDEX_ENTRY_BYTES] {
    let mut b = [0u8; OFFSET_INDEX_ENTRY_BYTES];
    b[..4].copy_from_slice(&e.relative_offset.to_be_bytes());
    b[4..].copy_from_slice(&e.position.to_be_bytes());
    b
}

fn encode_time_entry(e: &TimeEntry) -> [u8; TIME_INDEX_ENTRY_BYTES] {
    let mut b = [0u8; TIME_INDEX_ENTRY_BYTES];
    b[..8].copy_from_slice(&e.timestamp.to_be_bytes());
    b[8..].copy_from_slice(&e.relative_offset.to_be_bytes());
    b
}

fn open_rw(fs: &dyn FileSystem, path: &Path) -> Result<SharedFile, LogError> {
    fs.open(path, OpenMode::CREATE)
        .map_err(io_error("open index", path))
}

/// Reads an index file; `Ok(None)` if it does not exist.
fn read_if_exists(fs: &dyn FileSystem, path: &Path) -> Result<Option<Vec<u8>>, LogError> {
    match fs.read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read index", path)(e)),
    }
}

/// A sparse file-backed index of fixed-size entries, generic over the entry codec.
#[derive(Debug)]
struct IndexFile<E> {
    path: PathBuf,
    file: SharedFile,
    entries: Vec<E>,
}

impl<E: Copy> IndexFile<E> {
    /// Opens the index at `path` with the given entries already in memory (the file must hold them).
    fn open(fs: &dyn FileSystem, path: &Path, entries: Vec<E>) -> Result<Self, LogError> {
        Ok(IndexFile {
            path: path.to_path_buf(),
            file: open_rw(fs, path)?,
            entries,
        })
    }

    /// Creates an empty index (truncating any file at `path`).
    fn create(fs: &dyn FileSystem, path: &Path) -> Result<Self, LogError> {
        let mut index = Self::open(fs, path, Vec::new())?;
        index.replace(Vec::new(), Vec::new())?;
        Ok(index)
    }

    fn append(&mut self, entry: E, encoded: &[u8]) -> Result<(), LogError> {
        let at = (self.entries.len() * encoded.len()) as u64;
        self.file
            .write_all_at(encoded, at)
            .map_err(io_error("append index entry", &self.path))?;
        self.entries.push(entry);
        Ok(())
    }

    /// Replaces the file's content with `entries` (used after a rebuild).
    fn replace(&mut self, entries: Vec<E>, encoded: Vec<u8>) -> Result<(), LogError> {
        self.file
            .set_len(0)
            .map_err(io_error("truncate index", &self.path))?;
        self.file
            .write_all_at(&encoded, 0)
            .map_err(io_error("write index", &self.path))?;
        self.entries = entries;
        Ok(())
    }

    fn sync(&self) -> Result<(), LogError> {
        self.file
            .sync_data()
            .map_err(io_error("fsync index", &self.path))
    }

    /// Opens the index with the first `count` entries of its file (`entry_bytes` each), cutting off
    /// what follows. `Ok(None)` if the file is missing, shorter, or the prefix does not decode.
    fn open_prefix(
        fs: &dyn FileSystem,
        path: &Path,
        count: u64,
        entry_bytes: usize,
        decode: impl FnOnce(&[u8]) -> Option<Vec<E>>,
    ) -> Result<Option<Self>, LogError> {
        let Some(bytes) = read_if_exists(fs, path)? else {
            return Ok(None);
        };
        let Some(prefix_len) = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(entry_bytes))
            .filter(|&len| len <= bytes.len())
        else {
            return Ok(None);
        };
        let Some(entries) = decode(&bytes[..prefix_len]) else {
            return Ok(None);
        };
        let index = Self::open(fs, path, entries)?;
        if bytes.len() > prefix_len {
            index
                .file
                .set_len(prefix_len as u64)
                .map_err(io_error("truncate index", path))?;
        }
        Ok(Some(index))
    }
}

/// Offset -> position index of one segment.
#[derive(Debug)]
pub struct OffsetIndex(IndexFile<OffsetEntry>);

impl OffsetIndex {
    /// Creates an empty index (truncating any file at `path`).
    pub fn create(fs: &dyn FileSystem, path: &Path) -> Result<Self, LogError> {
        IndexFile::create(fs, path).map(Self)
    }

    /// Loads the index at `path`; `Ok(None)` if it is missing or inconsistent with a segment of
    /// `segment_bytes` bytes (the caller rebuilds it).
    pub fn load(
        fs: &dyn FileSystem,
        path: &Path,
        segment_bytes: u64,
    ) -> Result<Option<Self>, LogError> {
        let Some(bytes) = read_if_exists(fs, path)? else {
            return Ok(None);
        };
        match decode_offset_entries(&bytes, segment_bytes) {
            Some(entries) => Ok(Some(Self(IndexFile::open(fs, path, entries)?))),
            None => Ok(None),
        }
    }

    /// Loads the first `count` entries of the index at `path` (recovery resuming at a checkpointed
    /// position); entries must point below `segment_bytes`. `Ok(None)` if they are not all there.
    pub fn load_prefix(
        fs: &dyn FileSystem,
        path: &Path,
        count: u64,
        segment_bytes: u64,
    ) -> Result<Option<Self>, LogError> {
        let decode = |bytes: &[u8]| decode_offset_entries(bytes, segment_bytes.max(1));
        Ok(IndexFile::open_prefix(fs, path, count, OFFSET_INDEX_ENTRY_BYTES, decode)?.map(Self))
    }

    /// The index file (fsynced with the recovery checkpoint).
    pub fn file(&self) -> SharedFile {
        std::sync::Arc::clone(&self.0.file)
    }

    pub fn append(&mut self, entry: OffsetEntry) -> Result<(), LogError> {
        self.0.append(entry, &encode_offset_entry(&entry))
    }

    /// Replaces every entry (after a rebuild or a truncation).
    pub fn replace(&mut self, entries: Vec<OffsetEntry>) -> Result<(), LogError> {
        let encoded = entries.iter().flat_map(encode_offset_entry).collect();
        self.0.replace(entries, encoded)
    }

    /// Position of the last indexed batch at or before `relative_offset` (0 if none).
    pub fn lookup(&self, relative_offset: u32) -> u64 {
        floor_offset_entry(&self.0.entries, relative_offset).map_or(0, |e| u64::from(e.position))
    }

    pub fn entries(&self) -> &[OffsetEntry] {
        &self.0.entries
    }

    pub fn sync(&self) -> Result<(), LogError> {
        self.0.sync()
    }
}

/// Timestamp -> offset index of one segment.
#[derive(Debug)]
pub struct TimeIndex(IndexFile<TimeEntry>);

impl TimeIndex {
    /// Creates an empty index (truncating any file at `path`).
    pub fn create(fs: &dyn FileSystem, path: &Path) -> Result<Self, LogError> {
        IndexFile::create(fs, path).map(Self)
    }

    /// Loads the index at `path`; `Ok(None)` if it is missing or inconsistent.
    pub fn load(fs: &dyn FileSystem, path: &Path) -> Result<Option<Self>, LogError> {
        let Some(bytes) = read_if_exists(fs, path)? else {
            return Ok(None);
        };
        match decode_time_entries(&bytes) {
            Some(entries) => Ok(Some(Self(IndexFile::open(fs, path, entries)?))),
            None => Ok(None),
        }
    }

    /// Loads the first `count` entries of the time index at `path`; `Ok(None)` if they are not all
    /// there.
    pub fn load_prefix(
        fs: &dyn FileSystem,
        path: &Path,
        count: u64,
    ) -> Result<Option<Self>, LogError> {
        Ok(
            IndexFile::open_prefix(fs, path, count, TIME_INDEX_ENTRY_BYTES, decode_time_entries)?
                .map(Self),
        )
    }

    /// The index file (fsynced with the recovery checkpoint).
    pub fn file(&self) -> SharedFile {
        std::sync::Arc::clone(&self.0.file)
    }

    /// Appends `entry` if it raises the indexed maximum timestamp (otherwise it adds nothing).
    pub fn maybe_append(&mut self, entry: TimeEntry) -> Result<(), LogError> {
        if self
            .0
            .entries
            .last()
            .is_some_and(|last| entry.timestamp <= last.timestamp)
        {
            return Ok(());
        }
        self.0.append(entry, &encode_time_entry(&entry))
    }

    /// Replaces every entry (after a rebuild or a truncation).
    pub fn replace(&mut self, entries: Vec<TimeEntry>) -> Result<(), LogError> {
        let encoded = entries.iter().flat_map(encode_time_entry).collect();
        self.0.replace(entries, encoded)
    }

    /// The last entry with a timestamp strictly below `timestamp`.
    pub fn lookup_before(&self, timestamp: i64) -> Option<TimeEntry> {
        last_time_entry_before(&self.0.entries, timestamp)
    }

    /// The newest entry: the segment's maximum timestamp once the segment is closed.
    pub fn last(&self) -> Option<TimeEntry> {
        self.0.entries.last().copied()
    }

    pub fn entries(&self) -> &[TimeEntry] {
        &self.0.entries
    }

    pub fn sync(&self) -> Result<(), LogError> {
        self.0.sync()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn oe(relative_offset: u32, position: u32) -> OffsetEntry {
        OffsetEntry {
            relative_offset,
            position,
        }
    }

    fn te(timestamp: i64, relative_offset: u32) -> TimeEntry {
        TimeEntry {
            timestamp,
            relative_offset,
        }
    }

    // floor lookup returns the entry at or before the target, and none before the first entry
    #[test]
    fn floor_offset_entry_finds_the_entry_at_or_before() {
        let entries = [oe(0, 0), oe(10, 100), oe(20, 250)];
        assert_eq!(floor_offset_entry(&entries, 0), Some(oe(0, 0)));
        assert_eq!(floor_offset_entry(&entries, 9), Some(oe(0, 0)));
        assert_eq!(floor_offset_entry(&entries, 10), Some(oe(10, 100)));
        assert_eq!(floor_offset_entry(&entries, 19), Some(oe(10, 100)));
        assert_eq!(floor_offset_entry(&entries, u32::MAX), Some(oe(20, 250)));
        assert_eq!(floor_offset_entry(&entries[1..], 5), None);
        assert_eq!(floor_offset_entry(&[], 5), None);
    }

    // the time lookup returns the last entry strictly older than the target
    #[test]
    fn last_time_entry_before_is_strict() {
        let entries = [te(100, 0), te(200, 5), te(300, 9)];
        assert_eq!(last_time_entry_before(&entries, 100), None);
        assert_eq!(last_time_entry_before(&entries, 101), Some(te(100, 0)));
        assert_eq!(last_time_entry_before(&entries, 200), Some(te(100, 0)));
        assert_eq!(last_time_entry_before(&entries, 1000), Some(te(300, 9)));
    }

    // encoded entries decode back, and inconsistent files are rejected so they get rebuilt
    #[test]
    fn decode_round_trips_and_rejects_inconsistent_files() {
        let entries = vec![oe(0, 0), oe(3, 70), oe(9, 400)];
        let bytes: Vec<u8> = entries.iter().flat_map(encode_offset_entry).collect();
        assert_eq!(decode_offset_entries(&bytes, 500), Some(entries));
        assert_eq!(
            decode_offset_entries(&bytes, 400),
            None,
            "position beyond the segment"
        );
        assert_eq!(
            decode_offset_entries(&bytes[..7], 500),
            None,
            "partial entry"
        );
        let backwards: Vec<u8> = [oe(5, 10), oe(4, 20)]
            .iter()
            .flat_map(encode_offset_entry)
            .collect();
        assert_eq!(decode_offset_entries(&backwards, 500), None);

        let times = vec![te(10, 0), te(20, 4)];
        let bytes: Vec<u8> = times.iter().flat_map(encode_time_entry).collect();
        assert_eq!(decode_time_entries(&bytes), Some(times));
        assert_eq!(decode_time_entries(&bytes[..13]), None);
        let backwards: Vec<u8> = [te(20, 0), te(10, 4)]
            .iter()
            .flat_map(encode_time_entry)
            .collect();
        assert_eq!(decode_time_entries(&backwards), None);
    }

    // index files persist appended entries and time entries that do not raise the maximum are skipped
    #[test]
    fn files_persist_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut index = OffsetIndex::create(&crate::fs::RealFs, &path).unwrap();
        index.append(oe(0, 0)).unwrap();
        index.append(oe(4, 90)).unwrap();
        assert_eq!(index.lookup(5), 90);
        let loaded = OffsetIndex::load(&crate::fs::RealFs, &path, 100)
            .unwrap()
            .unwrap();
        assert_eq!(loaded.entries(), &[oe(0, 0), oe(4, 90)]);

        let path = dir.path().join("0.timeindex");
        let mut index = TimeIndex::create(&crate::fs::RealFs, &path).unwrap();
        index.maybe_append(te(50, 0)).unwrap();
        index.maybe_append(te(50, 3)).unwrap();
        index.maybe_append(te(60, 4)).unwrap();
        let loaded = TimeIndex::load(&crate::fs::RealFs, &path).unwrap().unwrap();
        assert_eq!(loaded.entries(), &[te(50, 0), te(60, 4)]);
        assert!(
            TimeIndex::load(&crate::fs::RealFs, &dir.path().join("missing"))
                .unwrap()
                .is_none()
        );
    }
}
