//! The transaction coordinator as a pure state machine, as Kafka's `TransactionCoordinator` decides:
//! fed requests and the clock (`now_ms`), it answers at once or returns a [`Transit`] to write to
//! `__transaction_state`; the caller writes it and reports back with [`TxnStateMachine::complete`]
//! or [`TxnStateMachine::abandon`]. No I/O, no tasks, no real time.
//!
//! Transaction version 0/1 semantics (EndTxn up to v4): the epoch is bumped by InitProducerId and by
//! fencing, not by every EndTxn. Errors are the newest codes (PRODUCER_FENCED); the API layer maps
//! them to INVALID_PRODUCER_EPOCH for request versions that predate KIP-588, as Kafka does.
//! Main type: [`TxnStateMachine`]. Not here: record format (`log_format.rs`), markers, the log.

use std::collections::{BTreeSet, HashMap};

use kafka_protocol::error::ResponseError;

use super::state::{
    is_epoch_exhausted, IllegalTransition, TopicPartition, Transit, TxnMetadata, TxnState,
    NO_PRODUCER_EPOCH,
};

/// Kafka's `transaction.max.timeout.ms` default (15 minutes).
pub const TRANSACTION_MAX_TIMEOUT_MS_DEFAULT: i32 = 900_000;
/// Kafka's `transactional.id.expiration.ms` default (7 days).
pub const TRANSACTIONAL_ID_EXPIRATION_MS_DEFAULT: i64 = 604_800_000;

/// The coordinator's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnConfig {
    /// Largest `transaction.timeout.ms` a producer may ask for.
    pub max_timeout_ms: i32,
    /// An idle transactional id is forgotten after this long.
    pub id_expiration_ms: i64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        Self {
            max_timeout_ms: TRANSACTION_MAX_TIMEOUT_MS_DEFAULT,
            id_expiration_ms: TRANSACTIONAL_ID_EXPIRATION_MS_DEFAULT,
        }
    }
}

/// What to do with an InitProducerId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    /// Answer now: the producer id and epoch, or an error.
    Answer(Result<(i64, i16), ResponseError>),
    /// Write this; once it is complete, answer its producer id and epoch.
    Persist(Transit),
    /// A transaction was ongoing: its producer is fenced and this PrepareAbort must be written (then
    /// the abort markers, as for an EndTxn); answer CONCURRENT_TRANSACTIONS once it is written, so
    /// that the client retries and gets the epoch bumped once more.
    FenceAndAbort(Transit),
}

/// What to do with an AddPartitionsToTxn, AddOffsetsToTxn or EndTxn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answer now.
    Answer(Result<(), ResponseError>),
    /// Write this, answer success once it is complete (for EndTxn, then write the markers).
    Persist(Transit),
}

/// Filters of ListTransactions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only these states (by name); empty means all. Unknown names match nothing.
    pub states: Vec<String>,
    /// Only these producer ids; empty means all.
    pub producer_ids: Vec<i64>,
    /// Only transactions running longer than this (KIP-994); negative means no filter.
    pub min_duration_ms: i64,
}

/// Every transactional id this broker coordinates (all of them: one node).
#[derive(Debug)]
pub struct TxnStateMachine {
    config: TxnConfig,
    txns: HashMap<String, TxnMetadata>,
    /// False while loading and after shutdown: requests get COORDINATOR_LOAD_IN_PROGRESS or
    /// COORDINATOR_NOT_AVAILABLE.
    active: bool,
    loaded: bool,
}

impl TxnStateMachine {
    /// A machine that still has to load `__transaction_state` (see [`Self::load`]).
    pub fn new(config: TxnConfig) -> Self {
        Self {
            config,
            txns: HashMap::new(),
            active: true,
            loaded: false,
        }
    }

    /// The settings.
    pub fn config(&self) -> TxnConfig {
        self.config
    }

    /// Replays `__transaction_state` in log order: the last record of each key wins, a tombstone
    /// removes the id. Returns the transactions whose markers must be (re)written now: those
    /// recovered in PrepareCommit or PrepareAbort.
    pub fn load(
        &mut self,
        records: impl IntoIterator<Item = (String, Option<Transit>)>,
    ) -> Vec<String> {
        for (id, value) in records {
            match value {
                Some(transit) => {
                    self.txns.insert(id, TxnMetadata::from_transit(&transit));
                }
                None => {
                    self.txns.remove(&id);
                }
            }
        }
        self.loaded = true;
        let mut in_doubt: Vec<String> = self
            .txns
            .values()
            .filter(|m| matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort))
            .map(|m| m.transactional_id.clone())
            .collect();
        in_doubt.sort();
        in_doubt
    }

    /// Stops answering (shutdown): every request gets COORDINATOR_NOT_AVAILABLE.
    pub fn shutdown(&mut self) {
        self.active = false;
    }

    fn availability(&self) -> Result<(), ResponseError> {
        if !self.active {
            Err(ResponseError::CoordinatorNotAvailable)
        } else if !self.loaded {
            Err(ResponseError::CoordinatorLoadInProgress)
        } else {
            Ok(())
        }
    }

    /// The metadata of a transactional id.
    pub fn get(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.txns.get(transactional_id)
    }

    /// Every transactional id's metadata.
    pub fn all(&self) -> impl Iterator<Item = &TxnMetadata> {
        self.txns.values()
    }

    /// The transaction a producer id belongs to, if any (for Produce checks and DescribeProducers).
    pub fn by_producer_id(&self, producer_id: i64) -> Option<&TxnMetadata> {
        self.txns.values().find(|m| m.producer_id == producer_id)
    }

    /// True when `timeout_ms` is one a producer may ask for.
    pub fn valid_timeout(&self, timeout_ms: i32) -> bool {
        timeout_ms > 0 && timeout_ms <= self.config.max_timeout_ms
    }

    /// InitProducerId with a transactional id (Kafka's `handleInitProducerId`). `expected` is the
    /// producer id and epoch a producer recovering from an error sends (KIP-360, v3+); `allocate`
    /// hands out a new producer id.
    pub fn init_producer_id(
        &mut self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now_ms: i64,
        allocate: &mut dyn FnMut() -> Result<i64, ResponseError>,
    ) -> Result<InitOutcome, IllegalTransition> {
        let answer = |e| Ok(InitOutcome::Answer(Err(e)));
        if let Err(e) = self.availability() {
            return answer(e);
        }
        if transactional_id.is_empty() {
            return answer(ResponseError::InvalidRequest);
        }
        if !self.valid_timeout(timeout_ms) {
            return answer(ResponseError::InvalidTransactionTimeout);
        }
        if !self.txns.contains_key(transactional_id) {
            let producer_id = match allocate() {
                Ok(id) => id,
                Err(e) => return answer(e),
            };
            self.txns.insert(
                transactional_id.to_owned(),
                TxnMetadata::new(transactional_id, producer_id, timeout_ms, now_ms),
            );
        }
        let Some(meta) = self.txns.get_mut(transactional_id) else {
            return answer(ResponseError::CoordinatorNotAvailable);
        };
        let valid_expected = |(pid, epoch): (i64, i16)| {
            meta.producer_epoch == NO_PRODUCER_EPOCH
                || pid == meta.producer_id
                || (pid == meta.previous_producer_id && is_epoch_exhausted(epoch))
        };
        if meta.pending.is_some() {
            return answer(ResponseError::ConcurrentTransactions);
        }
        if !expected.is_none_or(valid_expected) {
            return answer(ResponseError::ProducerFenced);
        }
        match meta.state {
            TxnState::PrepareAbort | TxnState::PrepareCommit => {
                answer(ResponseError::ConcurrentTransactions)
            }
            TxnState::CompleteAbort | TxnState::CompleteCommit | TxnState::Empty => {
                if meta.is_epoch_exhausted()
                    && expected.is_none_or(|(_, epoch)| epoch == meta.producer_epoch)
                {
                    let producer_id = match allocate() {
                        Ok(id) => id,
                        Err(e) => return answer(e),
                    };
                    let transit = meta.prepare_producer_id_rotation(
                        producer_id,
                        timeout_ms,
                        now_ms,
                        expected.is_some(),
                    )?;
                    Ok(InitOutcome::Persist(transit))
                } else {
                    match meta.prepare_increment_epoch(
                        timeout_ms,
                        expected.map(|(_, epoch)| epoch),
                        now_ms,
                    )? {
                        Ok(transit) => Ok(InitOutcome::Persist(transit)),
                        Err(_) => answer(ResponseError::ProducerFenced),
                    }
                }
            }
            TxnState::Ongoing => {
                let transit = fence_and_prepare_abort(meta, now_ms)?;
                Ok(InitOutcome::FenceAndAbort(transit))
            }
            TxnState::Dead | TxnState::PrepareEpochFence => Err(IllegalTransition {
                transactional_id: transactional_id.to_owned(),
                what: format!("InitProducerId found state {}", meta.state.name()),
            }),
        }
    }

    /// The metadata of `transactional_id` if the coordinator serves and the producer id and epoch
    /// are its current ones: the checks AddPartitionsToTxn and EndTxn begin with, in Kafka's order.
    fn producer_of(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<&mut TxnMetadata, ResponseError> {
        self.availability()?;
        if transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        let meta = self
            .txns
            .get_mut(transactional_id)
            .filter(|m| m.producer_id == producer_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        if meta.producer_epoch != producer_epoch {
            return Err(ResponseError::ProducerFenced);
        }
        Ok(meta)
    }

    /// AddPartitionsToTxn (v0-3, from a client) or, with the group's `__consumer_offsets`
    /// partition, AddOffsetsToTxn (Kafka's `handleAddPartitionsToTransaction`).
    pub fn add_partitions(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &BTreeSet<TopicPartition>,
        now_ms: i64,
    ) -> Result<Outcome, IllegalTransition> {
        let answer = |r| Ok(Outcome::Answer(r));
        let meta = match self.producer_of(transactional_id, producer_id, producer_epoch) {
            Ok(meta) => meta,
            Err(e) => return answer(Err(e)),
        };
        if meta.pending.is_some()
            || matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort)
        {
            return answer(Err(ResponseError::ConcurrentTransactions));
        }
        if meta.state == TxnState::Ongoing && partitions.is_subset(&meta.partitions) {
            return answer(Ok(()));
        }
        Ok(Outcome::Persist(
            meta.prepare_add_partitions(partitions, now_ms)?,
        ))
    }

    /// EndTxn from a client (Kafka's `handleEndTransaction`, transaction version 0/1).
    pub fn end_txn(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Result<Outcome, IllegalTransition> {
        let answer = |r| Ok(Outcome::Answer(r));
        let meta = match self.producer_of(transactional_id, producer_id, producer_epoch) {
            Ok(meta) => meta,
            Err(e) => return answer(Err(e)),
        };
        if meta.pending.is_some() {
            return answer(Err(ResponseError::ConcurrentTransactions));
        }
        let invalid = || Ok(Outcome::Answer(Err(ResponseError::InvalidTxnState)));
        match (meta.state, commit) {
            (TxnState::Ongoing, _) => {
                let state = if commit {
                    TxnState::PrepareCommit
                } else {
                    TxnState::PrepareAbort
                };
                Ok(Outcome::Persist(
                    meta.prepare_abort_or_commit(state, now_ms)?,
                ))
            }
            // A retry of an EndTxn that already completed.
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => answer(Ok(())),
            // A retry while the markers are still being written.
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                answer(Err(ResponseError::ConcurrentTransactions))
            }
            (TxnState::CompleteCommit, false)
            | (TxnState::CompleteAbort, true)
            | (TxnState::PrepareCommit, false)
            | (TxnState::PrepareAbort, true)
            | (TxnState::Empty, _) => invalid(),
            (TxnState::Dead | TxnState::PrepareEpochFence, _) => Err(IllegalTransition {
                transactional_id: transactional_id.to_owned(),
                what: format!("EndTxn found state {}", meta.state.name()),
            }),
        }
    }

    /// Whether a transactional produce of `producer_id`/`producer_epoch` to `partition` is part of
    /// its transaction (KIP-890 part 1's verification, for clients that do not verify themselves).
    pub fn verify_partition(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        partition: &TopicPartition,
    ) -> Result<(), ResponseError> {
        self.availability()?;
        let Some(meta) = self.by_producer_id(producer_id) else {
            return Err(ResponseError::InvalidProducerIdMapping);
        };
        if meta.producer_epoch != producer_epoch {
            return Err(ResponseError::ProducerFenced);
        }
        if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return Err(ResponseError::ConcurrentTransactions);
        }
        if meta.state == TxnState::Ongoing && meta.partitions.contains(partition) {
            Ok(())
        } else {
            Err(ResponseError::InvalidTxnState)
        }
    }

    /// Every marker of a PrepareCommit/PrepareAbort is written: the Complete transition to write.
    pub fn markers_written(
        &mut self,
        transactional_id: &str,
        now_ms: i64,
    ) -> Result<Transit, IllegalTransition> {
        let Some(meta) = self.txns.get_mut(transactional_id) else {
            return Err(IllegalTransition {
                transactional_id: transactional_id.to_owned(),
                what: "markers written for an unknown transactional id".into(),
            });
        };
        meta.prepare_complete(now_ms)
    }

    /// Ongoing transactions past their timeout, fenced and turned into PrepareAbort transitions to
    /// write (Kafka's `abortTimedOutTransactions`); skips those with a pending transition.
    pub fn abort_timed_out(&mut self, now_ms: i64) -> Vec<Result<Transit, IllegalTransition>> {
        let mut ids: Vec<String> = self
            .txns
            .values()
            .filter(|m| {
                m.state == TxnState::Ongoing
                    && m.pending.is_none()
                    && m.start_ms + i64::from(m.timeout_ms) < now_ms
            })
            .map(|m| m.transactional_id.clone())
            .collect();
        ids.sort();
        let mut aborts = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(meta) = self.txns.get_mut(&id) {
                aborts.push(fence_and_prepare_abort(meta, now_ms));
            }
        }
        aborts
    }

    /// Idle transactional ids past `transactional.id.expiration.ms`: Dead transitions whose
    /// tombstones must be written.
    pub fn expire(&mut self, now_ms: i64) -> Vec<Result<Transit, IllegalTransition>> {
        let expiration_ms = self.config.id_expiration_ms;
        let mut ids: Vec<String> = self
            .txns
            .values()
            .filter(|m| {
                m.state.is_expiration_allowed()
                    && m.pending.is_none()
                    && m.last_update_ms.saturating_add(expiration_ms) <= now_ms
            })
            .map(|m| m.transactional_id.clone())
            .collect();
        ids.sort();
        let mut dead = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(meta) = self.txns.get_mut(&id) {
                dead.push(meta.prepare_dead());
            }
        }
        dead
    }

    /// The transit is durable: memory takes it (a Dead one removes the id).
    pub fn complete(&mut self, transit: &Transit) -> Result<(), IllegalTransition> {
        let Some(meta) = self.txns.get_mut(&transit.transactional_id) else {
            return Err(IllegalTransition {
                transactional_id: transit.transactional_id.clone(),
                what: format!("completes {} of an unknown id", transit.state.name()),
            });
        };
        if transit.state == TxnState::Dead && meta.pending == Some(TxnState::Dead) {
            self.txns.remove(&transit.transactional_id);
            return Ok(());
        }
        meta.complete(transit)
    }

    /// The transit's write failed: memory keeps what it had (see [`TxnMetadata::abandon`]); a new
    /// id stays known at epoch -1, as in Kafka.
    pub fn abandon(&mut self, transit: &Transit) {
        if let Some(meta) = self.txns.get_mut(&transit.transactional_id) {
            meta.abandon();
        }
    }

    /// DescribeTransactions of one id.
    pub fn describe(&self, transactional_id: &str) -> Result<&TxnMetadata, ResponseError> {
        self.availability()?;
        if transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        match self.txns.get(transactional_id) {
            Some(meta) if meta.state != TxnState::Dead && meta.pending != Some(TxnState::Dead) => {
                Ok(meta)
            }
            _ => Err(ResponseError::TransactionalIdNotFound),
        }
    }

    /// ListTransactions with its filters, sorted by transactional id.
    pub fn list(
        &self,
        filter: &ListFilter,
        now_ms: i64,
    ) -> Result<Vec<&TxnMetadata>, ResponseError> {
        self.availability()?;
        let states: Vec<Option<TxnState>> = filter
            .states
            .iter()
            .map(|s| TxnState::from_name(s))
            .collect();
        let mut found: Vec<&TxnMetadata> = self
            .txns
            .values()
            .filter(|m| m.state != TxnState::Dead)
            .filter(|m| states.is_empty() || states.contains(&Some(m.state)))
            .filter(|m| {
                filter.producer_ids.is_empty() || filter.producer_ids.contains(&m.producer_id)
            })
            .filter(|m| {
                filter.min_duration_ms < 0
                    || (m.state.is_pending_transaction()
                        && now_ms - m.start_ms > filter.min_duration_ms)
            })
            .collect();
        found.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Ok(found)
    }
}

/// Fences the producer of an ongoing transaction and prepares its abort: the epoch is bumped in
/// memory at once (so the fenced producer's next request fails), and the PrepareAbort carries it.
fn fence_and_prepare_abort(
    meta: &mut TxnMetadata,
    now_ms: i64,
) -> Result<Transit, IllegalTransition> {
    let fence = meta.prepare_fence_epoch()?;
    meta.pending = None;
    meta.producer_epoch = fence.producer_epoch;
    meta.last_producer_epoch = NO_PRODUCER_EPOCH;
    let transit = meta.prepare_abort_or_commit(TxnState::PrepareAbort, now_ms)?;
    meta.fence_in_flight = true;
    Ok(transit)
}
