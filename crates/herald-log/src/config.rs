//! Per-partition log configuration: segment size and age, retention, index density, batch size limit,
//! timestamp type and bounds.

/// How a partition's log rolls, indexes and retains data. Mirrors Kafka's topic configs of the same
/// names (`segment.bytes`, `segment.ms`, `retention.ms`, `retention.bytes`, `index.interval.bytes`,
/// `max.message.bytes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll to a new segment once the active one would exceed this size.
    pub segment_bytes: u64,
    /// Roll to a new segment once the active one's first batch is older than this; `None` never rolls by age.
    pub segment_ms: Option<u64>,
    /// Delete whole segments whose newest record is older than this; `None` keeps data forever.
    pub retention_ms: Option<u64>,
    /// Delete the oldest whole segments while the partition is larger than this; `None` is unlimited.
    pub retention_bytes: Option<u64>,
    /// Add an index entry every this many bytes of appended batches.
    pub index_interval_bytes: u64,
    /// Largest single record batch accepted, in bytes (header included).
    pub max_message_bytes: u64,
    /// Whose clock the stored timestamps are (Kafka's `message.timestamp.type`).
    pub timestamp_type: TimestampType,
    /// With CreateTime: refuse a batch with a timestamp more than this behind the broker's clock
    /// (`message.timestamp.before.max.ms`); `None` accepts any.
    pub timestamp_before_max_ms: Option<u64>,
    /// With CreateTime: refuse a batch with a timestamp more than this ahead of the broker's clock
    /// (`message.timestamp.after.max.ms`); `None` accepts any.
    pub timestamp_after_max_ms: Option<u64>,
}

/// Kafka's `message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    #[default]
    CreateTime,
    /// Stamp each batch with the broker's clock at append (its maxTimestamp and timestamp-type bit;
    /// readers then use that time for every record of the batch).
    LogAppendTime,
}

/// Kafka's default `segment.bytes`: 1 GiB.
pub const SEGMENT_BYTES_DEFAULT: u64 = 1024 * 1024 * 1024;
/// Kafka's default `segment.ms` and `retention.ms`: 7 days.
pub const SEVEN_DAYS_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// Kafka's default `index.interval.bytes`.
pub const INDEX_INTERVAL_BYTES_DEFAULT: u64 = 4096;
/// Kafka's default `max.message.bytes` (1 MiB plus the batch overhead).
pub const MAX_MESSAGE_BYTES_DEFAULT: u64 = 1_048_588;

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            segment_ms: Some(SEVEN_DAYS_MS),
            retention_ms: Some(SEVEN_DAYS_MS),
            retention_bytes: None,
            index_interval_bytes: INDEX_INTERVAL_BYTES_DEFAULT,
            max_message_bytes: MAX_MESSAGE_BYTES_DEFAULT,
            timestamp_type: TimestampType::CreateTime,
            timestamp_before_max_ms: None,
            timestamp_after_max_ms: None,
        }
    }
}
