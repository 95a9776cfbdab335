//! [`GroupCoordinator`]: the async shell around the pure [`GroupStateMachine`]. It owns the clock, the
//! [`OffsetStore`] (the `__consumer_offsets` topic) and the oneshot channels of parked JoinGroup/SyncGroup
//! requests.
//!
//! One `std::sync::Mutex` guards the machine and the waiters; it is never held across an `.await`.
//! Writes of committed offsets and deletions are planned under the lock, written outside it (a
//! blocking append, then under `FlushPolicy::Always` the partition's group-commit fsync), and applied
//! to memory only once durable; a failed write answers an error and changes nothing in memory, so
//! OffsetFetch keeps returning the previous commit. Writes for the same key that finish out of order
//! are applied by their offset in the topic, so memory always ends where a replay would.
//!
//! The timer task (`run_timer`, spawned by the server with the broker's shutdown token) ticks at the
//! machine's next deadline (at most [`TICK_INTERVAL_MS`] apart), and every request first expires what
//! is due in its group, so a session ends at its deadline even when the timer runs late (Kafka's
//! heartbeat purgatory fires at the deadline); the timer also expires offsets, and at shutdown answers
//! every parked request with COORDINATOR_NOT_AVAILABLE.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::records::StoredRecord;
use super::state_machine::GroupStateMachine;
use super::store::{self, OffsetStore};
use super::types::*;
use crate::clock::now_ms;
use crate::internal_topics::CONSUMER_OFFSETS_TOPIC;
use crate::topics::TopicRegistry;
use crate::{BrokerConfig, BrokerError};

/// Longest the timer task sleeps between ticks; it wakes earlier for the machine's next deadline
/// (session expiry, join deadlines), and requests expire what is due in their group first.
pub const TICK_INTERVAL_MS: u64 = 100;

/// The group coordinator of every group (one node); owned by `BrokerState`.
#[derive(Debug)]
pub struct GroupCoordinator {
    inner: Mutex<Inner>,
    next_token: AtomicU64,
    store: OffsetStore,
    retention_check_interval: Duration,
}

/// (group, topic, partition) of a committed offset.
type OffsetKey = (String, String, i32);

#[derive(Debug)]
struct Inner {
    machine: GroupStateMachine,
    waiters: HashMap<Token, oneshot::Sender<Reply>>,
    /// For each key, the topic offset of the record last applied to memory: a write that became durable
    /// after a later write of the same key is not applied over it.
    applied: HashMap<OffsetKey, i64>,
}

impl GroupCoordinator {
    /// Migrates an old `offsets.log` into `__consumer_offsets` if there is one, replays the topic, and
    /// starts with no members. Blocking.
    pub fn open(config: &BrokerConfig, topics: &TopicRegistry) -> Result<Self, BrokerError> {
        let topic =
            topics
                .get(CONSUMER_OFFSETS_TOPIC)
                .ok_or_else(|| BrokerError::UnknownTopic {
                    name: CONSUMER_OFFSETS_TOPIC.to_string(),
                })?;
        let store = OffsetStore::new(topic.partitions(), config.flush);
        store.migrate_legacy(&config.data_dir, now_ms())?;
        let replayed = store.replay()?;
        let machine_config = CoordinatorConfig {
            initial_rebalance_delay_ms: millis(config.group_initial_rebalance_delay),
            offsets_retention_ms: millis(config.offsets_retention),
        };
        // Member ids embed the incarnation so that ids issued before a restart never match new ones.
        let incarnation = (now_ms() as u64) ^ (u64::from(std::process::id()) << 40);
        let mut inner = Inner {
            machine: GroupStateMachine::new(machine_config, incarnation),
            waiters: HashMap::new(),
            applied: HashMap::new(),
        };
        for replayed in &replayed {
            inner.apply_stored(&replayed.record, replayed.offset);
        }
        tracing::info!(
            records = replayed.len(),
            live = inner.machine.live_offsets(),
            "committed offsets loaded from __consumer_offsets"
        );
        Ok(Self {
            inner: Mutex::new(inner),
            next_token: AtomicU64::new(1),
            store,
            retention_check_interval: config.retention_check_interval,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the machine half-updated in a way that matters
        // more than refusing service; keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// JoinGroup; waits (without holding the lock) until the barrier answers.
    pub async fn join_group(&self, request: JoinRequest) -> JoinOutcome {
        let member_id = request.member_id.clone();
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let receiver = {
            let mut inner = self.lock();
            let (sender, receiver) = oneshot::channel();
            inner.waiters.insert(token, sender);
            let now = now_ms();
            inner.expire_due(&request.group_id, now);
            let replies = inner.machine.join_group(token, request, now);
            inner.deliver(replies);
            receiver
        };
        match receiver.await {
            Ok(Reply::Join(_, outcome)) => outcome,
            _ => JoinOutcome::error(&member_id, ResponseError::CoordinatorNotAvailable),
        }
    }

    /// SyncGroup; a follower waits for the leader's assignment.
    pub async fn sync_group(&self, request: SyncRequest) -> SyncOutcome {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let receiver = {
            let mut inner = self.lock();
            let (sender, receiver) = oneshot::channel();
            inner.waiters.insert(token, sender);
            let now = now_ms();
            inner.expire_due(&request.group_id, now);
            let replies = inner.machine.sync_group(token, request, now);
            inner.deliver(replies);
            receiver
        };
        match receiver.await {
            Ok(Reply::Sync(_, outcome)) => outcome,
            _ => SyncOutcome::error(ResponseError::CoordinatorNotAvailable),
        }
    }

    /// Heartbeat.
    pub fn heartbeat(&self, request: &HeartbeatRequest) -> ErrorCode {
        let mut inner = self.lock();
        let now = now_ms();
        inner.expire_due(&request.group_id, now);
        inner.machine.heartbeat(request, now)
    }

    /// LeaveGroup (one or a batch of members).
    pub fn leave_group(&self, group_id: &str, leaving: &[LeavingMember]) -> LeaveOutcome {
        let mut inner = self.lock();
        let now = now_ms();
        inner.expire_due(group_id, now);
        let (outcome, replies) = inner.machine.leave_group(group_id, leaving, now);
        inner.deliver(replies);
        outcome
    }

    /// OffsetCommit: answered once the commit is durable under the flush policy, then applied to
    /// memory; a failed write fails every accepted partition with Kafka's code for it.
    pub async fn commit_offsets(&self, request: &CommitRequest) -> CommitOutcome {
        let now = now_ms();
        let mut outcome = {
            let mut inner = self.lock();
            inner.expire_due(&request.group_id, now);
            inner.machine.commit_offsets(request, now)
        };
        let written = self
            .store
            .write(&request.group_id, store::offsets(&outcome.records), now)
            .await;
        match written {
            Ok(Some(base_offset)) => self.lock().apply_at(&outcome.records, base_offset),
            Ok(None) => {}
            Err(error) => {
                for (_, partitions) in &mut outcome.errors {
                    for (_, e) in partitions.iter_mut().filter(|(_, e)| e.is_none()) {
                        *e = Some(error);
                    }
                }
            }
        }
        outcome
    }

    /// OffsetFetch for one group.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[(String, Vec<i32>)]>,
    ) -> FetchedOffsets {
        self.lock().machine.fetch_offsets(group_id, partitions)
    }

    /// ListGroups.
    pub fn list_groups(&self, states: &[String]) -> Result<Vec<GroupOverview>, ResponseError> {
        let mut inner = self.lock();
        let replies = inner.machine.tick(now_ms());
        inner.deliver(replies);
        inner.machine.list_groups(states)
    }

    /// DescribeGroups for one group.
    pub fn describe_group(&self, group_id: &str) -> Result<GroupSummary, ResponseError> {
        let mut inner = self.lock();
        inner.expire_due(group_id, now_ms());
        inner.machine.describe_group(group_id)
    }

    /// DeleteGroups: each group's offset tombstones and group tombstone are made durable before the
    /// group is forgotten; a group whose write fails answers the write's error and stays.
    pub async fn delete_groups(&self, group_ids: &[String]) -> Vec<(String, ErrorCode)> {
        let now = now_ms();
        let (mut results, tombstones) = {
            let mut inner = self.lock();
            for group_id in group_ids {
                inner.expire_due(group_id, now);
            }
            inner.machine.plan_delete_groups(group_ids)
        };
        for (group_id, error) in results.iter_mut().filter(|(_, e)| e.is_none()) {
            let offsets: Vec<OffsetRecord> = tombstones
                .iter()
                .filter(|t| t.group_id() == group_id.as_str())
                .cloned()
                .collect();
            let mut records = store::offsets(&offsets);
            records.push(StoredRecord::GroupMetadata {
                group_id: group_id.clone(),
                deleted: true,
            });
            match self.store.write(group_id, records, now).await {
                Ok(base_offset) => {
                    let mut inner = self.lock();
                    if let Some(base_offset) = base_offset {
                        inner.apply_at(&offsets, base_offset);
                    }
                    inner.machine.forget_group_if_empty(group_id);
                }
                Err(e) => *error = Some(e),
            }
        }
        results
    }

    /// OffsetDelete: the tombstones are made durable before the offsets leave memory; a failed write
    /// answers its error at the top level and deletes nothing.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> OffsetDeleteOutcome {
        let mut outcome = self.lock().machine.plan_delete_offsets(group_id, topics);
        match self
            .store
            .write(group_id, store::offsets(&outcome.records), now_ms())
            .await
        {
            Ok(Some(base_offset)) => self.lock().apply_at(&outcome.records, base_offset),
            Ok(None) => {}
            Err(error) => {
                outcome = OffsetDeleteOutcome {
                    error: Some(error),
                    ..OffsetDeleteOutcome::default()
                }
            }
        }
        outcome
    }

    /// The timer task: ticks until `shutdown`, then answers parked requests and syncs the log.
    /// Ticks and file housekeeping (offset expiry, compaction, fsyncs) run side by side, so a slow
    /// fsync never delays a session's expiry or a join barrier.
    pub async fn run_timer(
        self: std::sync::Arc<Self>,
        shutdown: CancellationToken,
        done: mpsc::Sender<()>,
    ) {
        tokio::join!(
            self.tick_until(&shutdown),
            self.clone().housekeep_until(&shutdown)
        );
        {
            let mut inner = self.lock();
            let replies = inner.machine.shutdown();
            inner.deliver(replies);
        }
        drop(done);
    }

    /// Ticks the machine at its deadlines until `shutdown`.
    async fn tick_until(&self, shutdown: &CancellationToken) {
        loop {
            let wait = self.until_next_deadline();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            let mut inner = self.lock();
            let replies = inner.machine.tick(now_ms());
            inner.deliver(replies);
        }
    }

    /// Offset expiry every `retention_check_interval` until `shutdown`. (Compaction of the topic is
    /// herald-log's cleaner's; flushing under `interval` is the server's, as for every partition.)
    async fn housekeep_until(self: Arc<Self>, shutdown: &CancellationToken) {
        let mut last_maintenance_ms = now_ms();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(TICK_INTERVAL_MS)) => {}
            }
            let now = now_ms();
            if now - last_maintenance_ms >= millis(self.retention_check_interval) {
                last_maintenance_ms = now;
                self.expire_offsets(now).await;
            }
        }
    }

    /// Writes tombstones for the offsets past retention, group by group, and forgets them once durable.
    async fn expire_offsets(&self, now: i64) {
        let tombstones = self.lock().machine.expired_offsets(now);
        if tombstones.is_empty() {
            return;
        }
        let mut by_group: indexmap::IndexMap<String, Vec<OffsetRecord>> = indexmap::IndexMap::new();
        for tombstone in tombstones {
            by_group
                .entry(tombstone.group_id().to_string())
                .or_default()
                .push(tombstone);
        }
        for (group_id, tombstones) in by_group {
            match self
                .store
                .write(&group_id, store::offsets(&tombstones), now)
                .await
            {
                Ok(Some(base_offset)) => {
                    tracing::info!(group = %group_id, expired = tombstones.len(), "committed offsets expired");
                    let mut inner = self.lock();
                    inner.apply_at(&tombstones, base_offset);
                    inner.machine.forget_group_if_empty(&group_id);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(group = %group_id, error = ?e, "writing expired-offset tombstones failed; retrying at the next check");
                }
            }
        }
    }

    /// How long the timer may sleep: until the machine's next deadline (a session or barrier that runs
    /// out), at most [`TICK_INTERVAL_MS`] so that deadlines set by requests meanwhile are seen.
    fn until_next_deadline(&self) -> Duration {
        let now = now_ms();
        let next = self.lock().machine.next_deadline_ms();
        let wait_ms = next.map_or(TICK_INTERVAL_MS, |deadline| {
            u64::try_from(deadline - now + 1)
                .unwrap_or(0)
                .min(TICK_INTERVAL_MS)
        });
        Duration::from_millis(wait_ms)
    }
}

impl Inner {
    /// Expires what is due in `group_id` (sessions, barriers) before a request about it is handled.
    fn expire_due(&mut self, group_id: &str, now: i64) {
        let replies = self.machine.tick_group(group_id, now);
        self.deliver(replies);
    }

    /// Sends each reply to its waiter (a waiter whose connection went away is simply gone).
    fn deliver(&mut self, replies: Vec<Reply>) {
        for reply in replies {
            if let Some(sender) = self.waiters.remove(&reply.token()) {
                let _ = sender.send(reply);
            }
        }
    }

    /// Applies records written at `base_offset` onwards (one per offset), skipping any key whose
    /// memory already reflects a later record.
    fn apply_at(&mut self, records: &[OffsetRecord], base_offset: i64) {
        for (offset, record) in (base_offset..).zip(records) {
            self.apply_offset_record(record, offset);
        }
    }

    /// Applies one record replayed from the topic.
    fn apply_stored(&mut self, record: &StoredRecord, offset: i64) {
        match record {
            StoredRecord::Offset(record) => self.apply_offset_record(record, offset),
            StoredRecord::GroupMetadata { group_id, deleted } => {
                if *deleted {
                    self.machine.forget_group_if_empty(group_id);
                }
            }
        }
    }

    fn apply_offset_record(&mut self, record: &OffsetRecord, offset: i64) {
        let key = match record {
            OffsetRecord::Commit {
                group_id,
                topic,
                partition,
                ..
            }
            | OffsetRecord::Tombstone {
                group_id,
                topic,
                partition,
            } => (group_id.clone(), topic.clone(), *partition),
        };
        if self.applied.get(&key).is_some_and(|&at| at >= offset) {
            return;
        }
        self.applied.insert(key, offset);
        self.machine.apply_records(std::slice::from_ref(record));
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
