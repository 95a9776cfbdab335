//! [`GroupCoordinator`]: the async shell around the pure [`GroupStateMachine`]. It owns the clock, the
//! offset log file and the oneshot channels of parked JoinGroup/SyncGroup requests.
//!
//! One `std::sync::Mutex` guards the machine, the log and the waiters; it is never held across an
//! `.await`. Commits are written to the log under the lock and applied to memory only once written;
//! under `FlushPolicy::Always` the answer waits for an fsync taken outside the lock. The timer task
//! (`run_timer`, spawned by the server with the broker's shutdown token) ticks at the machine's next
//! deadline (at most [`TICK_INTERVAL_MS`] apart), and every request first expires what is due in its
//! group, so a session ends at its deadline even when the timer runs late (Kafka's heartbeat
//! purgatory fires at the deadline); the timer also expires offsets, compacts the log, flushes under `FlushPolicy::Interval`, and at
//! shutdown answers every parked request with COORDINATOR_NOT_AVAILABLE.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::offset_log::{OffsetLog, OFFSETS_DIR_NAME};
use super::state_machine::GroupStateMachine;
use super::types::*;
use crate::clock::now_ms;
use crate::{BrokerConfig, BrokerError, FlushPolicy};

/// Longest the timer task sleeps between ticks; it wakes earlier for the machine's next deadline
/// (session expiry, join deadlines), and requests expire what is due in their group first.
pub const TICK_INTERVAL_MS: u64 = 100;

/// The group coordinator of every group (one node); owned by `BrokerState`.
#[derive(Debug)]
pub struct GroupCoordinator {
    inner: Mutex<Inner>,
    next_token: AtomicU64,
    flush: FlushPolicy,
    retention_check_interval: Duration,
    log_dir: PathBuf,
}

#[derive(Debug)]
struct Inner {
    machine: GroupStateMachine,
    log: OffsetLog,
    waiters: HashMap<Token, oneshot::Sender<Reply>>,
    /// Written since the last fsync (for `FlushPolicy::Interval`).
    unsynced: bool,
}

impl GroupCoordinator {
    /// Opens the offset log under `config.data_dir`, replays it, and starts with no members. Blocking.
    pub fn open(config: &BrokerConfig) -> Result<Self, BrokerError> {
        let log_dir = config.data_dir.join(OFFSETS_DIR_NAME);
        let (log, records) = OffsetLog::open(&config.data_dir)
            .map_err(|e| BrokerError::io("open offset log", &log_dir, e))?;
        let machine_config = CoordinatorConfig {
            initial_rebalance_delay_ms: millis(config.group_initial_rebalance_delay),
            offsets_retention_ms: millis(config.offsets_retention),
        };
        // Member ids embed the incarnation so that ids issued before a restart never match new ones.
        let incarnation = (now_ms() as u64) ^ (u64::from(std::process::id()) << 40);
        let mut machine = GroupStateMachine::new(machine_config, incarnation);
        machine.apply_records(&records);
        tracing::info!(
            records = records.len(),
            live = machine.live_offsets(),
            "committed offsets loaded"
        );
        Ok(Self {
            inner: Mutex::new(Inner {
                machine,
                log,
                waiters: HashMap::new(),
                unsynced: false,
            }),
            next_token: AtomicU64::new(1),
            flush: config.flush,
            retention_check_interval: config.retention_check_interval,
            log_dir,
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

    /// OffsetCommit: answered once the commit is written and, under `FlushPolicy::Always`, fsynced.
    pub async fn commit_offsets(&self, request: &CommitRequest) -> CommitOutcome {
        let (mut outcome, sync) = {
            let mut inner = self.lock();
            let now = now_ms();
            inner.expire_due(&request.group_id, now);
            let outcome = inner.machine.commit_offsets(request, now);
            let written = inner.write(&outcome.records);
            if written.is_ok() {
                inner.machine.apply_records(&outcome.records);
            }
            (outcome, written.map(|()| inner.log.sync_handle()))
        };
        let durable = match sync {
            Ok(Ok(file)) => self.sync_if_always(file).await,
            Ok(Err(e)) | Err(e) => Err(e),
        };
        if let Err(e) = durable {
            tracing::error!(error = %e, dir = %self.log_dir.display(), "writing committed offsets failed");
            for (_, partitions) in &mut outcome.errors {
                for (_, error) in partitions.iter_mut().filter(|(_, error)| error.is_none()) {
                    *error = Some(ResponseError::CoordinatorNotAvailable);
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

    /// DeleteGroups; the tombstones are made durable before answering.
    pub async fn delete_groups(&self, group_ids: &[String]) -> Vec<(String, ErrorCode)> {
        let (results, sync) = {
            let mut inner = self.lock();
            let now = now_ms();
            for group_id in group_ids {
                inner.expire_due(group_id, now);
            }
            let (results, tombstones) = inner.machine.delete_groups(group_ids);
            let sync = inner
                .write(&tombstones)
                .and_then(|()| inner.log.sync_handle());
            (results, sync)
        };
        if let Err(e) = async { self.sync_if_always(sync?).await }.await {
            tracing::error!(error = %e, "writing group deletion failed; it may be undone by a restart");
        }
        results
    }

    /// OffsetDelete; the tombstones are made durable before answering.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> OffsetDeleteOutcome {
        let (outcome, sync) = {
            let mut inner = self.lock();
            let outcome = inner.machine.delete_offsets(group_id, topics);
            let sync = inner
                .write(&outcome.records)
                .and_then(|()| inner.log.sync_handle());
            (outcome, sync)
        };
        if let Err(e) = async { self.sync_if_always(sync?).await }.await {
            tracing::error!(error = %e, "writing offset deletion failed; it may be undone by a restart");
        }
        outcome
    }

    async fn sync_if_always(&self, file: File) -> std::io::Result<()> {
        if self.flush != FlushPolicy::Always {
            return Ok(());
        }
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(std::io::Error::other)?
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
        self.sync_unsynced().await;
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

    /// Offset expiry and compaction every `retention_check_interval`, fsyncs under the interval flush
    /// policy, until `shutdown`.
    async fn housekeep_until(self: std::sync::Arc<Self>, shutdown: &CancellationToken) {
        let mut last_maintenance_ms = now_ms();
        let mut last_flush_ms = now_ms();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(TICK_INTERVAL_MS)) => {}
            }
            let now = now_ms();
            if now - last_maintenance_ms >= millis(self.retention_check_interval) {
                last_maintenance_ms = now;
                // Expiry and compaction write files: off the async threads.
                let coordinator = self.clone();
                let pass = tokio::task::spawn_blocking(move || coordinator.lock().maintain(now));
                if let Err(e) = pass.await {
                    tracing::warn!(error = %e, "offset maintenance failed");
                }
                if self.flush == FlushPolicy::Always {
                    self.sync_unsynced().await;
                }
            }
            if let FlushPolicy::Interval(every) = self.flush {
                if now - last_flush_ms >= millis(every) {
                    last_flush_ms = now;
                    self.sync_unsynced().await;
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

    /// fsyncs what was written since the last fsync, without holding the lock during the fsync.
    async fn sync_unsynced(&self) {
        let file = {
            let mut inner = self.lock();
            if !inner.unsynced {
                return;
            }
            // Cleared before the fsync: a write that lands meanwhile sets it again.
            inner.unsynced = false;
            inner.log.sync_handle()
        };
        let synced = match file {
            Ok(file) => tokio::task::spawn_blocking(move || file.sync_data())
                .await
                .map_err(std::io::Error::other)
                .and_then(|result| result),
            Err(e) => Err(e),
        };
        if let Err(e) = synced {
            tracing::warn!(error = %e, "offset log fsync failed");
            self.lock().unsynced = true;
        }
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

    fn write(&mut self, records: &[OffsetRecord]) -> std::io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.log.append(records)?;
        self.unsynced = true;
        Ok(())
    }

    /// Expires offsets of Empty groups and compacts the log when dead records dominate.
    fn maintain(&mut self, now: i64) {
        let tombstones = self.machine.expire_offsets(now);
        if !tombstones.is_empty() {
            tracing::info!(expired = tombstones.len(), "committed offsets expired");
            if let Err(e) = self.write(&tombstones) {
                tracing::warn!(error = %e, "writing expired-offset tombstones failed");
            }
        }
        if self.log.should_compact(self.machine.live_offsets()) {
            let live = self.machine.live_records();
            match self.log.compact(&live) {
                Ok(()) => self.unsynced = false,
                Err(e) => tracing::warn!(error = %e, "offset log compaction failed"),
            }
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
