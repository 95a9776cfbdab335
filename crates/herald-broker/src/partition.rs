//! [`Partition`]: one topic partition as the request handlers see it: the `herald_log::Log` behind a
//! lock, the high watermark and a watch channel that announces it to long-polling fetches, and group
//! commit.
//!
//! The high watermark is what consumers may be served. Under `--flush always` it is the last fsynced
//! offset ([`HighWatermark::Durable`]): a record is served only once it is on disk, so nothing a
//! consumer was given can vanish in a power failure and have its offset reused. Under `interval` and
//! `never` it is the log end offset ([`HighWatermark::LogEnd`]): consumers see records at append, and
//! a power failure may take back what they saw (the trade those policies make).
//!
//! Group commit: appends happen under the write lock and do not fsync. A producer that needs its data
//! durable calls [`Partition::flush_to`]: the first one takes the flush mutex, takes a `FlushTarget`
//! under the log's lock, fsyncs outside it on a blocking thread, and marks the log flushed; producers
//! that queued on the mutex meanwhile usually find their offsets already covered and return without a
//! second fsync. Not here: topic metadata and persistence (`topics.rs`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use herald_log::{AppendInfo, Log, LogConfig, LogError, SharedLog};
use tokio::sync::{watch, Mutex};

use crate::metrics::{records_in_batches, Histogram};

/// Upper bounds of the records-per-group-commit histogram.
const GROUP_COMMIT_RECORDS_BUCKETS: [f64; 12] = [
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0, 25000.0,
];

/// DeleteRecords' offset that means "up to the high watermark".
const DELETE_RECORDS_HIGH_WATERMARK: i64 = -1;

/// What went in and out of one partition, for the metrics endpoint.
#[derive(Debug)]
pub struct PartitionIo {
    pub bytes_in: AtomicU64,
    pub records_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub records_out: AtomicU64,
    /// Seconds per group-commit fsync.
    pub fsync_seconds: Histogram,
    /// Records made durable by each group-commit fsync.
    pub group_commit_records: Histogram,
}

impl Default for PartitionIo {
    fn default() -> Self {
        Self {
            bytes_in: AtomicU64::new(0),
            records_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            fsync_seconds: Histogram::default(),
            group_commit_records: Histogram::with_bounds(&GROUP_COMMIT_RECORDS_BUCKETS),
        }
    }
}

/// Which offset bounds what consumers are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HighWatermark {
    /// The log end offset: records are served at append (`--flush interval|never`).
    LogEnd,
    /// The last fsynced offset: records are served once durable (`--flush always`).
    Durable,
}

impl HighWatermark {
    /// The high watermark a flush policy implies.
    pub fn for_policy(policy: crate::FlushPolicy) -> Self {
        match policy {
            crate::FlushPolicy::Always => HighWatermark::Durable,
            crate::FlushPolicy::Interval(_) | crate::FlushPolicy::Never => HighWatermark::LogEnd,
        }
    }
}

/// One partition of a topic.
#[derive(Debug)]
pub struct Partition {
    /// The partition index within its topic.
    pub index: i32,
    log: RwLock<Log>,
    high_watermark_kind: HighWatermark,
    /// Announces the high watermark whenever it moves (long-polling fetches wait on it).
    high_watermark_tx: watch::Sender<i64>,
    /// Held by a test to stop fsyncs from completing (a fault hook: see [`Partition::hold_fsyncs`]).
    fsync_gate: tokio::sync::RwLock<()>,
    /// Set by a test to make fsyncs fail (a fault hook: see [`Partition::fail_fsyncs`]).
    fail_fsyncs: std::sync::atomic::AtomicBool,
    /// Serialises fsyncs so concurrent producers share one.
    flush_lock: Mutex<()>,
    /// Everything below this offset is known to be fsynced.
    durable_offset: AtomicI64,
    /// fsyncs done by `flush_to` (group commit makes this smaller than the acknowledged produces).
    fsyncs: AtomicU64,
    /// Bytes and records in and out, fsync latency (metrics).
    pub io: PartitionIo,
}

/// What a read returned, with the offsets a fetch response reports.
#[derive(Debug)]
pub struct ReadResult {
    /// Whole batches, all below the high watermark.
    pub records: Vec<u8>,
    pub log_start_offset: i64,
    pub high_watermark: i64,
}

impl Partition {
    /// Wraps an opened log.
    pub fn new(index: i32, log: Log, high_watermark: HighWatermark) -> Self {
        let log_end_offset = log.log_end_offset();
        // What recovery found on disk is as durable as we can know.
        let (high_watermark_tx, _) = watch::channel(log_end_offset);
        Self {
            index,
            log: RwLock::new(log),
            high_watermark_kind: high_watermark,
            high_watermark_tx,
            fsync_gate: tokio::sync::RwLock::new(()),
            fail_fsyncs: std::sync::atomic::AtomicBool::new(false),
            flush_lock: Mutex::new(()),
            durable_offset: AtomicI64::new(log_end_offset),
            fsyncs: AtomicU64::new(0),
            io: PartitionIo::default(),
        }
    }

    fn read_log(&self) -> RwLockReadGuard<'_, Log> {
        // A panic while holding the lock cannot leave the Log half-updated in a way a reader can see
        // worse than a crash would; keep serving.
        self.log.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_log(&self) -> RwLockWriteGuard<'_, Log> {
        self.log.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends a producer's batches (no fsync) and wakes waiting fetches. On a compacted topic a batch
    /// holding a record without a key is refused (Kafka answers INVALID_RECORD: compaction needs keys).
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        if self.with_log(|log| log.config().cleanup_policy.compacts()) {
            refuse_keyless_records(records)?;
        }
        let (info, log_end_offset) = {
            let mut log = self.write_log();
            let info = log.append(records, now_ms)?;
            (info, log.log_end_offset())
        };
        if self.high_watermark_kind == HighWatermark::LogEnd {
            self.high_watermark_tx.send_replace(log_end_offset);
        }
        self.io
            .bytes_in
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let records_in = u64::try_from(info.last_offset - info.base_offset + 1).unwrap_or(0);
        self.io.records_in.fetch_add(records_in, Ordering::Relaxed);
        Ok(info)
    }

    /// Reads whole batches from `offset` below the high watermark, at most `max_bytes`; with
    /// `min_one_batch` at least one batch even if it is larger (see [`Log::read_within`]).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<ReadResult, LogError> {
        let log = self.read_log();
        let high_watermark = self.high_watermark_of(&log);
        let mut records = if offset >= high_watermark && offset <= log.log_end_offset() {
            Vec::new() // at or past the high watermark: nothing to serve yet
        } else {
            log.read_within(offset, max_bytes, min_one_batch)?
        };
        records.truncate(bytes_below(&records, high_watermark));
        self.io
            .bytes_out
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        self.io
            .records_out
            .fetch_add(records_in_batches(&records), Ordering::Relaxed);
        Ok(ReadResult {
            records,
            log_start_offset: log.log_start_offset(),
            high_watermark,
        })
    }

    /// The high watermark, with the log's lock already held (`with_log`).
    pub fn high_watermark_of(&self, log: &Log) -> i64 {
        match self.high_watermark_kind {
            HighWatermark::LogEnd => log.log_end_offset(),
            // The durable offset never passes the log end (retention cannot move it back either).
            HighWatermark::Durable => self
                .durable_offset
                .load(Ordering::Acquire)
                .min(log.log_end_offset()),
        }
    }

    /// The offset below which records are served (Fetch's and ListOffsets' high watermark).
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark_of(&self.read_log())
    }

    /// A receiver that sees the high watermark move.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.high_watermark_tx.subscribe()
    }

    /// A fault hook for tests: while the returned guard lives, fsyncs do not complete, so the
    /// durable high watermark stays where it is.
    pub async fn hold_fsyncs(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.fsync_gate.write().await
    }

    /// A fault hook for tests: while set, `flush_to` fails as a failing disk's fsync would (EIO), and
    /// the durable offset does not move.
    pub fn fail_fsyncs(&self, fail: bool) {
        self.fail_fsyncs.store(fail, Ordering::Release);
    }

    /// First offset still stored.
    pub fn log_start_offset(&self) -> i64 {
        self.read_log().log_start_offset()
    }

    /// Offset of the next record appended (= high watermark on one node).
    pub fn log_end_offset(&self) -> i64 {
        self.read_log().log_end_offset()
    }

    /// Runs `f` with shared access to the log (ListOffsets lookups and the like).
    pub fn with_log<T>(&self, f: impl FnOnce(&Log) -> T) -> T {
        f(&self.read_log())
    }

    /// Whether the log cleaner should look at this partition.
    pub fn is_compacted(&self) -> bool {
        self.with_log(|log| log.config().cleanup_policy.compacts())
    }

    /// Replaces the log's configuration (topic config changes).
    pub fn set_config(&self, config: LogConfig) {
        self.write_log().set_config(config);
    }

    /// DeleteRecords: moves the log start offset to `offset` (-1: the high watermark), deleting the
    /// segments wholly below it; returns the log start offset afterwards. An offset above the high
    /// watermark is `OffsetOutOfRange` (what consumers have not been served cannot be deleted).
    /// Blocking (checkpoint write, fsyncs, file deletions): call it from a blocking thread.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let mut log = self.write_log();
        let high_watermark = self.high_watermark_of(&log);
        let offset = if offset == DELETE_RECORDS_HIGH_WATERMARK {
            high_watermark
        } else {
            offset
        };
        if offset < 0 || offset > high_watermark {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                log_start_offset: log.log_start_offset(),
                log_end_offset: high_watermark,
            });
        }
        log.delete_records_before(offset)
    }

    /// Deletes expired segments; returns how many.
    pub fn apply_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        self.write_log().apply_retention(now_ms)
    }

    /// Returns once everything below `offset` is fsynced, sharing one fsync with concurrent callers.
    pub async fn flush_to(&self, offset: i64) -> Result<(), LogError> {
        if self.durable_offset.load(Ordering::Acquire) >= offset {
            return Ok(());
        }
        let _flushing = self.flush_lock.lock().await;
        if self.durable_offset.load(Ordering::Acquire) >= offset {
            return Ok(()); // the fsync of the previous holder covered us
        }
        let _gate = self.fsync_gate.read().await;
        if self.fail_fsyncs.load(Ordering::Acquire) {
            return Err(LogError::Io {
                operation: "fsync (fault hook)",
                path: std::path::PathBuf::new(),
                source: std::io::Error::from_raw_os_error(5),
            });
        }
        let target = self.read_log().flush_target();
        let up_to_offset = target.up_to_offset;
        let started = std::time::Instant::now();
        let target = tokio::task::spawn_blocking(move || target.sync_data().map(|()| target))
            .await
            .map_err(|e| LogError::Io {
                operation: "fsync task",
                path: std::path::PathBuf::new(),
                source: e.into(),
            })??;
        if target.checkpoint_due() {
            // The recovery checkpoint (at most once a second) keeps the next start's scan short; the
            // acknowledgements do not wait for it.
            tokio::task::spawn_blocking(move || {
                if let Err(error) = target.write_checkpoint() {
                    tracing::warn!(%error, "writing the recovery checkpoint failed");
                }
            });
        }
        self.io
            .fsync_seconds
            .observe(started.elapsed().as_secs_f64());
        self.write_log().mark_flushed(up_to_offset);
        let before = self
            .durable_offset
            .fetch_max(up_to_offset, Ordering::AcqRel);
        self.io
            .group_commit_records
            .observe((up_to_offset - before).max(0) as f64);
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.announce_durable();
        Ok(())
    }

    /// How many fsyncs produce acknowledgements have waited for so far.
    pub fn fsync_count(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Fsyncs everything appended so far (interval flush policy).
    pub async fn flush_all(&self) -> Result<(), LogError> {
        let log_end_offset = self.log_end_offset();
        self.flush_to(log_end_offset).await
    }

    /// Fsyncs everything and writes the recovery checkpoint and the clean-shutdown marker, so that
    /// the next start reads no segment data; blocking (shutdown).
    pub fn flush_blocking(&self) -> Result<(), LogError> {
        let mut log = self.write_log();
        log.close()?;
        let log_end_offset = log.log_end_offset();
        self.durable_offset
            .fetch_max(log_end_offset, Ordering::AcqRel);
        drop(log);
        self.announce_durable();
        Ok(())
    }

    /// Under the durable high watermark, tells waiting fetches that it moved.
    fn announce_durable(&self) {
        if self.high_watermark_kind == HighWatermark::Durable {
            let high_watermark = self.high_watermark();
            self.high_watermark_tx.send_if_modified(|current| {
                let moved = *current != high_watermark;
                *current = high_watermark;
                moved
            });
        }
    }
}

/// How many leading bytes of `records` (whole v2 batches) hold batches that start below `offset`.
/// Group commit makes the durable offset a batch boundary, so no batch straddles it.
fn bytes_below(records: &[u8], offset: i64) -> usize {
    let mut at = 0usize;
    while let Some(header) = records.get(at..at + herald_log::batch::LOG_OVERHEAD_BYTES) {
        let base_offset = i64::from_be_bytes([
            header[0], header[1], header[2], header[3], header[4], header[5], header[6], header[7],
        ]);
        let length = i32::from_be_bytes([header[8], header[9], header[10], header[11]]);
        let Ok(length) = usize::try_from(length) else {
            break;
        };
        if base_offset >= offset {
            break;
        }
        at += herald_log::batch::LOG_OVERHEAD_BYTES + length;
    }
    at.min(records.len())
}

/// Fails on the first batch of `records` that holds a keyless record (checked before the log's lock is
/// taken; decompresses compressed batches).
fn refuse_keyless_records(records: &[u8]) -> Result<(), LogError> {
    let mut record_indices = Vec::new();
    let mut first_record = 0i32;
    for (header, range) in herald_log::batch::split_batches(records)? {
        let batch = records.get(range).unwrap_or_default();
        let keyless = herald_log::keyless_record_indices(batch)?;
        record_indices.extend(keyless.into_iter().map(|i| first_record.saturating_add(i)));
        first_record = first_record.saturating_add(header.records_count.max(0));
    }
    if record_indices.is_empty() {
        return Ok(());
    }
    Err(LogError::InvalidRecord {
        reason: "compacted topic: record without a key",
        record_indices,
    })
}

impl SharedLog for Partition {
    fn log(&self) -> &RwLock<Log> {
        &self.log
    }
}
