//! [`Log`]: one partition's segmented log. CONTRACT STUB: the signatures here are the API the broker
//! codes against; bodies are being implemented.

use std::path::Path;

use crate::config::LogConfig;
use crate::error::LogError;

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
    /// True when an idempotent producer retried batches that were already appended: nothing was written
    /// and the offsets are those of the original append.
    pub duplicate: bool,
}

/// Files to fsync so that the log is durable up to `up_to_offset` (exclusive). Taken under the log's
/// lock, synced outside it, then reported back with [`Log::mark_flushed`].
#[derive(Debug)]
pub struct FlushTarget {
    /// Everything below this offset is durable once `sync` returns.
    pub up_to_offset: i64,
    files: Vec<std::sync::Arc<std::fs::File>>,
}

impl FlushTarget {
    /// fsyncs the data files (fdatasync). Takes no lock.
    pub fn sync(&self) -> Result<(), LogError> {
        let _ = &self.files;
        todo!()
    }
}

/// One partition's log.
#[derive(Debug)]
pub struct Log {}

impl Log {
    /// Opens (creating if needed) the log in `dir`, recovering from a crash: validates every batch after
    /// the last recovery checkpoint, truncates the first bad one and all after it, rebuilds indexes and the
    /// idempotent-producer state.
    pub fn open(dir: &Path, config: LogConfig) -> Result<Log, LogError> {
        let _ = (dir, config);
        todo!()
    }

    /// The partition's configuration.
    pub fn config(&self) -> &LogConfig {
        todo!()
    }

    /// Replaces the configuration (takes effect at the next append or retention pass).
    pub fn set_config(&mut self, config: LogConfig) {
        let _ = config;
        todo!()
    }

    /// First offset still stored.
    pub fn log_start_offset(&self) -> i64 {
        todo!()
    }

    /// Offset the next appended record will get (= high watermark on one node).
    pub fn log_end_offset(&self) -> i64 {
        todo!()
    }

    /// Appends one or more concatenated v2 batches as received from a producer: validates each (length,
    /// magic, CRC, `max_message_bytes`), checks idempotent-producer sequences, assigns offsets and writes.
    /// Does not fsync. A whole request is rejected if any batch is invalid (nothing is written).
    pub fn append(&mut self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let _ = (records, now_ms);
        todo!()
    }

    /// Reads whole batches starting with the one that contains `offset`, up to `max_bytes` but always at
    /// least one whole batch when `offset < log_end_offset`. Empty at the log end offset;
    /// `OffsetOutOfRange` below the log start offset or above the log end offset.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Vec<u8>, LogError> {
        let _ = (offset, max_bytes);
        todo!()
    }

    /// The files that hold unflushed data and the offset they cover.
    pub fn flush_target(&self) -> FlushTarget {
        todo!()
    }

    /// Records that everything below `up_to_offset` is on disk (the recovery point).
    pub fn mark_flushed(&mut self, up_to_offset: i64) {
        let _ = up_to_offset;
        todo!()
    }

    /// Offset below which everything is known to be on disk.
    pub fn recovery_point(&self) -> i64 {
        todo!()
    }

    /// fsyncs everything now and writes the recovery checkpoint (used at shutdown).
    pub fn flush(&mut self) -> Result<(), LogError> {
        todo!()
    }

    /// The first offset whose batch has a max timestamp `>= timestamp_ms`, with that timestamp; `None` if
    /// every record is older. Batch granularity: the offset is the base offset of the first such batch.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>, LogError> {
        let _ = timestamp_ms;
        todo!()
    }

    /// The largest timestamp in the log and the offset of the batch's last record that carries it, or
    /// `None` for an empty log (ListOffsets -3).
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        todo!()
    }

    /// Deletes whole segments past `retention_ms` or beyond `retention_bytes` (never the active segment),
    /// moving the log start offset. Returns how many segments were deleted.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let _ = now_ms;
        todo!()
    }

    /// Size of all segments in bytes.
    pub fn size_bytes(&self) -> u64 {
        todo!()
    }

    /// Closes the log and deletes its directory (topic deletion).
    pub fn delete(self) -> Result<(), LogError> {
        todo!()
    }
}
