//! When a log is cleaned, and which part: pure functions over segment summaries, as Kafka's
//! `LogCleanerManager` decides.
//!
//! The dirty section runs from the cleaner checkpoint (first dirty offset) to the first uncleanable
//! offset: the active segment's base offset, or earlier the base of the first segment holding a record
//! newer than `min.compaction.lag.ms`. A log is cleanable when dirty bytes / (clean + dirty bytes)
//! reaches `min.cleanable.dirty.ratio`, when its oldest dirty segment is older than
//! `max.compaction.lag.ms`, or when a kept tombstone's delete horizon has passed.

use crate::config::LogConfig;
use crate::log::Log;

/// What the cleaner needs to know of one closed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSummary {
    pub base_offset: i64,
    pub next_offset: i64,
    pub size_bytes: u64,
    /// Newest record timestamp in the segment (-1 if none).
    pub max_timestamp: i64,
    /// When the segment got its first batch (append time, or its first batch's timestamp after restart).
    pub first_timestamp: Option<i64>,
}

/// Why a log is to be cleaned now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanReason {
    DirtyRatio,
    MaxCompactionLag,
    DeleteHorizonPassed,
    Forced,
}

/// The part of a log a cleaning round works on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanableRange {
    pub first_dirty_offset: i64,
    pub first_uncleanable_offset: i64,
    pub clean_bytes: u64,
    pub dirty_bytes: u64,
    pub reason: CleanReason,
}

impl CleanableRange {
    /// Dirty bytes / (clean + dirty bytes).
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.dirty_bytes;
        if total == 0 {
            0.0
        } else {
            self.dirty_bytes as f64 / total as f64
        }
    }
}

fn ms(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The range to clean, or `None` if the log is not (yet) worth cleaning. `closed` excludes the active
/// segment, whose base offset is `active_base_offset`. With `force`, any non-empty range is returned.
pub fn cleanable_range(
    closed: &[SegmentSummary],
    active_base_offset: i64,
    first_dirty_offset: i64,
    config: &LogConfig,
    now_ms: i64,
    next_delete_horizon_ms: Option<i64>,
    force: bool,
) -> Option<CleanableRange> {
    if !config.cleanup_policy.compacts() {
        return None;
    }
    let min_lag = ms(config.min_compaction_lag_ms);
    let first_uncleanable_offset = closed
        .iter()
        .filter(|s| s.next_offset > first_dirty_offset)
        .find(|s| min_lag > 0 && now_ms.saturating_sub(s.max_timestamp) < min_lag)
        .map_or(active_base_offset, |s| s.base_offset);
    let (mut clean_bytes, mut dirty_bytes) = (0, 0);
    for s in closed
        .iter()
        .filter(|s| s.base_offset < first_uncleanable_offset)
    {
        if s.next_offset <= first_dirty_offset {
            clean_bytes += s.size_bytes;
        } else {
            dirty_bytes += s.size_bytes;
        }
    }
    let oldest_dirty = closed
        .iter()
        .find(|s| s.next_offset > first_dirty_offset && s.base_offset < first_uncleanable_offset);
    let max_lag = ms(config.max_compaction_lag_ms);
    let lag_exceeded = oldest_dirty
        .and_then(|s| s.first_timestamp)
        .is_some_and(|first| now_ms.saturating_sub(first) > max_lag);
    let mut range = CleanableRange {
        first_dirty_offset,
        first_uncleanable_offset,
        clean_bytes,
        dirty_bytes,
        reason: CleanReason::Forced,
    };
    let horizon_passed = next_delete_horizon_ms.is_some_and(|h| now_ms >= h);
    range.reason = if dirty_bytes > 0 && range.dirty_ratio() >= config.min_cleanable_dirty_ratio {
        CleanReason::DirtyRatio
    } else if dirty_bytes > 0 && lag_exceeded {
        CleanReason::MaxCompactionLag
    } else if horizon_passed {
        CleanReason::DeleteHorizonPassed
    } else if force && clean_bytes + dirty_bytes > 0 {
        CleanReason::Forced
    } else {
        return None;
    };
    Some(range)
}

impl Log {
    /// Summaries of the closed segments (all but the active one).
    pub fn closed_segment_summaries(&self) -> Vec<SegmentSummary> {
        let segments = self.segments();
        segments[..segments.len().saturating_sub(1)]
            .iter()
            .map(|s| SegmentSummary {
                base_offset: s.base_offset(),
                next_offset: s.next_offset(),
                size_bytes: s.size(),
                max_timestamp: s.max_timestamp(),
                first_timestamp: s.rolling_timestamp_ms(),
            })
            .collect()
    }

    /// Dirty bytes / (clean + dirty bytes) over the closed segments, whatever the compaction lags say
    /// (Kafka's `max-dirty-percent` figure, per log): 0 for an empty or fully cleaned log.
    pub fn dirty_ratio(&self) -> f64 {
        let first_dirty = self.first_dirty_offset();
        let (mut clean, mut dirty) = (0u64, 0u64);
        for s in &self.closed_segment_summaries() {
            if s.next_offset <= first_dirty {
                clean += s.size_bytes;
            } else {
                dirty += s.size_bytes;
            }
        }
        if clean + dirty == 0 {
            0.0
        } else {
            dirty as f64 / (clean + dirty) as f64
        }
    }

    /// Whether the cleaner should clean this log at `now_ms`, and which range.
    pub fn cleanable(&self, now_ms: i64) -> Option<CleanableRange> {
        let active_base = self.segments().last().map_or(0, |s| s.base_offset());
        cleanable_range(
            &self.closed_segment_summaries(),
            active_base,
            self.first_dirty_offset(),
            self.config(),
            now_ms,
            self.next_delete_horizon_ms(),
            false,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CleanupPolicy;

    fn seg(base: i64, next: i64, max_ts: i64) -> SegmentSummary {
        SegmentSummary {
            base_offset: base,
            next_offset: next,
            size_bytes: 100,
            max_timestamp: max_ts,
            first_timestamp: Some(max_ts),
        }
    }

    fn compact() -> LogConfig {
        LogConfig {
            cleanup_policy: CleanupPolicy::Compact,
            ..LogConfig::default()
        }
    }

    // the dirty ratio decides, a delete-only log is never cleaned, min lag holds back young segments
    #[test]
    fn dirty_ratio_and_min_lag_decide() {
        let closed = [seg(0, 10, 100), seg(10, 20, 200), seg(20, 30, 300)];
        let config = compact();
        let r = cleanable_range(&closed, 30, 0, &config, 1000, None, false);
        assert_eq!(
            r.map(|r| (r.first_uncleanable_offset, r.reason)),
            Some((30, CleanReason::DirtyRatio))
        );
        // one dirty segment out of three: below 0.5
        assert!(cleanable_range(&closed, 30, 20, &config, 1000, None, false).is_none());
        let forced = cleanable_range(&closed, 30, 20, &config, 1000, None, true);
        assert_eq!(forced.map(|r| r.reason), Some(CleanReason::Forced));
        let lagged = LogConfig {
            min_compaction_lag_ms: 750,
            ..compact()
        };
        let r = cleanable_range(&closed, 30, 0, &lagged, 1000, None, false);
        assert_eq!(
            r.map(|r| r.first_uncleanable_offset),
            Some(20),
            "segment at 20 is too young"
        );
        let delete = LogConfig::default();
        assert!(cleanable_range(&closed, 30, 0, &delete, 1000, None, true).is_none());
    }

    // max.compaction.lag.ms and a passed delete horizon clean even below the dirty ratio
    #[test]
    fn max_lag_and_delete_horizon_force_a_clean() {
        let closed = [seg(0, 10, 100), seg(10, 20, 200), seg(20, 30, 300)];
        let config = LogConfig {
            max_compaction_lag_ms: 500,
            ..compact()
        };
        let r = cleanable_range(&closed, 30, 20, &config, 1000, None, false);
        assert_eq!(r.map(|r| r.reason), Some(CleanReason::MaxCompactionLag));
        let r = cleanable_range(&closed, 30, 30, &compact(), 1000, Some(999), false);
        assert_eq!(r.map(|r| r.reason), Some(CleanReason::DeleteHorizonPassed));
        assert!(cleanable_range(&closed, 30, 30, &compact(), 1000, Some(1001), false).is_none());
    }
}
