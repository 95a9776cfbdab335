//! [`Partition`]: one topic partition as the request handlers see it: the `herald_log::Log` behind a
//! lock, a watch channel that announces the log end offset to long-polling fetches, and group commit.
//!
//! Group commit: appends happen under the write lock and do not fsync. A producer that needs its data
//! durable calls [`Partition::flush_to`]: the first one takes the flush mutex, takes a `FlushTarget`
//! under the log's lock, fsyncs outside it on a blocking thread, and marks the log flushed; producers
//! that queued on the mutex meanwhile usually find their offsets already covered and return without a
//! second fsync. Not here: topic metadata and persistence (`topics.rs`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use herald_log::{AppendInfo, Log, LogConfig, LogError};
use tokio::sync::{watch, Mutex};

/// One partition of a topic.
#[derive(Debug)]
pub struct Partition {
    /// The partition index within its topic.
    pub index: i32,
    log: RwLock<Log>,
    /// Announces the log end offset after every append (long-polling fetches wait on it).
    log_end_tx: watch::Sender<i64>,
    /// Serialises fsyncs so concurrent producers share one.
    flush_lock: Mutex<()>,
    /// Everything below this offset is known to be fsynced.
    durable_offset: AtomicI64,
    /// fsyncs done by `flush_to` (group commit makes this smaller than the acknowledged produces).
    fsyncs: AtomicU64,
}

/// What a read returned, with the offsets a fetch response reports.
#[derive(Debug)]
pub struct ReadResult {
    pub records: Vec<u8>,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

impl Partition {
    /// Wraps an opened log.
    pub fn new(index: i32, log: Log) -> Self {
        let log_end_offset = log.log_end_offset();
        // What recovery found on disk is as durable as we can know.
        let (log_end_tx, _) = watch::channel(log_end_offset);
        Self {
            index,
            log: RwLock::new(log),
            log_end_tx,
            flush_lock: Mutex::new(()),
            durable_offset: AtomicI64::new(log_end_offset),
            fsyncs: AtomicU64::new(0),
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

    /// Appends a producer's batches (no fsync) and wakes waiting fetches.
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let (info, log_end_offset) = {
            let mut log = self.write_log();
            let info = log.append(records, now_ms)?;
            (info, log.log_end_offset())
        };
        self.log_end_tx.send_replace(log_end_offset);
        Ok(info)
    }

    /// Reads whole batches from `offset`, at most `max_bytes`; with `min_one_batch` at least one batch
    /// even if it is larger (see [`Log::read_within`]).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<ReadResult, LogError> {
        let log = self.read_log();
        let records = log.read_within(offset, max_bytes, min_one_batch)?;
        Ok(ReadResult {
            records,
            log_start_offset: log.log_start_offset(),
            log_end_offset: log.log_end_offset(),
        })
    }

    /// A receiver that sees the log end offset change.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.log_end_tx.subscribe()
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

    /// Replaces the log's configuration (topic config changes).
    pub fn set_config(&self, config: LogConfig) {
        self.write_log().set_config(config);
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
        let target = self.read_log().flush_target();
        let up_to_offset = target.up_to_offset;
        tokio::task::spawn_blocking(move || target.sync())
            .await
            .map_err(|e| LogError::Io {
                operation: "fsync task",
                path: std::path::PathBuf::new(),
                source: e.into(),
            })??;
        self.write_log().mark_flushed(up_to_offset);
        self.durable_offset
            .fetch_max(up_to_offset, Ordering::AcqRel);
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
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

    /// Fsyncs everything and writes the recovery checkpoint; blocking (shutdown).
    pub fn flush_blocking(&self) -> Result<(), LogError> {
        let mut log = self.write_log();
        log.flush()?;
        let log_end_offset = log.log_end_offset();
        self.durable_offset
            .fetch_max(log_end_offset, Ordering::AcqRel);
        Ok(())
    }
}
