//! The rdkafka consumer context: what herald does inside librdkafka's callbacks.
//!
//! It owns the table of assigned partitions and their processing progress. On revocation it commits
//! the processed offsets of the revoked partitions *before* they are handed to another member (so the
//! new owner starts right after the last processed message) and marks them revoked so their workers
//! stop. Commit callbacks record what the broker confirmed; statistics feed the lag gauge.
//! Callbacks run inside `recv()` on the runner's task and must return quickly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::TopicPartition;

/// No offset recorded yet.
pub(crate) const OFFSET_NONE: i64 = -1;

/// Processing progress of one assigned partition.
#[derive(Debug)]
pub(crate) struct PartitionProgress {
    /// Offset of the next message to process: everything before it succeeded or was dead-lettered.
    pub next_offset: AtomicI64,
    /// Highest offset the broker confirmed as committed.
    pub committed: AtomicI64,
    /// Set when the partition is taken away; its worker stops at the next message boundary.
    pub revoked: AtomicBool,
}

impl PartitionProgress {
    fn new() -> Arc<Self> {
        Arc::new(PartitionProgress {
            next_offset: AtomicI64::new(OFFSET_NONE),
            committed: AtomicI64::new(OFFSET_NONE),
            revoked: AtomicBool::new(false),
        })
    }

    /// Records that everything before `next_offset` is done, unless the partition was revoked.
    pub fn advance(&self, next_offset: i64) {
        if !self.revoked.load(Ordering::Acquire) {
            self.next_offset.fetch_max(next_offset, Ordering::AcqRel);
        }
    }

    /// The offset to commit, if it is ahead of what the broker confirmed.
    pub fn uncommitted(&self) -> Option<i64> {
        let next = self.next_offset.load(Ordering::Acquire);
        (next > self.committed.load(Ordering::Acquire)).then_some(next)
    }
}

/// A rebalance seen by a callback, for the runner's lifecycle hooks.
#[derive(Debug)]
pub(crate) enum RebalanceEvent {
    Assigned(Vec<TopicPartition>),
    Revoked(Vec<TopicPartition>),
}

/// herald's [`ConsumerContext`].
pub(crate) struct HeraldContext {
    pub group: Arc<str>,
    pub commit_offsets: bool,
    partitions: Mutex<HashMap<TopicPartition, Arc<PartitionProgress>>>,
    events: Mutex<Vec<RebalanceEvent>>,
    events_pending: AtomicBool,
}

impl HeraldContext {
    pub fn new(group: Arc<str>, commit_offsets: bool) -> Self {
        HeraldContext {
            group,
            commit_offsets,
            partitions: Mutex::new(HashMap::new()),
            events: Mutex::new(Vec::new()),
            events_pending: AtomicBool::new(false),
        }
    }

    fn partitions(&self) -> MutexGuard<'_, HashMap<TopicPartition, Arc<PartitionProgress>>> {
        // A poisoned lock only means a panic elsewhere mid-update of plain atomics: keep going.
        self.partitions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The progress of an assigned partition, created if the assignment callback was missed.
    pub fn progress(&self, tp: &TopicPartition) -> Arc<PartitionProgress> {
        self.partitions()
            .entry(tp.clone())
            .or_insert_with(PartitionProgress::new)
            .clone()
    }

    /// Rebalance events since the last call.
    pub fn take_events(&self) -> Vec<RebalanceEvent> {
        if !self.events_pending.swap(false, Ordering::AcqRel) {
            return Vec::new(); // the common case, without taking the lock
        }
        std::mem::take(&mut *self.events.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn push_event(&self, event: RebalanceEvent) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event);
        self.events_pending.store(true, Ordering::Release);
    }

    /// Offsets to commit for every assigned partition that progressed beyond its committed offset.
    pub fn offsets_to_commit(&self) -> Option<TopicPartitionList> {
        let partitions = self.partitions();
        offsets_list(
            partitions
                .iter()
                .map(|(tp, progress)| (tp, progress.as_ref())),
        )
    }

    /// Records offsets the broker confirmed.
    fn confirm(&self, offsets: &TopicPartitionList) {
        let partitions = self.partitions();
        for element in offsets.elements() {
            let Offset::Offset(offset) = element.offset() else {
                continue;
            };
            let tp = TopicPartition {
                topic: element.topic().to_string(),
                partition: element.partition(),
            };
            if let Some(progress) = partitions.get(&tp) {
                progress.committed.fetch_max(offset, Ordering::AcqRel);
            }
        }
    }
}

/// Builds the commit list for progressed partitions; `None` when there is nothing to commit.
fn offsets_list<'a>(
    partitions: impl Iterator<Item = (&'a TopicPartition, &'a PartitionProgress)>,
) -> Option<TopicPartitionList> {
    let mut list = TopicPartitionList::new();
    for (tp, progress) in partitions {
        if let Some(next) = progress.uncommitted() {
            // Adding a fresh partition with a valid offset cannot fail; ignore rather than panic.
            let _ = list.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(next));
        }
    }
    (list.count() > 0).then_some(list)
}

fn topic_partitions(list: &TopicPartitionList) -> Vec<TopicPartition> {
    list.elements()
        .iter()
        .map(|e| TopicPartition {
            topic: e.topic().to_string(),
            partition: e.partition(),
        })
        .collect()
}

impl ClientContext for HeraldContext {
    fn stats(&self, statistics: Statistics) {
        let partitions = self.partitions();
        for (topic, stats) in &statistics.topics {
            for (partition, stats) in &stats.partitions {
                let tp = TopicPartition {
                    topic: topic.clone(),
                    partition: *partition,
                };
                // consumer_lag is -1 until both the high watermark and a committed offset are known.
                if partitions.contains_key(&tp) && stats.consumer_lag >= 0 {
                    crate::metrics::set_lag(&self.group, topic, *partition, stats.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for HeraldContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        let revoked = topic_partitions(list);
        let removed: Vec<(TopicPartition, Arc<PartitionProgress>)> = {
            let mut partitions = self.partitions();
            revoked
                .iter()
                .filter_map(|tp| partitions.remove(tp).map(|progress| (tp.clone(), progress)))
                .collect()
        };
        for (_, progress) in &removed {
            progress.revoked.store(true, Ordering::Release);
        }
        // Commit what was processed before the partitions move, so the next owner does not redo it.
        // Messages still in flight finish, but their offsets are not committed: they are redelivered
        // to the new owner (at least once; the inbox removes the duplicate effect).
        if self.commit_offsets {
            if let Some(offsets) = offsets_list(removed.iter().map(|(tp, p)| (tp, p.as_ref()))) {
                if let Err(error) = consumer.commit(&offsets, CommitMode::Sync) {
                    tracing::warn!(group = %self.group, %error, "commit on revoke failed");
                }
            }
        }
        self.push_event(RebalanceEvent::Revoked(revoked));
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                let assigned = topic_partitions(list);
                {
                    let mut partitions = self.partitions();
                    for tp in &assigned {
                        partitions.insert(tp.clone(), PartitionProgress::new());
                    }
                }
                self.push_event(RebalanceEvent::Assigned(assigned));
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => {
                tracing::warn!(group = %self.group, %error, "rebalance error");
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => self.confirm(offsets),
            Err(error) => tracing::warn!(group = %self.group, %error, "offset commit failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_only_moves_forward_and_stops_after_revoke() {
        // Proves offsets never regress, only uncommitted progress is offered, and a revoked
        // partition's late completions are ignored.
        let progress = PartitionProgress::new();
        assert_eq!(progress.uncommitted(), None);
        progress.advance(5);
        progress.advance(3);
        assert_eq!(progress.uncommitted(), Some(5));
        progress.committed.store(5, Ordering::Release);
        assert_eq!(progress.uncommitted(), None);
        progress.revoked.store(true, Ordering::Release);
        progress.advance(9);
        assert_eq!(progress.next_offset.load(Ordering::Acquire), 5);
    }
}
