//! [`LogLoader`]: opens a partition directory after a clean shutdown or a crash.
//!
//! Segments wholly below the recovery checkpoint are trusted: their index files are loaded after a
//! consistency check (and rebuilt by a scan if missing or inconsistent). The segment holding the recovery
//! point, every later one, and always the last (active) segment are recovered: each batch is checked
//! (length, magic, CRC32C, contiguous offsets), the indexes are rebuilt from scratch, and at the first bad
//! or truncated batch the file is cut there and every later segment is deleted, with a `warn!` saying what
//! was dropped. When the checkpoint names the recovery point's position in the last segment (its size
//! and durable index entry counts then), that segment is not recovered from its start: its index
//! prefixes are loaded and only the bytes after the position are checked, so a start after a clean
//! close reads no segment data and one after a crash reads only the tail. If the files do not hold
//! what the checkpoint describes, the whole segment is recovered and the checkpoint rewritten without
//! the position. The idempotent-producer state is the snapshot written at the last flush or roll plus the
//! recovered batch headers after it; without a usable snapshot it is rebuilt from the recovered segments
//! alone (at least the active one).
//!
//! This is not the place that decides the recovery point: `log.rs` writes the checkpoint.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::{validate_batch, RecordBatchHeader, RECORD_BATCH_HEADER_BYTES};
use crate::checkpoint::{
    read_recovery_checkpoint, sync_dir, take_clean_shutdown, write_recovery_point,
    RecoveryPosition, CLEANER_CHECKPOINT_FILE, TEMP_FILE_SUFFIX,
};
use crate::cleaner::swap_recovery::recover_interrupted_swaps;
use crate::error::{io_error, LogError};
use crate::fs::{FileSystem, SharedFs, StorageFile};
use crate::producer_state::{ProducerStateManager, PRODUCER_SNAPSHOT_FILE};
use crate::segment::{
    segment_path, LogSegment, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX,
};

/// Digits in a segment file name (`{base_offset:020}`).
const SEGMENT_NAME_DIGITS: usize = 20;
/// Bytes read per positional read while scanning a segment.
const SCAN_CHUNK_BYTES: usize = 1024 * 1024;

/// What the loader hands to the log.
#[derive(Debug)]
pub struct LoadedLog {
    /// Sorted by base offset, never empty; the last is the active segment.
    pub segments: Vec<LogSegment>,
    pub recovery_point: i64,
    pub producers: ProducerStateManager,
    /// The last close was clean (its marker matched the recovery checkpoint).
    pub clean_shutdown: bool,
}

/// Loads and recovers one partition directory.
#[derive(Debug)]
pub struct LogLoader<'a> {
    dir: &'a Path,
    fs: SharedFs,
    index_interval_bytes: u64,
    dir_changed: bool,
    /// The log was compacted: offsets may skip between batches and between segments.
    offset_gaps: bool,
}

/// Rebuilds the producer state from a snapshot plus the batch headers recovered after it.
#[derive(Debug, Default)]
struct ProducerReplay {
    /// The snapshot's offset and the state it holds, advanced with every recovered batch at or after it.
    snapshot: Option<(i64, ProducerStateManager)>,
    /// Every recovered batch, for when the snapshot is missing or unusable.
    scanned: ProducerStateManager,
    /// Base offset of the first recovered segment.
    scan_start: Option<i64>,
}

impl ProducerReplay {
    fn replay(&mut self, header: &RecordBatchHeader) {
        self.scanned.update(header);
        if let Some((offset, state)) = self.snapshot.as_mut() {
            if header.base_offset >= *offset {
                state.update(header);
            }
        }
    }

    /// The snapshot is usable only if the recovered segments cover everything after it and the log
    /// still reaches it (a snapshot beyond a truncation would remember batches that are gone).
    fn finish(self, log_end_offset: i64) -> ProducerStateManager {
        let scan_start = self.scan_start.unwrap_or(log_end_offset);
        match self.snapshot {
            Some((offset, state)) if scan_start <= offset && offset <= log_end_offset => state,
            Some((offset, _)) => {
                tracing::info!(
                    snapshot_offset = offset,
                    scan_start,
                    log_end_offset,
                    "producer-state snapshot unusable; using recovered batches only"
                );
                self.scanned
            }
            None => self.scanned,
        }
    }
}

fn read_snapshot(
    fs: &dyn FileSystem,
    dir: &Path,
) -> Result<Option<(i64, ProducerStateManager)>, LogError> {
    let path = dir.join(PRODUCER_SNAPSHOT_FILE);
    match fs.read(&path) {
        Ok(bytes) => {
            let decoded = std::str::from_utf8(&bytes)
                .ok()
                .and_then(ProducerStateManager::decode_snapshot);
            if decoded.is_none() {
                tracing::warn!(path = %path.display(), "ignoring malformed producer-state snapshot");
            }
            Ok(decoded)
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidData
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(io_error("read producer snapshot", &path)(e)),
    }
}

/// Reads a file through a large buffer with positional reads.
struct ChunkReader<'a> {
    file: &'a dyn StorageFile,
    path: &'a Path,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<'a> ChunkReader<'a> {
    /// The `len` bytes at `position`; the caller guarantees they are inside the file.
    fn bytes(&mut self, position: u64, len: usize, file_len: u64) -> Result<&[u8], LogError> {
        let buf_end = self.buf_start + self.buf.len() as u64;
        if position < self.buf_start || position + len as u64 > buf_end {
            let want = len.max(SCAN_CHUNK_BYTES) as u64;
            let n = want.min(file_len - position) as usize;
            self.buf.resize(n, 0);
            self.file
                .read_exact_at(&mut self.buf, position)
                .map_err(io_error("read segment", self.path))?;
            self.buf_start = position;
        }
        let at = (position - self.buf_start) as usize;
        Ok(&self.buf[at..at + len])
    }
}

/// Why a scan stopped before the end of the file.
fn check_next_batch(
    reader: &mut ChunkReader<'_>,
    position: u64,
    file_len: u64,
    (expected_offset, offset_gaps): (i64, bool),
) -> Result<Result<RecordBatchHeader, String>, LogError> {
    let remaining = file_len - position;
    if remaining < RECORD_BATCH_HEADER_BYTES as u64 {
        return Ok(Err(format!("truncated batch header ({remaining} bytes)")));
    }
    let head = reader.bytes(position, RECORD_BATCH_HEADER_BYTES, file_len)?;
    let header = match RecordBatchHeader::parse(head) {
        Ok(h) => h,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let total = header.total_bytes() as u64;
    if total > remaining {
        return Ok(Err(format!(
            "truncated batch: needs {total} bytes, {remaining} left"
        )));
    }
    let batch = reader.bytes(position, total as usize, file_len)?;
    if let Err(e) = validate_batch(batch) {
        return Ok(Err(e.to_string()));
    }
    let in_place = header.base_offset == expected_offset
        || (offset_gaps && header.base_offset > expected_offset);
    if !in_place {
        return Ok(Err(format!(
            "batch base offset {} where {expected_offset} was expected",
            header.base_offset
        )));
    }
    Ok(Ok(header))
}

impl<'a> LogLoader<'a> {
    pub fn new(dir: &'a Path, index_interval_bytes: u64) -> Self {
        Self::with_fs(crate::fs::real(), dir, index_interval_bytes)
    }

    /// A loader that goes through `fs`.
    pub fn with_fs(fs: SharedFs, dir: &'a Path, index_interval_bytes: u64) -> Self {
        Self {
            dir,
            fs,
            index_interval_bytes,
            dir_changed: false,
            offset_gaps: false,
        }
    }

    /// Opens the directory (creating it if needed) and recovers it.
    pub fn load(mut self) -> Result<LoadedLog, LogError> {
        let fs = Arc::clone(&self.fs);
        if !fs.exists(self.dir) {
            // Every directory created here must survive a crash too: fsync the parent of each.
            let mut created = vec![self.dir];
            while let Some(parent) = created
                .last()
                .and_then(|d| d.parent())
                .filter(|p| !p.as_os_str().is_empty() && !fs.exists(p))
            {
                created.push(parent);
            }
            fs.create_dir_all(self.dir)
                .map_err(io_error("create log directory", self.dir))?;
            for dir in created.iter().rev() {
                if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                    sync_dir(fs.as_ref(), parent)?;
                }
            }
        }
        let swapped = recover_interrupted_swaps(fs.as_ref(), self.dir)?;
        self.offset_gaps = swapped || fs.exists(&self.dir.join(CLEANER_CHECKPOINT_FILE));
        let bases = self.list_segments()?;
        let marker = take_clean_shutdown(fs.as_ref(), self.dir)?;
        let checkpoint = read_recovery_checkpoint(fs.as_ref(), self.dir)?;
        // The position is trusted only in the last segment: a segment closed since could have been
        // rewritten by the cleaner.
        let mut resume_at = checkpoint
            .and_then(|c| c.position)
            .filter(|p| bases.last() == Some(&p.segment_base));
        let mut forget_position = false;
        let mut clean_shutdown = false;
        if let Some(marker) = &marker {
            // A clean close's marker must still describe the files: if they changed since (or the
            // marker is a stale one a crash brought back), recover the active segment in full.
            let unchanged = match (&resume_at, checkpoint) {
                (Some(at), Some(c)) if c.offset == marker.log_end_offset => {
                    crate::log::segment_file_stamps(fs.as_ref(), self.dir, at.segment_base)
                        .is_ok_and(|stamps| stamps == marker.modified)
                }
                _ => false,
            };
            if unchanged {
                clean_shutdown = true;
            } else {
                tracing::warn!(dir = %self.dir.display(), "files changed since the clean shutdown; recovering the active segment in full");
                resume_at = None;
                forget_position = true;
            }
        }
        let checkpoint = checkpoint.map(|c| c.offset);
        let mut producers = ProducerReplay {
            snapshot: read_snapshot(fs.as_ref(), self.dir)?,
            ..ProducerReplay::default()
        };
        let mut segments: Vec<LogSegment> = Vec::with_capacity(bases.len().max(1));
        if bases.is_empty() {
            segments.push(LogSegment::create(&fs, self.dir, 0)?);
            self.dir_changed = true;
        }
        let recovery_point = checkpoint.unwrap_or(i64::MIN);
        for (i, &base) in bases.iter().enumerate() {
            if let Some(prev) = segments.last_mut() {
                if self.offset_gaps && prev.next_offset() < base {
                    // The cleaner removed the last records of the previous segment.
                    prev.extend_next_offset(base);
                }
                if prev.next_offset() != base {
                    self.drop_segments(
                        &bases[i..],
                        &format!("gap after offset {}", prev.next_offset()),
                    )?;
                    break;
                }
            }
            let next_base = bases.get(i + 1).copied();
            if let Some(next) = next_base.filter(|&next| next <= recovery_point) {
                if let Some(mut segment) = LogSegment::open_trusted(&fs, self.dir, base, next)? {
                    if self.offset_gaps {
                        segment.allow_offset_gaps();
                    }
                    segments.push(segment);
                    continue;
                }
                tracing::warn!(dir = %self.dir.display(), base_offset = base, "segment indexes missing or inconsistent; rebuilding");
            }
            let resumed = match resume_at
                .filter(|p| p.segment_base == base && recovery_point >= base)
            {
                Some(at) => {
                    let resumed = self.resume_segment(&at, recovery_point)?;
                    if resumed.is_none() {
                        tracing::warn!(dir = %self.dir.display(), base_offset = base, "segment does not match the recovery checkpoint; recovering all of it");
                        forget_position = true;
                    }
                    resumed.map(|segment| (segment, at.position, recovery_point))
                }
                None => None,
            };
            let (mut segment, truncated) = self.recover_segment(base, resumed, &mut producers)?;
            if !truncated && next_base.is_some() {
                // A closed segment needs its final time index entry: the next open trusts it for the
                // segment's max timestamp.
                segment.close_for_roll()?;
            }
            segments.push(segment);
            if truncated {
                self.drop_segments(&bases[i + 1..], "an earlier segment was truncated")?;
                break;
            }
        }
        if forget_position {
            // The rebuilt indexes are not durable: the checkpoint must stop naming their entries.
            if let Some(offset) = checkpoint {
                write_recovery_point(fs.as_ref(), self.dir, offset)?;
            }
        }
        if self.dir_changed {
            sync_dir(fs.as_ref(), self.dir)?;
        }
        if clean_shutdown {
            tracing::debug!(dir = %self.dir.display(), "opened after a clean shutdown");
        }
        let log_start_offset = segments.first().map_or(0, LogSegment::base_offset);
        let log_end_offset = segments.last().map_or(0, LogSegment::next_offset);
        Ok(LoadedLog {
            segments,
            recovery_point: recovery_point.clamp(log_start_offset, log_end_offset),
            producers: producers.finish(log_end_offset),
            clean_shutdown,
        })
    }

    /// Base offsets of the `.log` files, sorted; deletes temp files and indexes without a `.log`.
    fn list_segments(&mut self) -> Result<Vec<i64>, LogError> {
        let entries = self
            .fs
            .list_dir(self.dir)
            .map_err(io_error("list log directory", self.dir))?;
        let mut logs = Vec::new();
        let mut others: Vec<(PathBuf, i64)> = Vec::new();
        for path in entries {
            let (Some(stem), Some(ext)) = (
                path.file_stem().and_then(|s| s.to_str()),
                path.extension().and_then(|s| s.to_str()),
            ) else {
                continue;
            };
            if ext == TEMP_FILE_SUFFIX {
                remove_file(self.fs.as_ref(), &path)?;
                continue;
            }
            // Only canonical names (`{:020}`): anything else is not ours and is left alone.
            let canonical =
                stem.len() == SEGMENT_NAME_DIGITS && stem.bytes().all(|b| b.is_ascii_digit());
            let Some(base) = stem.parse::<i64>().ok().filter(|_| canonical) else {
                continue;
            };
            match ext {
                LOG_FILE_SUFFIX => logs.push(base),
                INDEX_FILE_SUFFIX | TIME_INDEX_FILE_SUFFIX => others.push((path, base)),
                _ => {}
            }
        }
        logs.sort_unstable();
        for (path, base) in others {
            if logs.binary_search(&base).is_err() {
                remove_file(self.fs.as_ref(), &path)?;
                self.dir_changed = true;
            }
        }
        Ok(logs)
    }

    /// Validates every batch of one segment, rebuilding its indexes; cuts the file at the first bad batch.
    /// Returns the segment and whether it was truncated.
    /// Reopens the segment holding the recovery point at its checkpointed position.
    fn resume_segment(
        &mut self,
        at: &RecoveryPosition,
        recovery_point: i64,
    ) -> Result<Option<LogSegment>, LogError> {
        LogSegment::open_resumed(&self.fs, self.dir, at, recovery_point)
    }

    /// Validates the batches of one segment (all of them, or from a resumed position on), indexing
    /// them; cuts the file at the first bad batch. Returns the segment and whether it was truncated.
    fn recover_segment(
        &mut self,
        base_offset: i64,
        resumed: Option<(LogSegment, u64, i64)>,
        producers: &mut ProducerReplay,
    ) -> Result<(LogSegment, bool), LogError> {
        let (mut segment, mut position, mut expected_offset) = match resumed {
            Some(resumed) => resumed,
            None => (
                LogSegment::open_for_recovery(&self.fs, self.dir, base_offset)?,
                0,
                base_offset,
            ),
        };
        producers.scan_start.get_or_insert(expected_offset);
        if self.offset_gaps {
            segment.allow_offset_gaps();
        }
        let file = segment.file();
        let path = segment.log_path().to_path_buf();
        let file_len = file.len().map_err(io_error("stat segment", &path))?;
        let mut reader = ChunkReader {
            file: file.as_ref(),
            path: &path,
            buf: Vec::new(),
            buf_start: 0,
        };
        while position < file_len {
            let expected = (expected_offset, self.offset_gaps);
            match check_next_batch(&mut reader, position, file_len, expected)? {
                Ok(header) => {
                    segment.account_batch(&header, position, self.index_interval_bytes)?;
                    producers.replay(&header);
                    position += header.total_bytes() as u64;
                    expected_offset = header.last_offset() + 1;
                }
                Err(reason) => {
                    tracing::warn!(
                        segment = %path.display(),
                        position,
                        bytes_dropped = file_len - position,
                        first_offset_dropped = expected_offset,
                        %reason,
                        "recovery: truncating segment at first invalid batch"
                    );
                    segment.truncate_file(position)?;
                    return Ok((segment, true));
                }
            }
        }
        Ok((segment, false))
    }

    /// Deletes whole segments that follow a truncation or a gap.
    fn drop_segments(&mut self, bases: &[i64], reason: &str) -> Result<(), LogError> {
        for &base in bases {
            let path = segment_path(self.dir, base, LOG_FILE_SUFFIX);
            let bytes = self.fs.file_len(&path).unwrap_or(0);
            tracing::warn!(segment = %path.display(), base_offset = base, bytes_dropped = bytes, reason, "recovery: deleting segment");
            for suffix in [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
                remove_file(self.fs.as_ref(), &segment_path(self.dir, base, suffix))?;
            }
            self.dir_changed = true;
        }
        Ok(())
    }
}

fn remove_file(fs: &dyn FileSystem, path: &Path) -> Result<(), LogError> {
    match fs.remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("delete file", path)(e)),
    }
}
