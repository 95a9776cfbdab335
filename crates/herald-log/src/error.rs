//! The one error type of herald-log. Variants are named for what went wrong and carry the values that
//! explain it; the broker maps each to a Kafka error code.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in the log layer.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A file operation failed.
    #[error("{operation} {}: {source}", path.display())]
    Io {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Fewer bytes than a batch header or the declared batch length needs.
    #[error("insufficient length: need {needed} bytes, have {available}")]
    InsufficientLength { needed: usize, available: usize },
    /// A batch whose magic byte is not 2 (only record-batch v2 is stored).
    #[error("unsupported record batch magic {magic} (only 2 is supported)")]
    InvalidMagic { magic: i8 },
    /// A batch whose declared length is impossible (below the header size or negative).
    #[error("invalid record batch length {length}")]
    InvalidBatchLength { length: i32 },
    /// The CRC32C stored in a batch does not match its bytes.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch { stored: u32, computed: u32 },
    /// A batch whose header is self-consistent enough to parse but cannot be appended (for example a
    /// negative `lastOffsetDelta`), or a produce request with no batch at all.
    #[error("invalid record batch: {reason}")]
    InvalidRecordBatch { reason: &'static str },
    /// Stored data that no longer parses where the log expects a batch (found after open; recovery
    /// truncates such data at open instead).
    #[error("corrupt segment {} at position {position}: {source}", path.display())]
    CorruptSegment {
        path: PathBuf,
        position: u64,
        #[source]
        source: Box<LogError>,
    },
    /// A CreateTime batch whose timestamps are outside the topic's bounds (Kafka's INVALID_TIMESTAMP).
    #[error("timestamp {timestamp} of the batch at offset {offset} is out of range: it must be within [{min}, {max}]")]
    InvalidTimestamp {
        timestamp: i64,
        offset: i64,
        min: i64,
        max: i64,
    },
    /// A record the topic's policy does not allow, such as a keyless record on a compacted topic
    /// (Kafka's INVALID_RECORD).
    #[error("invalid record: {reason}")]
    InvalidRecord {
        reason: &'static str,
        /// Positions (0-based, across the request's batches for the partition) of the records at fault.
        record_indices: Vec<i32>,
    },
    /// A batch larger than `max_message_bytes`.
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    BatchTooLarge { size: usize, max: u64 },
    /// A read below the log start offset or above the log end offset.
    #[error("offset {requested} out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        requested: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// An idempotent producer skipped a sequence number.
    #[error("out of order sequence for producer {producer_id}: expected {expected}, received {received}")]
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        received: i32,
    },
    /// An idempotent producer wrote with an epoch older than the one the partition has seen.
    #[error("producer {producer_id} fenced: epoch {received} is older than {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        current: i16,
        received: i16,
    },
}

impl LogError {
    /// Whether retrying the same operation later may succeed (I/O hiccups); data errors never do.
    pub fn is_retriable(&self) -> bool {
        matches!(self, LogError::Io { .. })
    }
}

/// Builds a `map_err` closure that wraps an `io::Error` with the operation and path that failed.
pub(crate) fn io_error<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> LogError + 'a {
    move |source| LogError::Io {
        operation,
        path: path.to_path_buf(),
        source,
    }
}
