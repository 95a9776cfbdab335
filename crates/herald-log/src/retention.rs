//! Retention: which whole segments `Log::apply_retention` deletes.
//!
//! Time retention deletes the oldest segments whose newest record is older than `retention_ms`; size
//! retention deletes the oldest segments while the partition is larger than `retention_bytes`. Only a
//! prefix of the segment list goes, never the active segment; so that an idle partition does not keep an
//! expired active segment forever, an expired non-empty active segment is rolled first (as Kafka does) and
//! then deleted like any other. Retention applies only when `cleanup.policy` includes `delete`: a
//! `compact`-only log never loses data by time or size. The decisions are pure functions over segment summaries, unit-tested here.

use crate::error::LogError;
use crate::log::Log;

/// How many of the oldest `segment_max_timestamps` are expired at `now_ms` (stops at the first that is
/// not, since retention only removes a prefix).
pub fn expired_prefix(segment_max_timestamps: &[i64], now_ms: i64, retention_ms: u64) -> usize {
    let retention_ms = i64::try_from(retention_ms).unwrap_or(i64::MAX);
    segment_max_timestamps
        .iter()
        .take_while(|&&ts| now_ms.saturating_sub(ts) > retention_ms)
        .count()
}

/// How many of the oldest segments (sizes oldest first) go under size retention. Kafka's rule: a segment
/// goes only if the partition is still at least `retention_bytes` without it, so the partition never drops
/// below the limit because of retention (it may stay above it by up to one segment).
pub fn oversize_prefix(segment_sizes: &[u64], retention_bytes: u64) -> usize {
    let total: u64 = segment_sizes.iter().sum();
    let mut excess = total.saturating_sub(retention_bytes);
    let mut count = 0;
    for &size in segment_sizes {
        if excess < size {
            break;
        }
        excess -= size;
        count += 1;
    }
    count
}

impl Log {
    /// Deletes whole segments past `retention_ms` or beyond `retention_bytes` (never the active segment;
    /// an expired, non-empty active segment is rolled first so that it can go), moving the log start
    /// offset. Returns how many segments were deleted.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let mut deleted = 0;
        if !self.config().cleanup_policy.deletes() {
            return Ok(0);
        }
        if let Some(retention_ms) = self.config().retention_ms {
            let timestamps: Vec<i64> = self.segments().iter().map(|s| s.max_timestamp()).collect();
            let expired = expired_prefix(&timestamps, now_ms, retention_ms);
            let active_expired = expired == self.segments().len()
                && self.segments().last().is_some_and(|s| !s.is_empty());
            if active_expired {
                self.roll()?;
            }
            deleted += self.delete_oldest_segments(expired)?;
        }
        if let Some(retention_bytes) = self.config().retention_bytes {
            let sizes: Vec<u64> = self.segments().iter().map(|s| s.size()).collect();
            // The active segment is never deleted: decide over the closed ones only, counting it in.
            let count = oversize_prefix(&sizes, retention_bytes).min(sizes.len().saturating_sub(1));
            deleted += self.delete_oldest_segments(count)?;
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // only a prefix of expired segments is selected
    #[test]
    fn expired_prefix_stops_at_first_fresh_segment() {
        assert_eq!(expired_prefix(&[10, 20, 90, 15], 100, 50), 2);
        assert_eq!(expired_prefix(&[60, 20], 100, 50), 0);
        assert_eq!(expired_prefix(&[], 100, 50), 0);
        assert_eq!(
            expired_prefix(&[i64::MIN], i64::MAX, u64::MAX),
            0,
            "no overflow"
        );
        assert_eq!(
            expired_prefix(&[50], 100, 50),
            0,
            "exactly retention_ms old is kept"
        );
    }

    // oldest segments go while the rest would still be at least the limit
    #[test]
    fn oversize_prefix_keeps_at_most_the_limit() {
        assert_eq!(oversize_prefix(&[100, 100, 100], 250), 0);
        assert_eq!(oversize_prefix(&[100, 100, 100], 200), 1);
        assert_eq!(oversize_prefix(&[100, 100, 100], 199), 1);
        assert_eq!(oversize_prefix(&[100, 100, 100], 100), 2);
        assert_eq!(oversize_prefix(&[100, 100, 100], 1000), 0);
        assert_eq!(oversize_prefix(&[100, 100, 100], 0), 3);
    }
}
