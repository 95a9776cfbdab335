//! One transactional id's metadata and the transitions it may take, as Kafka's `TransactionMetadata`
//! defines them: a transition is first *prepared* (the pending state blocks any other until the
//! record is durable in `__transaction_state`), then *completed* when the write succeeded, or
//! *abandoned* when it failed. Main types: [`TxnState`], [`TxnMetadata`], [`Transit`].
//! Not here: which request causes which transition (`machine.rs`), the record format (`log_format.rs`).

use std::collections::BTreeSet;

/// `RecordBatch.NO_PRODUCER_ID`.
pub const NO_PRODUCER_ID: i64 = -1;
/// `RecordBatch.NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// A partition of a transaction: topic name and partition index.
pub type TopicPartition = (String, i32);

/// Kafka's transaction states, with their ids in `__transaction_state` and their names in
/// DescribeTransactions/ListTransactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    /// No transaction in progress (after InitProducerId).
    Empty,
    /// Partitions or offsets were added; EndTxn ends it.
    Ongoing,
    /// EndTxn(commit) is durable; markers are being written.
    PrepareCommit,
    /// EndTxn(abort), a fence or a timeout is durable; markers are being written.
    PrepareAbort,
    /// Every commit marker is written.
    CompleteCommit,
    /// Every abort marker is written.
    CompleteAbort,
    /// The transactional id expired and is being removed (a tombstone is written).
    Dead,
    /// The epoch is being bumped to fence a producer; never written, always followed by PrepareAbort.
    PrepareEpochFence,
}

impl TxnState {
    /// Every state, in id order.
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    /// The state's id in a `TransactionLogValue`.
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    /// The state with this id, if any.
    pub fn from_id(id: i8) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.id() == id)
    }

    /// The name DescribeTransactions and ListTransactions report (Kafka's `TransactionState.name`).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// The state with this name, if any.
    pub fn from_name(name: &str) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// States this one may be entered from (Kafka's `validPreviousStates`).
    pub fn valid_previous(self) -> &'static [TxnState] {
        use TxnState::*;
        match self {
            Empty => &[Empty, CompleteCommit, CompleteAbort],
            Ongoing => &[Ongoing, Empty, CompleteCommit, CompleteAbort],
            PrepareCommit => &[Ongoing],
            PrepareAbort => &[Ongoing, PrepareEpochFence],
            CompleteCommit => &[PrepareCommit],
            CompleteAbort => &[PrepareAbort],
            Dead => &[Empty, CompleteAbort, CompleteCommit],
            PrepareEpochFence => &[Ongoing],
        }
    }

    /// True while a transaction holds partitions (their last stable offset waits for it).
    pub fn is_pending_transaction(self) -> bool {
        matches!(
            self,
            TxnState::Ongoing | TxnState::PrepareCommit | TxnState::PrepareAbort
        )
    }

    /// True where an idle transactional id may expire.
    pub fn is_expiration_allowed(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }
}

/// The metadata a transition writes to `__transaction_state`, and that memory takes once it is
/// durable (Kafka's `TxnTransitMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transit {
    /// Whose metadata this is.
    pub transactional_id: String,
    /// The producer id after the transition.
    pub producer_id: i64,
    /// The producer id before it (changes only on a rotation after epoch exhaustion).
    pub previous_producer_id: i64,
    /// The epoch after the transition.
    pub producer_epoch: i16,
    /// The epoch before the last bump (lets a retried InitProducerId get its answer again).
    pub last_producer_epoch: i16,
    /// `transaction.timeout.ms` the producer asked for.
    pub timeout_ms: i32,
    /// The state after the transition.
    pub state: TxnState,
    /// The transaction's partitions after the transition.
    pub partitions: BTreeSet<TopicPartition>,
    /// When the transaction began (first partition added), or -1.
    pub start_ms: i64,
    /// When this transition was prepared.
    pub last_update_ms: i64,
}

/// Why a prepared transition could not be built: a bug in the caller, never a client's doing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transactional id {transactional_id}: {what}")]
pub struct IllegalTransition {
    /// Whose metadata.
    pub transactional_id: String,
    /// What was wrong.
    pub what: String,
}

/// A transactional id's current metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id in use.
    pub producer_id: i64,
    /// The producer id of the last completed transaction before a rotation.
    pub previous_producer_id: i64,
    /// The current epoch (-1 until the first InitProducerId completes).
    pub producer_epoch: i16,
    /// The epoch before the last bump.
    pub last_producer_epoch: i16,
    /// The producer's transaction timeout.
    pub timeout_ms: i32,
    /// The current state.
    pub state: TxnState,
    /// The partitions of the current transaction.
    pub partitions: BTreeSet<TopicPartition>,
    /// When the current transaction began, or -1.
    pub start_ms: i64,
    /// When the metadata last changed (drives transactional id expiration).
    pub last_update_ms: i64,
    /// The state a prepared transition goes to, until it is completed or abandoned.
    pub pending: Option<TxnState>,
    /// A fence whose write failed: the epoch was bumped in memory but never returned to a client, so
    /// the next fence must not bump it again.
    pub has_failed_epoch_fence: bool,
    /// The pending PrepareAbort comes from a fence (its epoch is already bumped in memory).
    pub fence_in_flight: bool,
}

impl TxnMetadata {
    /// Metadata for a transactional id seen for the first time: Empty, epoch -1.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        Self {
            transactional_id: transactional_id.to_owned(),
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
            pending: None,
            has_failed_epoch_fence: false,
            fence_in_flight: false,
        }
    }

    /// Metadata as a record of `__transaction_state` describes it (at start-up).
    pub fn from_transit(transit: &Transit) -> Self {
        Self {
            transactional_id: transit.transactional_id.clone(),
            producer_id: transit.producer_id,
            previous_producer_id: transit.previous_producer_id,
            producer_epoch: transit.producer_epoch,
            last_producer_epoch: transit.last_producer_epoch,
            timeout_ms: transit.timeout_ms,
            state: transit.state,
            partitions: transit.partitions.clone(),
            start_ms: transit.start_ms,
            last_update_ms: transit.last_update_ms,
            pending: None,
            has_failed_epoch_fence: false,
            fence_in_flight: false,
        }
    }

    /// True when the epoch can no longer be bumped: Kafka keeps `Short.MaxValue` free so that the
    /// coordinator can always fence.
    pub fn is_epoch_exhausted(&self) -> bool {
        is_epoch_exhausted(self.producer_epoch)
    }

    fn illegal(&self, what: String) -> IllegalTransition {
        IllegalTransition {
            transactional_id: self.transactional_id.clone(),
            what,
        }
    }

    /// The current metadata as a transit to `state` at `now_ms`: each `prepare_*` changes what its
    /// transition changes, then [`Self::prepare`] checks and records it.
    fn transit_to(&self, state: TxnState, now_ms: i64) -> Transit {
        Transit {
            transactional_id: self.transactional_id.clone(),
            producer_id: self.producer_id,
            previous_producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            last_producer_epoch: self.last_producer_epoch,
            timeout_ms: self.timeout_ms,
            state,
            partitions: self.partitions.clone(),
            start_ms: self.start_ms,
            last_update_ms: now_ms,
        }
    }

    /// Checks a transition and sets the pending state (Kafka's `prepareTransitionTo`).
    fn prepare(&mut self, transit: Transit) -> Result<Transit, IllegalTransition> {
        let state = transit.state;
        if let Some(pending) = self.pending {
            return Err(self.illegal(format!(
                "prepares {} while {} is pending",
                state.name(),
                pending.name()
            )));
        }
        if transit.producer_id < 0 {
            return Err(self.illegal(format!("illegal producer id {}", transit.producer_id)));
        }
        if state != TxnState::Dead && transit.producer_epoch < 0 {
            return Err(self.illegal(format!("illegal producer epoch {}", transit.producer_epoch)));
        }
        if !state.valid_previous().contains(&self.state) {
            return Err(self.illegal(format!(
                "{} cannot follow {}",
                state.name(),
                self.state.name()
            )));
        }
        self.pending = Some(state);
        Ok(transit)
    }

    /// InitProducerId on an idle id: bumps the epoch (Kafka's `prepareIncrementProducerEpoch`).
    /// `expected_epoch` is the epoch a producer recovering from an error sends (KIP-360).
    pub fn prepare_increment_epoch(
        &mut self,
        timeout_ms: i32,
        expected_epoch: Option<i16>,
        now_ms: i64,
    ) -> Result<Result<Transit, FenceError>, IllegalTransition> {
        if self.is_epoch_exhausted() {
            return Err(self.illegal(format!("epoch {} is exhausted", self.producer_epoch)));
        }
        let bumped = self.producer_epoch + 1;
        let (epoch, last_epoch) = match expected_epoch {
            None => (bumped, NO_PRODUCER_EPOCH),
            Some(expected)
                if self.producer_epoch == NO_PRODUCER_EPOCH || expected == self.producer_epoch =>
            {
                (bumped, self.producer_epoch)
            }
            // A retry of a bump whose answer was lost: the same answer again, no second bump.
            Some(expected) if expected == self.last_producer_epoch => {
                (self.producer_epoch, self.last_producer_epoch)
            }
            Some(_) => return Ok(Err(FenceError)),
        };
        let transit = Transit {
            producer_epoch: epoch,
            last_producer_epoch: last_epoch,
            timeout_ms,
            partitions: BTreeSet::new(),
            start_ms: -1,
            ..self.transit_to(TxnState::Empty, now_ms)
        };
        self.prepare(transit).map(Ok)
    }

    /// InitProducerId when the epoch is exhausted: a new producer id at epoch 0
    /// (Kafka's `prepareProducerIdRotation`).
    pub fn prepare_producer_id_rotation(
        &mut self,
        new_producer_id: i64,
        timeout_ms: i32,
        now_ms: i64,
        record_last_epoch: bool,
    ) -> Result<Transit, IllegalTransition> {
        if self.state.is_pending_transaction() {
            return Err(self.illegal("rotates the producer id during a transaction".into()));
        }
        let transit = Transit {
            producer_id: new_producer_id,
            producer_epoch: 0,
            last_producer_epoch: if record_last_epoch {
                self.producer_epoch
            } else {
                NO_PRODUCER_EPOCH
            },
            timeout_ms,
            partitions: BTreeSet::new(),
            start_ms: -1,
            ..self.transit_to(TxnState::Empty, now_ms)
        };
        self.prepare(transit)
    }

    /// Bumps the epoch to fence the current producer before aborting its transaction (Kafka's
    /// `prepareFenceProducerEpoch`). Not written: the abort that follows carries the new epoch.
    pub fn prepare_fence_epoch(&mut self) -> Result<Transit, IllegalTransition> {
        if self.producer_epoch == i16::MAX {
            return Err(self.illegal("fences at epoch Short.MaxValue".into()));
        }
        let transit = Transit {
            producer_epoch: if self.has_failed_epoch_fence {
                self.producer_epoch
            } else {
                self.producer_epoch + 1
            },
            last_producer_epoch: NO_PRODUCER_EPOCH,
            ..self.transit_to(TxnState::PrepareEpochFence, self.last_update_ms)
        };
        self.prepare(transit)
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: Ongoing with more partitions.
    pub fn prepare_add_partitions(
        &mut self,
        added: &BTreeSet<TopicPartition>,
        now_ms: i64,
    ) -> Result<Transit, IllegalTransition> {
        let start_ms = match self.state {
            TxnState::Empty | TxnState::CompleteAbort | TxnState::CompleteCommit => now_ms,
            _ => self.start_ms,
        };
        let transit = Transit {
            partitions: self.partitions.union(added).cloned().collect(),
            start_ms,
            ..self.transit_to(TxnState::Ongoing, now_ms)
        };
        self.prepare(transit)
    }

    /// EndTxn: PrepareCommit or PrepareAbort (transaction version 0/1: the epoch stays).
    pub fn prepare_abort_or_commit(
        &mut self,
        state: TxnState,
        now_ms: i64,
    ) -> Result<Transit, IllegalTransition> {
        let transit = self.transit_to(state, now_ms);
        self.prepare(transit)
    }

    /// Every marker is written: CompleteCommit or CompleteAbort, no partitions.
    pub fn prepare_complete(&mut self, now_ms: i64) -> Result<Transit, IllegalTransition> {
        let state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            other => {
                return Err(self.illegal(format!("completes markers in {}", other.name())));
            }
        };
        self.has_failed_epoch_fence = false;
        let transit = Transit {
            last_producer_epoch: self.producer_epoch,
            partitions: BTreeSet::new(),
            ..self.transit_to(state, now_ms)
        };
        self.prepare(transit)
    }

    /// The transactional id expired: a tombstone is written, then the metadata is dropped.
    pub fn prepare_dead(&mut self) -> Result<Transit, IllegalTransition> {
        let transit = Transit {
            partitions: BTreeSet::new(),
            ..self.transit_to(TxnState::Dead, self.last_update_ms)
        };
        self.prepare(transit)
    }

    /// The prepared transition is durable: memory takes it (Kafka's `completeTransitionTo`, with
    /// the same checks).
    pub fn complete(&mut self, transit: &Transit) -> Result<(), IllegalTransition> {
        let Some(pending) = self.pending else {
            return Err(self.illegal(format!(
                "completes {} with no pending state",
                transit.state.name()
            )));
        };
        if pending != transit.state {
            return Err(self.illegal(format!(
                "completes {} while {} is pending",
                transit.state.name(),
                pending.name()
            )));
        }
        let same_epoch = transit.producer_epoch == self.producer_epoch
            && transit.producer_id == self.producer_id;
        match pending {
            TxnState::Empty => {
                let bump = transit.producer_epoch == self.producer_epoch.wrapping_add(1)
                    || (transit.producer_epoch == 0 && transit.producer_id != self.producer_id);
                if (transit.producer_epoch != self.producer_epoch && !bump)
                    || !transit.partitions.is_empty()
                    || transit.start_ms != -1
                {
                    return Err(self.illegal("unexpected InitProducerId transit".into()));
                }
                self.timeout_ms = transit.timeout_ms;
                self.producer_epoch = transit.producer_epoch;
                self.last_producer_epoch = transit.last_producer_epoch;
                self.previous_producer_id = transit.previous_producer_id;
                self.producer_id = transit.producer_id;
            }
            TxnState::Ongoing => {
                if !same_epoch
                    || !self.partitions.is_subset(&transit.partitions)
                    || self.timeout_ms != transit.timeout_ms
                {
                    return Err(self.illegal("unexpected AddPartitions transit".into()));
                }
                self.start_ms = transit.start_ms;
                self.partitions = transit.partitions.clone();
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                if !same_epoch
                    || self.partitions != transit.partitions
                    || self.timeout_ms != transit.timeout_ms
                    || self.start_ms != transit.start_ms
                {
                    return Err(self.illegal("unexpected EndTxn transit".into()));
                }
            }
            TxnState::CompleteCommit | TxnState::CompleteAbort => {
                if !same_epoch || self.timeout_ms != transit.timeout_ms || transit.start_ms == -1 {
                    return Err(self.illegal("unexpected marker completion transit".into()));
                }
                self.start_ms = transit.start_ms;
                self.partitions.clear();
            }
            TxnState::PrepareEpochFence | TxnState::Dead => {
                return Err(self.illegal(format!("{} is never completed", pending.name())));
            }
        }
        self.last_update_ms = transit.last_update_ms;
        self.pending = None;
        self.fence_in_flight = false;
        self.state = pending;
        Ok(())
    }

    /// The prepared transition's write failed: the pending state is dropped, memory keeps what it had.
    /// A failed fence keeps its bumped epoch (it was never returned to a client), and the next fence
    /// does not bump it again, as in Kafka.
    pub fn abandon(&mut self) {
        self.pending = None;
        if self.fence_in_flight {
            self.has_failed_epoch_fence = true;
            self.fence_in_flight = false;
        }
    }
}

/// The producer presented an epoch that is neither the current nor the one before (fenced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FenceError;

/// True when `epoch` may not be bumped again (Kafka's `isEpochExhausted`).
pub fn is_epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}
