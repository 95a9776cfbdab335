//! [`Log`]: one partition's segmented log, the API the broker codes against.
//!
//! The log owns an ordered list of [`LogSegment`]s (the last one is active and takes appends), the
//! recovery point (offset below which everything is fsynced) and the idempotent-producer state. It
//! assigns offsets, decides when to roll, serves reads across segment boundaries and hands out
//! [`FlushTarget`]s for group commit. Opening goes through `recovery.rs`, retention lives in
//! `retention.rs`. What it is not: thread-safe by itself; the broker wraps it in a `RwLock` (appends
//! exclusive, reads shared — every read path here takes `&self` and uses positional I/O).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::batch::{
    set_base_offset, set_log_append_time, set_partition_leader_epoch, split_batches,
    RecordBatchHeader,
};
use crate::checkpoint::{
    read_cleaner_checkpoint, read_log_start_offset, sync_dir, write_atomically,
    write_clean_shutdown, write_cleaner_checkpoint, write_recovery_checkpoint, CleanShutdown,
    RecoveryCheckpoint,
};
use crate::config::{LogConfig, TimestampType};
use crate::error::{io_error, LogError};
use crate::fs::{SharedFile, SharedFs};
use crate::producer_state::{ProducerStateManager, SequenceCheck, PRODUCER_SNAPSHOT_FILE};
use crate::recovery::LogLoader;
use crate::segment::{LogSegment, SEGMENT_BYTES_MAX};

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record appended (or, for a duplicate, of the original append).
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// Largest record timestamp among the appended batches.
    pub max_timestamp: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// The broker time the batches were stamped with under LogAppendTime; `None` under CreateTime.
    pub log_append_time: Option<i64>,
    /// True when an idempotent producer retried batches that were already appended: nothing was written
    /// and the offsets are those of the original append.
    pub duplicate: bool,
}

/// How often (at most) a group commit also writes the recovery checkpoint, so that after a crash
/// recovery scans only what was appended since (about this long of appends).
pub const RECOVERY_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// The last recovery checkpoint written, shared by the log and its flush targets (which write it
/// outside the log's lock); its mutex also serialises the writes.
#[derive(Debug)]
struct CheckpointState {
    offset: i64,
    written_at: Option<Instant>,
}

/// A recovery checkpoint a flush target writes once its data is synced.
#[derive(Debug)]
struct PendingCheckpoint {
    fs: SharedFs,
    dir: PathBuf,
    state: Arc<Mutex<CheckpointState>>,
    index_files: Vec<SharedFile>,
    checkpoint: RecoveryCheckpoint,
    producer_snapshot: String,
}

impl PendingCheckpoint {
    fn write(&self) -> Result<(), LogError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.offset >= self.checkpoint.offset {
            return Ok(()); // a roll or a later flush wrote a newer one meanwhile
        }
        for file in &self.index_files {
            file.sync_data()
                .map_err(io_error("fsync index", &self.dir))?;
        }
        write_atomically(
            self.fs.as_ref(),
            &self.dir,
            PRODUCER_SNAPSHOT_FILE,
            self.producer_snapshot.as_bytes(),
        )?;
        write_recovery_checkpoint(self.fs.as_ref(), &self.dir, &self.checkpoint)?;
        state.offset = self.checkpoint.offset;
        state.written_at = Some(Instant::now());
        Ok(())
    }
}

/// Files to fsync so that the log is durable up to `up_to_offset` (exclusive). Taken under the log's
/// lock, synced outside it, then reported back with [`Log::mark_flushed`].
#[derive(Debug)]
pub struct FlushTarget {
    /// Everything below this offset is durable once `sync` returns.
    pub up_to_offset: i64,
    files: Vec<(SharedFile, PathBuf)>,
    /// Every [`RECOVERY_CHECKPOINT_INTERVAL`], the recovery checkpoint at `up_to_offset`.
    checkpoint: Option<PendingCheckpoint>,
}

impl FlushTarget {
    /// fsyncs the data files (fdatasync) and, when one is due, writes the recovery checkpoint:
    /// [`FlushTarget::sync_data`] then [`FlushTarget::write_checkpoint`]. Takes no lock of the log.
    pub fn sync(&self) -> Result<(), LogError> {
        self.sync_data()?;
        self.write_checkpoint()
    }

    /// fsyncs the data files (fdatasync): once it returns, everything below `up_to_offset` is
    /// durable.
    pub fn sync_data(&self) -> Result<(), LogError> {
        for (file, path) in &self.files {
            file.sync_data().map_err(io_error("fsync segment", path))?;
        }
        Ok(())
    }

    /// Writes the recovery checkpoint at `up_to_offset` if one is due (fsyncing the active
    /// segment's index files first); call only after [`FlushTarget::sync_data`] returned. The broker
    /// does it after answering the producers, so that acknowledgements never wait for it; a failure
    /// only means a longer recovery scan.
    pub fn write_checkpoint(&self) -> Result<(), LogError> {
        match &self.checkpoint {
            Some(checkpoint) => checkpoint.write(),
            None => Ok(()),
        }
    }

    /// Whether [`FlushTarget::write_checkpoint`] has anything to do.
    pub fn checkpoint_due(&self) -> bool {
        self.checkpoint.is_some()
    }

    /// Whether there is nothing to sync (everything below `up_to_offset` is already durable).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// One partition's log.
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    /// Every file operation goes through here (`std::fs` unless opened with [`Log::open_with_fs`]).
    fs: SharedFs,
    config: LogConfig,
    /// Sorted by base offset and never empty: the last segment is the active one.
    segments: Vec<LogSegment>,
    recovery_point: i64,
    producers: ProducerStateManager,
    /// The log cleaner's checkpoint: offsets below it have been cleaned at least once.
    first_dirty_offset: i64,
    /// Earliest delete horizon among retained tombstones (KIP-534): once it passes, a clean can remove
    /// some. In memory only; after a restart the next dirty-ratio clean finds them again.
    next_delete_horizon_ms: Option<i64>,
    checkpoint_state: Arc<Mutex<CheckpointState>>,
    checkpoint_interval: Duration,
    clean_shutdown: bool,
    /// The log start offset DeleteRecords set (persisted in `log-start-offset-checkpoint`); the
    /// effective log start is the larger of it and the first segment's base offset.
    log_start_offset: i64,
}

impl Log {
    /// Opens (creating if needed) the log in `dir`, recovering from a crash: validates every batch after
    /// the last recovery checkpoint, truncates the first bad one and all after it, rebuilds indexes and the
    /// idempotent-producer state.
    pub fn open(dir: &Path, config: LogConfig) -> Result<Log, LogError> {
        Self::open_with_fs(crate::fs::real(), dir, config)
    }

    /// [`Log::open`] through the file system `fs` (the simulated disk of the crash tests, a counting
    /// wrapper).
    pub fn open_with_fs(fs: SharedFs, dir: &Path, config: LogConfig) -> Result<Log, LogError> {
        let loaded =
            LogLoader::with_fs(Arc::clone(&fs), dir, config.index_interval_bytes).load()?;
        let first_dirty_offset = read_cleaner_checkpoint(fs.as_ref(), dir)?.unwrap_or(0);
        let log_end_offset = loaded.segments.last().map_or(0, LogSegment::next_offset);
        // Recovery may have truncated a torn tail below a checkpointed log start: never past the end.
        let log_start_offset = read_log_start_offset(fs.as_ref(), dir)?
            .unwrap_or(0)
            .min(log_end_offset);
        Ok(Log {
            dir: dir.to_path_buf(),
            fs,
            config,
            segments: loaded.segments,
            recovery_point: loaded.recovery_point,
            producers: loaded.producers,
            first_dirty_offset,
            next_delete_horizon_ms: None,
            checkpoint_state: Arc::new(Mutex::new(CheckpointState {
                offset: loaded.recovery_point,
                written_at: None,
            })),
            checkpoint_interval: RECOVERY_CHECKPOINT_INTERVAL,
            clean_shutdown: loaded.clean_shutdown,
            log_start_offset,
        })
    }

    /// Whether the last close before this open was clean ([`Log::close`]): recovery then scanned
    /// nothing.
    pub fn opened_cleanly(&self) -> bool {
        self.clean_shutdown
    }

    /// How often group commits also write the recovery checkpoint (default
    /// [`RECOVERY_CHECKPOINT_INTERVAL`]; zero: at every flush).
    pub fn set_checkpoint_interval(&mut self, interval: Duration) {
        self.checkpoint_interval = interval;
    }

    /// Flushes everything and writes the recovery checkpoint and the clean-shutdown marker (shutdown):
    /// the next open reads no segment data. Appends after it are still recovered correctly (the marker
    /// only says the close was clean when the checkpoint still matches it).
    pub fn close(&mut self) -> Result<(), LogError> {
        self.flush()?;
        let marker = CleanShutdown {
            log_end_offset: self.log_end_offset(),
            modified: active_file_stamps(self.fs.as_ref(), &self.dir, self.active())?,
        };
        write_clean_shutdown(self.fs.as_ref(), &self.dir, &marker)
    }

    /// Opens several logs at once on up to `threads` threads (start-up: with a cold page cache
    /// opening is bound by I/O latency, which parallel opens overlap). The logs come back in the order
    /// of `logs`; the first error wins.
    pub fn open_all(logs: &[(PathBuf, LogConfig)], threads: usize) -> Result<Vec<Log>, LogError> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let opened: Mutex<Vec<Option<Result<Log, LogError>>>> =
            Mutex::new((0..logs.len()).map(|_| None).collect());
        std::thread::scope(|scope| {
            for _ in 0..threads.clamp(1, logs.len().max(1)) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((dir, config)) = logs.get(i) else {
                        break;
                    };
                    let log = Log::open(dir, config.clone());
                    let failed = log.is_err();
                    opened.lock().unwrap_or_else(PoisonError::into_inner)[i] = Some(log);
                    if failed {
                        next.store(logs.len(), std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
        });
        let opened = opened.into_inner().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::with_capacity(logs.len());
        for log in opened {
            match log {
                Some(log) => out.push(log?),
                None => {
                    return Err(LogError::InvalidRecordBatch {
                        reason: "log not opened: an earlier one failed",
                    })
                }
            }
        }
        Ok(out)
    }

    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file system the log goes through.
    pub fn fs(&self) -> SharedFs {
        Arc::clone(&self.fs)
    }

    /// The partition's configuration.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Replaces the configuration (takes effect at the next append or retention pass).
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// First offset still served: the first segment's base offset, or further on where DeleteRecords
    /// moved it (then inside the first segment).
    pub fn log_start_offset(&self) -> i64 {
        let first_base_offset = self.segments.first().map_or(0, LogSegment::base_offset);
        self.log_start_offset.max(first_base_offset)
    }

    /// Offset the next appended record will get (= high watermark on one node).
    pub fn log_end_offset(&self) -> i64 {
        self.segments.last().map_or(0, LogSegment::next_offset)
    }

    /// Number of segments (the active one included).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.iter().map(LogSegment::base_offset).collect()
    }

    /// Appends one or more concatenated v2 batches as received from a producer: validates each (length,
    /// magic, CRC, `max_message_bytes`), checks idempotent-producer sequences, assigns offsets and writes.
    /// Does not fsync. A whole request is rejected if any batch is invalid (nothing is written).
    pub fn append(&mut self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let batches = split_batches(records)?;
        self.check_timestamps(&batches, now_ms)?;
        let planned = match self.plan_append(&batches)? {
            Plan::Append(planned) => planned,
            Plan::Duplicate(info) => return Ok(info),
        };
        let mut buf = records.to_vec();
        let mut max_timestamp = crate::segment::NO_TIMESTAMP;
        let log_append_time =
            (self.config.timestamp_type == TimestampType::LogAppendTime).then_some(now_ms);
        for (header, range) in &planned {
            let Some(batch) = buf.get_mut(range.clone()) else {
                return Err(LogError::InvalidRecordBatch {
                    reason: "batch outside request",
                });
            };
            set_base_offset(batch, header.base_offset);
            set_partition_leader_epoch(batch, 0);
            let mut header = *header;
            if log_append_time.is_some() {
                set_log_append_time(batch, now_ms);
                header.max_timestamp = now_ms;
                header.attributes |= crate::batch::ATTRIBUTE_LOG_APPEND_TIME;
            }
            let header = &header;
            self.maybe_roll(batch.len() as u64, header.last_offset(), now_ms)?;
            let interval = self.config.index_interval_bytes;
            self.active_mut().append(batch, header, interval, now_ms)?;
            self.producers.update(header);
            max_timestamp = max_timestamp.max(header.max_timestamp);
        }
        let (first, last) = match (planned.first(), planned.last()) {
            (Some(first), Some(last)) => (first.0.base_offset, last.0.last_offset()),
            _ => {
                return Err(LogError::InvalidRecordBatch {
                    reason: "no record batch",
                })
            }
        };
        Ok(AppendInfo {
            base_offset: first,
            last_offset: last,
            max_timestamp,
            log_start_offset: self.log_start_offset(),
            log_append_time,
            duplicate: false,
        })
    }

    /// Under CreateTime, refuses the request if a batch's timestamps fall outside the configured
    /// bounds around `now_ms` (Kafka's `message.timestamp.before/after.max.ms`). The batch header's
    /// base timestamp (the first record's) and max timestamp are checked.
    fn check_timestamps(
        &self,
        batches: &[(RecordBatchHeader, std::ops::Range<usize>)],
        now_ms: i64,
    ) -> Result<(), LogError> {
        let config = &self.config;
        if config.timestamp_type != TimestampType::CreateTime {
            return Ok(());
        }
        let bound = |ms: Option<u64>| ms.map(|ms| i64::try_from(ms).unwrap_or(i64::MAX));
        let (before, after) = (
            bound(config.timestamp_before_max_ms),
            bound(config.timestamp_after_max_ms),
        );
        if before.is_none() && after.is_none() {
            return Ok(());
        }
        let min = before.map_or(i64::MIN, |b| now_ms.saturating_sub(b));
        let max = after.map_or(i64::MAX, |a| now_ms.saturating_add(a));
        for (header, _) in batches {
            for timestamp in [header.base_timestamp, header.max_timestamp] {
                if timestamp < min || timestamp > max {
                    return Err(LogError::InvalidTimestamp {
                        timestamp,
                        offset: header.base_offset,
                        min,
                        max,
                    });
                }
            }
        }
        Ok(())
    }

    /// Checks sizes and producer sequences and assigns offsets, without writing anything.
    fn plan_append(
        &self,
        batches: &[(RecordBatchHeader, std::ops::Range<usize>)],
    ) -> Result<Plan, LogError> {
        if batches.is_empty() {
            return Err(LogError::InvalidRecordBatch {
                reason: "no record batch",
            });
        }
        // Several batches of one producer in one request must be checked against each other: use a
        // scratch copy of the state (rare; the common request holds one batch per partition).
        let mut scratch = (batches.len() > 1).then(|| self.producers.clone());
        let mut next_offset = self.log_end_offset();
        let mut planned = Vec::with_capacity(batches.len());
        for (received, range) in batches {
            let size = received.total_bytes();
            if size as u64 > self.config.max_message_bytes {
                return Err(LogError::BatchTooLarge {
                    size,
                    max: self.config.max_message_bytes,
                });
            }
            if received.last_offset_delta < 0 {
                return Err(LogError::InvalidRecordBatch {
                    reason: "negative lastOffsetDelta",
                });
            }
            let mut header = *received;
            header.base_offset = next_offset;
            header.partition_leader_epoch = 0;
            // Control batches (transaction markers) carry no sequence numbers.
            if header.has_producer_id() && !header.is_control() {
                let state = scratch.as_ref().unwrap_or(&self.producers);
                if let SequenceCheck::Duplicate(original) = state.check(&header)? {
                    return Ok(Plan::Duplicate(AppendInfo {
                        base_offset: original.base_offset,
                        last_offset: original.last_offset,
                        max_timestamp: original.max_timestamp,
                        log_start_offset: self.log_start_offset(),
                        log_append_time: None,
                        duplicate: true,
                    }));
                }
                if let Some(state) = scratch.as_mut() {
                    state.update(&header);
                }
            }
            next_offset = header.last_offset() + 1;
            planned.push((header, range.clone()));
        }
        Ok(Plan::Append(planned))
    }

    fn active(&self) -> Option<&LogSegment> {
        self.segments.last()
    }

    fn active_mut(&mut self) -> &mut LogSegment {
        // The segment list is never empty: open creates segment 0 and retention never removes the last.
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    /// Rolls before appending a batch of `batch_bytes` ending at `last_offset` if the active segment
    /// would grow past `segment_bytes`, is older than `segment_ms`, or could not index the offset.
    fn maybe_roll(
        &mut self,
        batch_bytes: u64,
        last_offset: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let Some(active) = self.active() else {
            return Ok(());
        };
        if active.is_empty() {
            return Ok(());
        }
        let segment_bytes = self.config.segment_bytes.min(SEGMENT_BYTES_MAX);
        let full = active.size() + batch_bytes > segment_bytes;
        let old = match (self.config.roll_ms(), active.rolling_timestamp_ms()) {
            (Some(segment_ms), Some(first_ms)) => {
                now_ms.saturating_sub(first_ms) > i64::try_from(segment_ms).unwrap_or(i64::MAX)
            }
            _ => false,
        };
        let offsets_overflow = last_offset - active.base_offset() > i64::from(u32::MAX);
        if full || old || offsets_overflow {
            self.roll()?;
        }
        Ok(())
    }

    /// Closes the active segment (fsyncing it) and starts a new one at the log end offset. Every segment
    /// is then durable, so the recovery point moves to the log end offset and is checkpointed.
    pub(crate) fn roll(&mut self) -> Result<(), LogError> {
        let base_offset = self.log_end_offset();
        self.active_mut().close_for_roll()?;
        self.segments
            .push(LogSegment::create(&self.fs, &self.dir, base_offset)?);
        sync_dir(self.fs.as_ref(), &self.dir)?;
        self.recovery_point = self.recovery_point.max(base_offset);
        self.write_checkpoints()?;
        tracing::debug!(dir = %self.dir.display(), base_offset, "rolled to a new segment");
        Ok(())
    }

    /// Reads whole batches starting with the one that contains `offset`, up to `max_bytes` but always at
    /// least one whole batch when `offset < log_end_offset`. Empty at the log end offset;
    /// `OffsetOutOfRange` below the log start offset or above the log end offset.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Vec<u8>, LogError> {
        self.read_within(offset, max_bytes, true)
    }

    /// Reads whole batches starting with the one that contains `offset`, up to `max_bytes`. With
    /// `min_one_batch` the first batch is returned even when it alone exceeds `max_bytes` (Kafka's
    /// `minOneMessage`, KIP-74: only the first non-empty partition of a fetch gets it); without it the
    /// read never exceeds `max_bytes` and may be empty. The offset range is checked either way, so a
    /// fetch that has no room left still learns OFFSET_OUT_OF_RANGE.
    pub fn read_within(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<Vec<u8>, LogError> {
        let (log_start_offset, log_end_offset) = (self.log_start_offset(), self.log_end_offset());
        if offset < log_start_offset || offset > log_end_offset {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                log_start_offset,
                log_end_offset,
            });
        }
        let mut out = Vec::new();
        let first = self
            .segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1);
        let mut from_offset = Some(offset);
        for segment in self.segments.iter().skip(first) {
            let position = match from_offset.take() {
                Some(offset) => match segment.find_position(offset)? {
                    Some(position) => position,
                    None => continue,
                },
                None => 0,
            };
            if segment.is_empty() {
                continue;
            }
            let room = max_bytes.saturating_sub(out.len());
            let at_least_one = min_one_batch && out.is_empty();
            let reached_end = segment.read_batches(position, room, at_least_one, &mut out)?;
            if !reached_end || out.len() >= max_bytes {
                break;
            }
        }
        Ok(out)
    }

    /// The files that hold unflushed data and the offset they cover.
    pub fn flush_target(&self) -> FlushTarget {
        let files: Vec<_> = self
            .segments
            .iter()
            .filter(|s| !s.is_empty() && s.next_offset() > self.recovery_point)
            .map(|s| (s.file(), s.log_path().to_path_buf()))
            .collect();
        let up_to_offset = self.log_end_offset();
        FlushTarget {
            up_to_offset,
            checkpoint: self.pending_checkpoint(up_to_offset),
            files,
        }
    }

    /// The recovery checkpoint a flush target should write, if the interval has passed.
    fn pending_checkpoint(&self, up_to_offset: i64) -> Option<PendingCheckpoint> {
        let state = self
            .checkpoint_state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due = state.offset < up_to_offset
            && state
                .written_at
                .is_none_or(|at| at.elapsed() >= self.checkpoint_interval);
        drop(state);
        let active = self.active()?;
        if !due {
            return None;
        }
        Some(PendingCheckpoint {
            fs: self.fs(),
            dir: self.dir.clone(),
            state: Arc::clone(&self.checkpoint_state),
            index_files: active.index_files().to_vec(),
            checkpoint: RecoveryCheckpoint {
                offset: up_to_offset,
                position: Some(active.recovery_position()),
            },
            producer_snapshot: self.producers.encode_snapshot(up_to_offset),
        })
    }

    /// Records that everything below `up_to_offset` is on disk (the recovery point).
    pub fn mark_flushed(&mut self, up_to_offset: i64) {
        let up_to_offset = up_to_offset.min(self.log_end_offset());
        self.recovery_point = self.recovery_point.max(up_to_offset);
    }

    /// Offset below which everything is known to be on disk.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// fsyncs everything now and writes the recovery checkpoint (used at shutdown).
    pub fn flush(&mut self) -> Result<(), LogError> {
        for segment in &self.segments {
            if segment.next_offset() > self.recovery_point
                || segment.base_offset() >= self.recovery_point
            {
                segment.sync_all()?;
            }
        }
        self.recovery_point = self.log_end_offset();
        self.write_checkpoints()
    }

    /// Writes the recovery point and a producer-state snapshot at the log end offset. Called only when
    /// everything below the log end offset is fsynced, so the snapshot never gets ahead of the data.
    /// The checkpoint names the active segment's size and index entry counts: its data and indexes
    /// are fsynced too (a roll's new active segment is empty).
    fn write_checkpoints(&self) -> Result<(), LogError> {
        let mut state = self
            .checkpoint_state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let snapshot = self.producers.encode_snapshot(self.log_end_offset());
        write_atomically(
            self.fs.as_ref(),
            &self.dir,
            PRODUCER_SNAPSHOT_FILE,
            snapshot.as_bytes(),
        )?;
        let position = (self.recovery_point == self.log_end_offset())
            .then(|| self.active().map(LogSegment::recovery_position))
            .flatten();
        let checkpoint = RecoveryCheckpoint {
            offset: self.recovery_point,
            position,
        };
        write_recovery_checkpoint(self.fs.as_ref(), &self.dir, &checkpoint)?;
        state.offset = state.offset.max(self.recovery_point);
        state.written_at = Some(Instant::now());
        Ok(())
    }

    /// The first record whose timestamp is `>= timestamp_ms`: (offset, its timestamp); `None` if every
    /// record is older. Record granularity, as Kafka's `UnifiedLog.fetchOffsetByTimestamp`: the first
    /// segment whose largest timestamp reaches the target holds the answer.
    /// Records below the log start offset (DeleteRecords) are not answered: a match there answers the
    /// log start offset instead.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>, LogError> {
        let log_start_offset = self.log_start_offset();
        for segment in &self.segments {
            if let Some((offset, timestamp)) = segment.find_timestamp(timestamp_ms)? {
                return Ok(Some((offset.max(log_start_offset), timestamp)));
            }
        }
        Ok(None)
    }

    /// The largest timestamp in the log and the offset of the first record that carries it (the
    /// first segment that has it, then the first record there), or `None` for an empty log
    /// (ListOffsets -3, KIP-734).
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        let newest = self.segments.iter().filter(|s| !s.is_empty()).fold(
            None,
            |best: Option<&LogSegment>, s| match best {
                Some(b) if b.max_timestamp() >= s.max_timestamp() => best,
                _ => Some(s),
            },
        );
        match newest {
            Some(segment) => segment.max_timestamp_record(),
            None => Ok(None),
        }
    }

    /// Size of all segments in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(LogSegment::size).sum()
    }

    /// Closes the log and deletes its directory (topic deletion).
    pub fn delete(self) -> Result<(), LogError> {
        let dir = self.dir.clone();
        let fs = self.fs();
        drop(self);
        fs.remove_dir_all(&dir)
            .map_err(io_error("delete log directory", &dir))?;
        if let Some(parent) = dir.parent() {
            sync_dir(fs.as_ref(), parent)?;
        }
        Ok(())
    }

    pub(crate) fn segments(&self) -> &[LogSegment] {
        &self.segments
    }

    /// The segment list, for the cleaner's swap (which keeps it sorted, non-empty, active last).
    pub(crate) fn segments_mut(&mut self) -> &mut Vec<LogSegment> {
        &mut self.segments
    }

    /// The idempotent-producer state (the cleaner keeps each producer's last batch).
    pub(crate) fn producers(&self) -> &ProducerStateManager {
        &self.producers
    }

    /// The log cleaner's checkpoint: every offset below it has been cleaned at least once.
    pub fn first_dirty_offset(&self) -> i64 {
        self.first_dirty_offset.max(self.log_start_offset())
    }

    /// Earliest delete horizon among the tombstones the last clean kept, if any.
    pub fn next_delete_horizon_ms(&self) -> Option<i64> {
        self.next_delete_horizon_ms
    }

    /// Records a finished cleaning round: the new cleaner checkpoint (persisted) and delete horizon.
    pub(crate) fn finish_cleaning(
        &mut self,
        first_dirty_offset: i64,
        next_delete_horizon_ms: Option<i64>,
    ) -> Result<(), LogError> {
        self.first_dirty_offset = self.first_dirty_offset.max(first_dirty_offset);
        self.next_delete_horizon_ms = next_delete_horizon_ms;
        write_cleaner_checkpoint(self.fs.as_ref(), &self.dir, self.first_dirty_offset)
    }

    /// Sets the log start offset DeleteRecords moved (already checkpointed by the caller).
    pub(crate) fn set_log_start_offset(&mut self, offset: i64) {
        self.log_start_offset = self.log_start_offset.max(offset);
    }

    /// Removes the oldest `count` segments (never the active one) and deletes their files.
    pub(crate) fn delete_oldest_segments(&mut self, count: usize) -> Result<usize, LogError> {
        let count = count.min(self.segments.len().saturating_sub(1));
        if count == 0 {
            return Ok(0);
        }
        for segment in self.segments.drain(..count) {
            tracing::info!(
                segment = %segment.log_path().display(),
                base_offset = segment.base_offset(),
                next_offset = segment.next_offset(),
                bytes = segment.size(),
                "deleting segment"
            );
            segment.delete_files()?;
        }
        sync_dir(self.fs.as_ref(), &self.dir)?;
        let log_start_offset = self.log_start_offset();
        self.recovery_point = self.recovery_point.max(log_start_offset);
        Ok(count)
    }
}

/// Modification times of the active segment's data and index files (the clean-shutdown marker).
pub(crate) fn active_file_stamps(
    fs: &dyn crate::fs::FileSystem,
    dir: &Path,
    active: Option<&LogSegment>,
) -> Result<Vec<(u64, u32)>, LogError> {
    let Some(active) = active else {
        return Ok(Vec::new());
    };
    segment_file_stamps(fs, dir, active.base_offset())
}

/// Modification times of a segment's `.log`, `.index` and `.timeindex`.
pub(crate) fn segment_file_stamps(
    fs: &dyn crate::fs::FileSystem,
    dir: &Path,
    base_offset: i64,
) -> Result<Vec<(u64, u32)>, LogError> {
    use crate::segment::{
        segment_path, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX,
    };
    [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX]
        .iter()
        .map(|suffix| {
            let path = segment_path(dir, base_offset, suffix);
            fs.modified(&path).map_err(io_error("stat segment", &path))
        })
        .collect()
}

/// The outcome of checking a produce request before writing.
enum Plan {
    Append(Vec<(RecordBatchHeader, std::ops::Range<usize>)>),
    Duplicate(AppendInfo),
}
