//! Consumer lag: computed per partition for one group on demand ([`group_lag`]), and sampled for
//! every group in the background ([`run_sampler`]) into a bounded ring per group ([`LagHistory`]),
//! which the group pages draw as a chart and the overview sums.
//!
//! Lag of a partition = log end offset minus the committed offset (or minus the log start offset
//! when the group committed nothing there): what the group still has to process.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cluster::{Cluster, ClusterView, Offsets};
use crate::{AppState, Result};

/// Samples kept per group (with the default interval of 10 s: the last 10 minutes).
pub const LAG_SAMPLES_MAX: usize = 60;
/// Groups whose history is kept; groups past this many (by name) are not sampled.
pub const GROUPS_TRACKED_MAX: usize = 1_000;

/// One partition of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The committed offset, if any.
    pub committed: Option<i64>,
    /// Log start offset.
    pub log_start_offset: i64,
    /// Log end offset.
    pub log_end_offset: i64,
}

impl PartitionLag {
    /// Records the group has not processed yet.
    pub fn lag(&self) -> i64 {
        let from = self
            .committed
            .unwrap_or(self.log_start_offset)
            .max(self.log_start_offset);
        (self.log_end_offset - from).max(0)
    }
}

/// One sample of a group's total lag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LagSample {
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// Total lag then.
    pub total_lag: i64,
}

/// Per group, its last [`LAG_SAMPLES_MAX`] samples.
#[derive(Debug, Default)]
pub struct LagHistory {
    groups: Mutex<BTreeMap<String, VecDeque<LagSample>>>,
}

impl LagHistory {
    /// Adds a sample for every group in `totals` and forgets groups that no longer exist.
    pub fn record(&self, at_ms: i64, totals: &BTreeMap<String, i64>) {
        let Ok(mut groups) = self.groups.lock() else {
            return;
        };
        groups.retain(|name, _| totals.contains_key(name));
        for (name, total_lag) in totals.iter().take(GROUPS_TRACKED_MAX) {
            let ring = groups.entry(name.clone()).or_default();
            if ring.len() == LAG_SAMPLES_MAX {
                ring.pop_front();
            }
            ring.push_back(LagSample {
                at_ms,
                total_lag: *total_lag,
            });
        }
    }

    /// The samples of `group`, oldest first.
    pub fn samples(&self, group: &str) -> Vec<LagSample> {
        self.groups
            .lock()
            .map(|g| {
                g.get(group)
                    .map(|r| r.iter().copied().collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// The latest sample of every group.
    pub fn latest(&self) -> BTreeMap<String, LagSample> {
        self.groups
            .lock()
            .map(|g| {
                g.iter()
                    .filter_map(|(name, ring)| ring.back().map(|s| (name.clone(), *s)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The offsets `group` committed, on every partition of every topic it has committed on at least
/// once (a partition it never committed on still has records waiting for it).
pub async fn committed_rows(
    cluster: &Cluster,
    group: &str,
    view: &ClusterView,
) -> Result<Vec<(String, i32, Option<i64>)>> {
    let committed = cluster.committed(group, view.partitions(false)).await?;
    let mut topics: Vec<&str> = committed
        .iter()
        .filter(|(_, _, o)| o.is_some())
        .map(|(t, _, _)| t.as_str())
        .collect();
    topics.sort_unstable();
    topics.dedup();
    let mut rows: Vec<(String, i32, Option<i64>)> = committed
        .iter()
        .filter(|(t, _, _)| topics.binary_search(&t.as_str()).is_ok())
        .cloned()
        .collect();
    rows.sort();
    Ok(rows)
}

/// Joins committed offsets with the partitions' log start and log end offsets.
pub fn with_offsets(rows: &[(String, i32, Option<i64>)], offsets: &Offsets) -> Vec<PartitionLag> {
    rows.iter()
        .map(|(topic, partition, committed)| {
            let (log_start_offset, log_end_offset) = offsets
                .get(&(topic.clone(), *partition))
                .copied()
                .unwrap_or((0, 0));
            PartitionLag {
                topic: topic.clone(),
                partition: *partition,
                committed: *committed,
                log_start_offset,
                log_end_offset,
            }
        })
        .collect()
}

/// The lag of `group` now, reading the log offsets of only the partitions it has committed on.
pub async fn group_lag(cluster: &Cluster, group: &str) -> Result<Vec<PartitionLag>> {
    let view = cluster.metadata(None).await?;
    let rows = committed_rows(cluster, group, &view).await?;
    let partitions = rows.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
    let offsets = cluster.offsets(partitions).await?;
    Ok(with_offsets(&rows, &offsets))
}

/// Total lag of every group, now.
pub async fn sweep(cluster: &Cluster) -> Result<BTreeMap<String, i64>> {
    let view = cluster.metadata(None).await?;
    let offsets = cluster.offsets(view.partitions(false)).await?;
    let groups = cluster.groups(None).await?;
    let mut totals = BTreeMap::new();
    for group in groups.iter().take(GROUPS_TRACKED_MAX) {
        let rows = committed_rows(cluster, &group.name, &view).await?;
        let rows = with_offsets(&rows, &offsets);
        totals.insert(group.name.clone(), rows.iter().map(PartitionLag::lag).sum());
    }
    Ok(totals)
}

/// Samples every group's lag each `interval` until `shutdown`; an unreachable cluster only skips
/// samples.
pub(crate) async fn run_sampler(
    state: Arc<AppState>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let sampled = tokio::select! {
            _ = shutdown.cancelled() => return,
            sampled = sweep(&state.cluster) => sampled,
        };
        match sampled {
            Ok(totals) => state
                .lag
                .record(chrono::Utc::now().timestamp_millis(), &totals),
            Err(error) => tracing::debug!(%error, "lag sample skipped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_from_committed_or_log_start() {
        // Nothing committed means everything retained is lag; a commit below the log start counts
        // from the log start.
        let row = |committed| PartitionLag {
            topic: "t".into(),
            partition: 0,
            committed,
            log_start_offset: 10,
            log_end_offset: 25,
        };
        assert_eq!(row(None).lag(), 15);
        assert_eq!(row(Some(20)).lag(), 5);
        assert_eq!(row(Some(3)).lag(), 15);
        assert_eq!(row(Some(25)).lag(), 0);
    }

    #[test]
    fn history_is_bounded_and_forgets_deleted_groups() {
        // The ring keeps the newest LAG_SAMPLES_MAX samples; a group gone from a sweep is dropped.
        let history = LagHistory::default();
        for i in 0..(LAG_SAMPLES_MAX as i64 + 5) {
            let totals = BTreeMap::from([("a".to_string(), i), ("b".to_string(), 1)]);
            history.record(i, &totals);
        }
        let samples = history.samples("a");
        assert_eq!(samples.len(), LAG_SAMPLES_MAX);
        assert_eq!(samples[0].total_lag, 5);
        history.record(100, &BTreeMap::from([("a".to_string(), 0)]));
        assert!(history.samples("b").is_empty());
        assert_eq!(history.latest()["a"].total_lag, 0);
    }
}
