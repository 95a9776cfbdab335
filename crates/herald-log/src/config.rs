//! Per-partition log configuration: segment size and age, retention, cleanup policy and the log
//! cleaner's compaction settings, index density, batch size limit, timestamp type and bounds.

/// Kafka's `cleanup.policy`: what happens to old data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CleanupPolicy {
    /// Whole segments are deleted by `retention.ms` / `retention.bytes`.
    #[default]
    Delete,
    /// The log cleaner keeps the latest record per key; nothing is deleted by time or size.
    Compact,
    /// Both: compacted, and whole old segments still deleted by retention.
    CompactDelete,
}

impl CleanupPolicy {
    /// Parses Kafka's list syntax (`delete`, `compact`, `compact,delete` in any order, spaces allowed).
    pub fn parse(value: &str) -> Option<Self> {
        let (mut compact, mut delete) = (false, false);
        for part in value.split(',').map(str::trim) {
            match part {
                "compact" => compact = true,
                "delete" => delete = true,
                _ => return None,
            }
        }
        match (compact, delete) {
            (true, true) => Some(Self::CompactDelete),
            (true, false) => Some(Self::Compact),
            (false, true) => Some(Self::Delete),
            (false, false) => None,
        }
    }

    /// Whether the log cleaner compacts this log.
    pub fn compacts(self) -> bool {
        matches!(self, Self::Compact | Self::CompactDelete)
    }

    /// Whether retention deletes whole segments by time or size.
    pub fn deletes(self) -> bool {
        matches!(self, Self::Delete | Self::CompactDelete)
    }

    /// Kafka's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Compact => "compact",
            Self::CompactDelete => "compact,delete",
        }
    }
}

/// How a partition's log rolls, indexes, retains and compacts data. Mirrors Kafka's topic configs of the
/// same names (`segment.bytes`, `segment.ms`, `retention.ms`, `retention.bytes`, `index.interval.bytes`,
/// `max.message.bytes`, `cleanup.policy`, `delete.retention.ms`, `min.compaction.lag.ms`,
/// `max.compaction.lag.ms`, `min.cleanable.dirty.ratio`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// Roll to a new segment once the active one would exceed this size.
    pub segment_bytes: u64,
    /// Roll to a new segment once the active one's first batch is older than this; `None` never rolls by age.
    pub segment_ms: Option<u64>,
    /// Delete whole segments whose newest record is older than this; `None` keeps data forever. Applied
    /// only when `cleanup_policy` deletes.
    pub retention_ms: Option<u64>,
    /// Delete the oldest whole segments while the partition is larger than this; `None` is unlimited.
    /// Applied only when `cleanup_policy` deletes.
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
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// How long a tombstone (null value) survives after the cleaner first cleaned its batch.
    pub delete_retention_ms: u64,
    /// A record stays uncompacted for at least this long (segments with newer records are not cleaned).
    pub min_compaction_lag_ms: u64,
    /// A record is compacted within about this long even if the dirty ratio is low; also bounds the
    /// active segment's age on a compacted log (as Kafka does).
    pub max_compaction_lag_ms: u64,
    /// Clean once dirty bytes / (clean + dirty bytes) reaches this; in `[0, 1]`, never NaN.
    pub min_cleanable_dirty_ratio: f64,
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

// `min_cleanable_dirty_ratio` is validated to lie in [0, 1] wherever it is parsed, so it is never NaN and
// equality is reflexive.
impl Eq for LogConfig {}

/// Kafka's default `segment.bytes`: 1 GiB.
pub const SEGMENT_BYTES_DEFAULT: u64 = 1024 * 1024 * 1024;
/// Kafka's default `segment.ms` and `retention.ms`: 7 days.
pub const SEVEN_DAYS_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// Kafka's default `index.interval.bytes`.
pub const INDEX_INTERVAL_BYTES_DEFAULT: u64 = 4096;
/// Kafka's default `max.message.bytes` (1 MiB plus the batch overhead).
pub const MAX_MESSAGE_BYTES_DEFAULT: u64 = 1_048_588;
/// Kafka's default `delete.retention.ms`: 1 day.
pub const DELETE_RETENTION_MS_DEFAULT: u64 = 24 * 60 * 60 * 1000;
/// Kafka's default `max.compaction.lag.ms`: unlimited (`Long.MAX_VALUE`).
pub const MAX_COMPACTION_LAG_MS_DEFAULT: u64 = i64::MAX as u64;
/// Kafka's default `min.cleanable.dirty.ratio`.
pub const MIN_CLEANABLE_DIRTY_RATIO_DEFAULT: f64 = 0.5;

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
            cleanup_policy: CleanupPolicy::Delete,
            delete_retention_ms: DELETE_RETENTION_MS_DEFAULT,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: MAX_COMPACTION_LAG_MS_DEFAULT,
            min_cleanable_dirty_ratio: MIN_CLEANABLE_DIRTY_RATIO_DEFAULT,
        }
    }
}

impl LogConfig {
    /// The age after which the active segment rolls: `segment.ms`, capped by `max.compaction.lag.ms` on a
    /// compacted log so that the lag bound can be met (the active segment is never cleaned).
    pub fn roll_ms(&self) -> Option<u64> {
        let lag = self
            .cleanup_policy
            .compacts()
            .then_some(self.max_compaction_lag_ms)
            .filter(|&lag| lag < MAX_COMPACTION_LAG_MS_DEFAULT);
        match (self.segment_ms, lag) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Kafka's list syntax parses in any order; unknown words are refused
    #[test]
    fn cleanup_policy_parses_kafka_lists() {
        assert_eq!(CleanupPolicy::parse("delete"), Some(CleanupPolicy::Delete));
        assert_eq!(
            CleanupPolicy::parse("compact"),
            Some(CleanupPolicy::Compact)
        );
        assert_eq!(
            CleanupPolicy::parse("delete, compact"),
            Some(CleanupPolicy::CompactDelete)
        );
        assert_eq!(CleanupPolicy::parse(""), None);
        assert_eq!(CleanupPolicy::parse("compact,purge"), None);
    }

    // a compacted log rolls by max.compaction.lag.ms when it is shorter than segment.ms
    #[test]
    fn roll_ms_is_capped_by_max_compaction_lag_on_compacted_logs() {
        let mut config = LogConfig {
            segment_ms: Some(1000),
            max_compaction_lag_ms: 100,
            ..LogConfig::default()
        };
        assert_eq!(config.roll_ms(), Some(1000));
        config.cleanup_policy = CleanupPolicy::Compact;
        assert_eq!(config.roll_ms(), Some(100));
        config.segment_ms = None;
        assert_eq!(config.roll_ms(), Some(100));
        config.max_compaction_lag_ms = MAX_COMPACTION_LAG_MS_DEFAULT;
        assert_eq!(config.roll_ms(), None);
    }
}
