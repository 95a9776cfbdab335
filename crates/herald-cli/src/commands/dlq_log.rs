//! [`ReplayLog`]: what `herald dlq replay` has replayed from one partition of a dead-letter topic,
//! and its encoding as a committed offset plus commit metadata. Pure; the command does the I/O.

use std::collections::BTreeSet;

use anyhow::bail;

/// Letters replayed one by one above a partition's committed offset, at most (they are kept in the
/// commit's metadata, which brokers cap at 4 KiB by default).
pub const REPLAYED_SINGLES_MAX: usize = 256;
/// What the commit metadata starts with.
const METADATA_PREFIX: &str = "replayed:";

/// What was replayed from one partition: everything below `next`, plus `singles` above it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayLog {
    next: i64,
    singles: BTreeSet<i64>,
}

impl ReplayLog {
    /// The log as committed: `offset` (`None`: nothing committed) and its metadata.
    pub fn parse(offset: Option<i64>, metadata: &str) -> Self {
        let singles = metadata
            .strip_prefix(METADATA_PREFIX)
            .unwrap_or("")
            .split(',')
            .filter_map(|o| o.trim().parse().ok())
            .collect();
        let mut log = ReplayLog {
            next: offset.unwrap_or(0).max(0),
            singles,
        };
        log.compact();
        log
    }

    /// Whether the letter at `offset` was replayed.
    pub fn contains(&self, offset: i64) -> bool {
        offset < self.next || self.singles.contains(&offset)
    }

    /// Records the letter at `offset` as replayed.
    pub fn insert(&mut self, offset: i64) -> anyhow::Result<()> {
        if self.contains(offset) {
            return Ok(());
        }
        self.singles.insert(offset);
        self.compact();
        if self.singles.len() > REPLAYED_SINGLES_MAX {
            self.singles.remove(&offset);
            bail!("more than {REPLAYED_SINGLES_MAX} letters replayed out of order in one partition; replay the rest with --all");
        }
        Ok(())
    }

    /// Letters replayed among those in `low..high`.
    pub fn count_in(&self, low: i64, high: i64) -> i64 {
        let below = self.next.clamp(low, high) - low;
        let above = self.singles.range(self.next.max(low)..high).count() as i64;
        below + above
    }

    /// The committed offset and metadata that record this log.
    pub fn to_commit(&self) -> (i64, String) {
        let singles: Vec<String> = self.singles.iter().map(i64::to_string).collect();
        (self.next, format!("{METADATA_PREFIX}{}", singles.join(",")))
    }

    /// Moves `next` over singles that follow it without a gap.
    fn compact(&mut self) {
        while self.singles.remove(&self.next) {
            self.next += 1;
        }
        self.singles = self.singles.split_off(&self.next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Single replays above the committed offset are kept apart until the gap closes, and survive the
    // round trip through the commit's offset and metadata.
    #[test]
    fn replay_log_compacts_and_round_trips() {
        let mut log = ReplayLog::parse(None, "");
        log.insert(2).unwrap();
        assert!(log.contains(2) && !log.contains(0));
        assert_eq!(log.to_commit(), (0, "replayed:2".to_string()));
        log.insert(0).unwrap();
        log.insert(1).unwrap();
        assert_eq!(log.to_commit(), (3, "replayed:".to_string()));
        log.insert(7).unwrap();
        let (offset, metadata) = log.to_commit();
        let back = ReplayLog::parse(Some(offset), &metadata);
        assert_eq!(back, log);
        assert_eq!(back.count_in(0, 10), 4);
        assert_eq!(back.count_in(5, 10), 1);
        assert_eq!(
            ReplayLog::parse(Some(4), "junk").to_commit(),
            (4, "replayed:".to_string())
        );
    }

    // The number of out-of-order single replays is bounded (they live in 4 KiB of metadata).
    #[test]
    fn replay_log_refuses_too_many_singles() {
        let mut log = ReplayLog::default();
        for offset in 0..REPLAYED_SINGLES_MAX as i64 {
            log.insert(2 * offset + 1).unwrap();
        }
        assert!(log.insert(10_000).is_err());
        assert!(!log.contains(10_000));
    }
}
