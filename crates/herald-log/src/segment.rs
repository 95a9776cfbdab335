//! [`LogSegment`]: one `{base_offset:020}.log` file of verbatim record batches plus its sparse
//! [`OffsetIndex`] and [`TimeIndex`].
//!
//! A segment appends batches whose offsets were already assigned by the log, finds the batch holding an
//! offset (index lookup, then a scan of batch headers), and serves whole batches by positional reads
//! (`read_at`), so readers need only shared access. It does not decide when to roll, does not validate
//! CRCs (the log checks data on the way in, recovery on the way back) and does not fsync on append.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::{validate_batch, RecordBatchHeader, RECORD_BATCH_HEADER_BYTES};
use crate::checkpoint::RecoveryPosition;
use crate::error::{io_error, LogError};
use crate::fs::{OpenMode, SharedFile, SharedFs};
use crate::index::{OffsetEntry, OffsetIndex, TimeEntry, TimeIndex};
use crate::records::find_record;

/// Extension of segment data files.
pub const LOG_FILE_SUFFIX: &str = "log";
/// Extension of offset index files.
pub const INDEX_FILE_SUFFIX: &str = "index";
/// Extension of time index files.
pub const TIME_INDEX_FILE_SUFFIX: &str = "timeindex";
/// Largest segment file: index positions are u32.
pub const SEGMENT_BYTES_MAX: u64 = u32::MAX as u64;
/// "No timestamp", as in Kafka.
pub const NO_TIMESTAMP: i64 = -1;

/// `dir/{base_offset:020}.{suffix}`.
pub fn segment_path(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{suffix}"))
}

/// One segment of a partition's log.
#[derive(Debug)]
pub struct LogSegment {
    base_offset: i64,
    log_path: PathBuf,
    log: SharedFile,
    fs: SharedFs,
    size: u64,
    next_offset: i64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    bytes_since_last_index_entry: u64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    /// When the segment got its first batch: `segment.ms` counts from here. The broker's clock at the
    /// first append (not the producer's timestamp, so that producers replaying old data do not make
    /// every append roll); after a restart, the first batch's max timestamp.
    rolling_timestamp_ms: Option<i64>,
    /// Whether batches may skip offsets (a compacted segment: the cleaner removed batches between them).
    offset_gaps: bool,
}

fn open_log_file(fs: &SharedFs, path: &Path, truncate: bool) -> Result<SharedFile, LogError> {
    let mode = if truncate {
        OpenMode::CREATE_TRUNCATE
    } else {
        OpenMode::CREATE
    };
    fs.open(path, mode).map_err(io_error("open segment", path))
}

impl LogSegment {
    /// Creates a new empty segment (truncating leftovers with the same name) with empty indexes.
    pub fn create(fs: &SharedFs, dir: &Path, base_offset: i64) -> Result<Self, LogError> {
        let log_path = segment_path(dir, base_offset, LOG_FILE_SUFFIX);
        let log = open_log_file(fs, &log_path, true)?;
        Self::with_fresh_indexes(fs, dir, base_offset, log_path, log)
    }

    /// Creates the empty segment the cleaner writes beside the originals: every file name carries the
    /// `.{suffix}` (`cleaned`) suffix until the swap renames it.
    pub(crate) fn create_beside(
        fs: &SharedFs,
        dir: &Path,
        base_offset: i64,
        suffix: &str,
    ) -> Result<Self, LogError> {
        let name = |file: &str| segment_path(dir, base_offset, &format!("{file}.{suffix}"));
        let log_path = name(LOG_FILE_SUFFIX);
        let log = open_log_file(fs, &log_path, true)?;
        let mut segment = Self::with_index_paths(
            fs,
            base_offset,
            log_path,
            log,
            (&name(INDEX_FILE_SUFFIX), &name(TIME_INDEX_FILE_SUFFIX)),
        )?;
        segment.offset_gaps = true;
        Ok(segment)
    }

    /// Opens an existing segment file for recovery: its indexes are recreated empty and the caller feeds
    /// every valid batch to [`LogSegment::account_batch`], then truncates with
    /// [`LogSegment::truncate_file`].
    pub fn open_for_recovery(
        fs: &SharedFs,
        dir: &Path,
        base_offset: i64,
    ) -> Result<Self, LogError> {
        let log_path = segment_path(dir, base_offset, LOG_FILE_SUFFIX);
        let log = open_log_file(fs, &log_path, false)?;
        Self::with_fresh_indexes(fs, dir, base_offset, log_path, log)
    }

    fn with_fresh_indexes(
        fs: &SharedFs,
        dir: &Path,
        base_offset: i64,
        log_path: PathBuf,
        log: SharedFile,
    ) -> Result<Self, LogError> {
        let index_path = segment_path(dir, base_offset, INDEX_FILE_SUFFIX);
        let time_index_path = segment_path(dir, base_offset, TIME_INDEX_FILE_SUFFIX);
        Self::with_index_paths(
            fs,
            base_offset,
            log_path,
            log,
            (&index_path, &time_index_path),
        )
    }

    fn with_index_paths(
        fs: &SharedFs,
        base_offset: i64,
        log_path: PathBuf,
        log: SharedFile,
        (index_path, time_index_path): (&Path, &Path),
    ) -> Result<Self, LogError> {
        Ok(Self {
            base_offset,
            log_path,
            log,
            fs: Arc::clone(fs),
            size: 0,
            next_offset: base_offset,
            offset_index: OffsetIndex::create(fs.as_ref(), index_path)?,
            time_index: TimeIndex::create(fs.as_ref(), time_index_path)?,
            bytes_since_last_index_entry: 0,
            max_timestamp: NO_TIMESTAMP,
            offset_of_max_timestamp: base_offset,
            rolling_timestamp_ms: None,
            offset_gaps: false,
        })
    }

    /// Opens a closed segment whose data is below the recovery point, trusting its index files if they
    /// are consistent. `Ok(None)` if an index is missing or inconsistent (the caller then recovers it).
    /// `next_offset` is the next segment's base offset.
    pub fn open_trusted(
        fs: &SharedFs,
        dir: &Path,
        base_offset: i64,
        next_offset: i64,
    ) -> Result<Option<Self>, LogError> {
        let log_path = segment_path(dir, base_offset, LOG_FILE_SUFFIX);
        let log = open_log_file(fs, &log_path, false)?;
        let size = log.len().map_err(io_error("stat segment", &log_path))?;
        let index_path = segment_path(dir, base_offset, INDEX_FILE_SUFFIX);
        let Some(offset_index) = OffsetIndex::load(fs.as_ref(), &index_path, size.max(1))? else {
            return Ok(None);
        };
        let Some(time_index) = TimeIndex::load(
            fs.as_ref(),
            &segment_path(dir, base_offset, TIME_INDEX_FILE_SUFFIX),
        )?
        else {
            return Ok(None);
        };
        let span = next_offset - base_offset;
        let last_time = time_index.last();
        let index_beyond = |relative: u32| i64::from(relative) >= span;
        if offset_index
            .entries()
            .last()
            .is_some_and(|e| index_beyond(e.relative_offset))
            || last_time.is_some_and(|e| index_beyond(e.relative_offset))
            || (size > 0 && last_time.is_none())
        {
            return Ok(None);
        }
        let (max_timestamp, offset_of_max_timestamp) = match last_time {
            Some(e) => (e.timestamp, base_offset + i64::from(e.relative_offset)),
            None => (NO_TIMESTAMP, base_offset),
        };
        Ok(Some(Self {
            base_offset,
            log_path,
            log,
            fs: Arc::clone(fs),
            size,
            next_offset,
            offset_index,
            time_index,
            bytes_since_last_index_entry: 0,
            max_timestamp,
            offset_of_max_timestamp,
            rolling_timestamp_ms: None,
            offset_gaps: false,
        }))
    }

    /// Reopens a segment whose data up to `at.position` is durable and valid (the recovery
    /// checkpoint says so), with the checkpointed index prefixes, ready for recovery to scan the rest
    /// from `at.position` ([`LogSegment::account_batch`], then [`LogSegment::truncate_file`]).
    /// `next_offset` is the recovery point. `Ok(None)` if the files do not hold what the checkpoint
    /// describes (the caller then recovers the whole segment).
    pub fn open_resumed(
        fs: &SharedFs,
        dir: &Path,
        at: &RecoveryPosition,
        next_offset: i64,
    ) -> Result<Option<Self>, LogError> {
        let base_offset = at.segment_base;
        let log_path = segment_path(dir, base_offset, LOG_FILE_SUFFIX);
        let log = open_log_file(fs, &log_path, false)?;
        let file_len = log.len().map_err(io_error("stat segment", &log_path))?;
        if file_len < at.position {
            return Ok(None);
        }
        let index_path = segment_path(dir, base_offset, INDEX_FILE_SUFFIX);
        let Some(offset_index) =
            OffsetIndex::load_prefix(fs.as_ref(), &index_path, at.index_entries, at.position)?
        else {
            return Ok(None);
        };
        let time_index_path = segment_path(dir, base_offset, TIME_INDEX_FILE_SUFFIX);
        let Some(time_index) =
            TimeIndex::load_prefix(fs.as_ref(), &time_index_path, at.time_entries)?
        else {
            return Ok(None);
        };
        let span = next_offset - base_offset;
        let beyond = |relative: u32| i64::from(relative) >= span.max(1);
        if offset_index
            .entries()
            .last()
            .is_some_and(|e| beyond(e.relative_offset))
            || time_index.last().is_some_and(|e| beyond(e.relative_offset))
        {
            return Ok(None);
        }
        let last_indexed = offset_index
            .entries()
            .last()
            .map_or(0, |e| u64::from(e.position));
        Ok(Some(Self {
            base_offset,
            log_path,
            log,
            fs: Arc::clone(fs),
            size: at.position,
            next_offset,
            offset_index,
            time_index,
            // Approximate (the batch sizes after the last entry are not known): at most one index
            // interval early, which only makes the index a little denser.
            bytes_since_last_index_entry: at.position.saturating_sub(last_indexed),
            max_timestamp: at.max_timestamp,
            offset_of_max_timestamp: at.offset_of_max_timestamp,
            rolling_timestamp_ms: (at.rolling_timestamp_ms >= 0).then_some(at.rolling_timestamp_ms),
            offset_gaps: false,
        }))
    }

    /// Where this segment ends now, for a recovery checkpoint taken once its data and indexes are
    /// fsynced.
    pub fn recovery_position(&self) -> RecoveryPosition {
        RecoveryPosition {
            segment_base: self.base_offset,
            position: self.size,
            index_entries: self.offset_index.entries().len() as u64,
            time_entries: self.time_index.entries().len() as u64,
            max_timestamp: self.max_timestamp,
            offset_of_max_timestamp: self.offset_of_max_timestamp,
            rolling_timestamp_ms: self.rolling_timestamp_ms.unwrap_or(-1),
        }
    }

    /// The two index files (fsynced before a recovery checkpoint names their entry counts).
    pub fn index_files(&self) -> [SharedFile; 2] {
        [self.offset_index.file(), self.time_index.file()]
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Offset the next batch appended here would get.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp
    }

    pub fn rolling_timestamp_ms(&self) -> Option<i64> {
        self.rolling_timestamp_ms
    }

    /// Lets batches skip offsets (the segment was compacted by the log cleaner).
    pub(crate) fn allow_offset_gaps(&mut self) {
        self.offset_gaps = true;
    }

    /// Moves the next offset up to `next_offset` (the next segment's base): a compacted segment's last
    /// records may have been cleaned away, and its offsets still run up to the next segment.
    pub(crate) fn extend_next_offset(&mut self, next_offset: i64) {
        assert!(
            next_offset >= self.next_offset,
            "a segment's next offset only grows"
        );
        self.next_offset = next_offset;
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Shared handle of the data file, for fsync outside the log's lock.
    pub fn file(&self) -> SharedFile {
        Arc::clone(&self.log)
    }

    /// Appends one batch whose header already carries its final offsets.
    pub fn append(
        &mut self,
        batch: &[u8],
        header: &RecordBatchHeader,
        index_interval_bytes: u64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let position = self.size;
        self.log
            .write_all_at(batch, position)
            .map_err(io_error("append to segment", &self.log_path))?;
        self.rolling_timestamp_ms.get_or_insert(now_ms);
        self.account_batch(header, position, index_interval_bytes)
    }

    /// Records a batch stored at `position` (already in the file): sizes, offsets, max timestamp and, every
    /// `index_interval_bytes`, index entries pointing at this batch.
    pub fn account_batch(
        &mut self,
        header: &RecordBatchHeader,
        position: u64,
        index_interval_bytes: u64,
    ) -> Result<(), LogError> {
        let total = header.total_bytes() as u64;
        if self.rolling_timestamp_ms.is_none() && header.max_timestamp >= 0 {
            self.rolling_timestamp_ms = Some(header.max_timestamp);
        }
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.last_offset();
        }
        if self.bytes_since_last_index_entry >= index_interval_bytes {
            let relative_offset = self.relative(header.base_offset);
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            self.offset_index.append(OffsetEntry {
                relative_offset,
                position,
            })?;
            self.time_index.maybe_append(self.max_time_entry())?;
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += total;
        self.size = position + total;
        self.next_offset = header.last_offset() + 1;
        Ok(())
    }

    fn max_time_entry(&self) -> TimeEntry {
        TimeEntry {
            timestamp: self.max_timestamp,
            relative_offset: self.relative(self.offset_of_max_timestamp),
        }
    }

    /// Offset relative to the base offset. Offsets in a segment span less than `u32::MAX` (the log rolls
    /// before that), so the saturation never triggers for stored data.
    pub fn relative(&self, offset: i64) -> u32 {
        u32::try_from((offset - self.base_offset).max(0)).unwrap_or(u32::MAX)
    }

    /// Cuts the data file to `size` bytes (recovery drops a bad tail).
    pub fn truncate_file(&mut self, size: u64) -> Result<(), LogError> {
        self.log
            .set_len(size)
            .map_err(io_error("truncate segment", &self.log_path))?;
        self.log
            .sync_all()
            .map_err(io_error("fsync segment", &self.log_path))?;
        self.size = size;
        Ok(())
    }

    /// Makes the segment immutable: writes the final time index entry and fsyncs data and indexes.
    pub fn close_for_roll(&mut self) -> Result<(), LogError> {
        if !self.is_empty() {
            self.time_index.maybe_append(self.max_time_entry())?;
        }
        self.log
            .sync_data()
            .map_err(io_error("fsync segment", &self.log_path))?;
        self.offset_index.sync()?;
        self.time_index.sync()
    }

    /// fsyncs data and indexes (clean shutdown).
    pub fn sync_all(&self) -> Result<(), LogError> {
        self.log
            .sync_data()
            .map_err(io_error("fsync segment", &self.log_path))?;
        self.offset_index.sync()?;
        self.time_index.sync()
    }

    /// Decodes the batch header stored at `position`.
    pub fn read_header_at(&self, position: u64) -> Result<RecordBatchHeader, LogError> {
        let mut buf = [0u8; RECORD_BATCH_HEADER_BYTES];
        self.log
            .read_exact_at(&mut buf, position)
            .map_err(io_error("read batch header", &self.log_path))?;
        let corrupt = |source: LogError| LogError::CorruptSegment {
            path: self.log_path.clone(),
            position,
            source: Box::new(source),
        };
        let header = RecordBatchHeader::parse(&buf).map_err(corrupt)?;
        let available = self.size.saturating_sub(position);
        if header.total_bytes() as u64 > available {
            return Err(corrupt(LogError::InsufficientLength {
                needed: header.total_bytes(),
                available: available as usize,
            }));
        }
        Ok(header)
    }

    /// Position of the batch that holds `offset`, or `None` if the segment ends before it.
    pub fn find_position(&self, offset: i64) -> Result<Option<u64>, LogError> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let mut position = self.offset_index.lookup(self.relative(offset));
        while position < self.size {
            let header = self.read_header_at(position)?;
            if header.last_offset() >= offset {
                return Ok(Some(position));
            }
            position += header.total_bytes() as u64;
        }
        Ok(None)
    }

    /// Appends to `out` the whole batches starting at `position` that fit in `max_bytes`, or the first
    /// batch alone if none fits and `at_least_one`. Returns whether the read reached the segment's end
    /// (so that the caller may continue with the next segment).
    pub fn read_batches(
        &self,
        position: u64,
        max_bytes: usize,
        at_least_one: bool,
        out: &mut Vec<u8>,
    ) -> Result<bool, LogError> {
        let mut end = position;
        while end < self.size {
            // A header that does not parse after the first batch ends this read before it; the next
            // read starts there and reports it.
            let total = match self.read_header_at(end) {
                Ok(header) => header.total_bytes() as u64,
                Err(e) if end == position => return Err(e),
                Err(_) => break,
            };
            if end + total - position > max_bytes as u64 {
                if at_least_one && end == position {
                    end += total;
                }
                break;
            }
            end += total;
        }
        let len = (end - position) as usize;
        let start = out.len();
        out.resize(start + len, 0);
        self.log
            .read_exact_at(&mut out[start..], position)
            .map_err(io_error("read segment", &self.log_path))?;
        // Check data on the way back too: segments below the recovery point are not re-validated at
        // open, so damage there must surface as an error, never be served. Batches before the bad one
        // are still returned; the next read starts at the bad one and fails.
        let valid =
            self.valid_prefix(&out[start..])
                .map_err(|source| LogError::CorruptSegment {
                    path: self.log_path.clone(),
                    position,
                    source: Box::new(source),
                })?;
        if valid < len {
            out.truncate(start + valid);
            return Ok(false);
        }
        Ok(end >= self.size)
    }

    /// Bytes of the batches at the start of `bytes` that pass their CRC32C and sit where they belong
    /// (inside this segment's offsets, each right after the previous one; the CRC does not cover the
    /// base offset). An error if the first batch fails.
    fn valid_prefix(&self, bytes: &[u8]) -> Result<usize, LogError> {
        let mut at = 0;
        let mut previous_last_offset: Option<i64> = None;
        while at < bytes.len() {
            let checked = validate_batch(&bytes[at..]).and_then(|header| {
                let in_place = header.base_offset >= self.base_offset
                    && header.last_offset() >= header.base_offset
                    && header.last_offset() < self.next_offset
                    && previous_last_offset.is_none_or(|last| {
                        header.base_offset == last + 1
                            || (self.offset_gaps && header.base_offset > last)
                    });
                if in_place {
                    Ok(header)
                } else {
                    Err(LogError::InvalidRecordBatch {
                        reason: "stored batch offsets out of place",
                    })
                }
            });
            match checked {
                Ok(header) => {
                    previous_last_offset = Some(header.last_offset());
                    at += header.total_bytes();
                }
                Err(e) if at == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(at)
    }

    /// The first record whose timestamp is `>= timestamp`: (offset, its timestamp). The time index
    /// gives a batch at or before the answer; batch headers are scanned from there and the first batch
    /// whose max timestamp reaches `timestamp` is read record by record (Kafka's
    /// `LogSegment.findOffsetByTimestamp`).
    pub fn find_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        if self.max_timestamp < timestamp {
            return Ok(None);
        }
        let start = self
            .time_index
            .lookup_before(timestamp)
            .map_or(0, |e| e.relative_offset);
        let mut position = self.offset_index.lookup(start);
        while position < self.size {
            let header = self.read_header_at(position)?;
            if header.max_timestamp >= timestamp {
                let batch = self.read_batch_at(position, &header)?;
                if let Some(record) = find_record(&batch, |r| r.timestamp >= timestamp)? {
                    return Ok(Some((record.offset, record.timestamp)));
                }
            }
            position += header.total_bytes() as u64;
        }
        Ok(None)
    }

    /// The first record that carries the segment's largest timestamp: (timestamp, offset), or `None`
    /// when the segment is empty. The batch that first reached the maximum holds it.
    pub fn max_timestamp_record(&self) -> Result<Option<(i64, i64)>, LogError> {
        if self.is_empty() {
            return Ok(None);
        }
        let (max_timestamp, batch_offset) = (self.max_timestamp, self.offset_of_max_timestamp);
        let Some(position) = self.find_position(batch_offset)? else {
            return Ok(Some((max_timestamp, batch_offset)));
        };
        let header = self.read_header_at(position)?;
        let batch = self.read_batch_at(position, &header)?;
        let record = find_record(&batch, |r| r.timestamp == max_timestamp)?;
        Ok(Some((
            max_timestamp,
            record.map_or(batch_offset, |r| r.offset),
        )))
    }

    /// The whole batch at `position`, whose header is `header`, with its base offset as stored.
    fn read_batch_at(
        &self,
        position: u64,
        header: &RecordBatchHeader,
    ) -> Result<Vec<u8>, LogError> {
        let mut batch = vec![0u8; header.total_bytes()];
        self.log
            .read_exact_at(&mut batch, position)
            .map_err(io_error("read batch", &self.log_path))?;
        Ok(batch)
    }

    /// Deletes the segment's files.
    pub fn delete_files(self) -> Result<(), LogError> {
        let dir = self
            .log_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for suffix in [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
            let path = segment_path(&dir, self.base_offset, suffix);
            match self.fs.remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("delete segment file", &path)(e)),
            }
        }
        Ok(())
    }
}
