//! Unit tests of the pure transaction coordinator: every transition and error code of Kafka's
//! `TransactionCoordinator` for transaction versions 0/1, with a fake clock and producer ids from a
//! counter. A harness writes each transit "durably" by completing it, or fails it on demand.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;

use super::log_format::{decode, encode_key, encode_value};
use super::machine::TRANSACTION_MAX_TIMEOUT_MS_DEFAULT;
use super::state::{Transit, TxnState, NO_PRODUCER_EPOCH};
use super::{InitOutcome, ListFilter, Outcome, TxnConfig, TxnStateMachine};

const ID: &str = "orders-eos";
const TIMEOUT_MS: i32 = 60_000;

struct Harness {
    machine: TxnStateMachine,
    now_ms: i64,
    next_pid: i64,
}

fn partitions(list: &[(&str, i32)]) -> BTreeSet<(String, i32)> {
    list.iter().map(|(t, p)| ((*t).to_owned(), *p)).collect()
}

impl Harness {
    fn new() -> Self {
        let mut machine = TxnStateMachine::new(TxnConfig {
            max_timeout_ms: TRANSACTION_MAX_TIMEOUT_MS_DEFAULT,
            id_expiration_ms: 3_600_000,
        });
        machine.load(Vec::new());
        Self {
            machine,
            now_ms: 1_000_000,
            next_pid: 1000,
        }
    }

    fn init_outcome(&mut self, id: &str, expected: Option<(i64, i16)>) -> InitOutcome {
        let next_pid = &mut self.next_pid;
        let mut allocate = || {
            *next_pid += 1;
            Ok(*next_pid)
        };
        self.machine
            .init_producer_id(id, TIMEOUT_MS, expected, self.now_ms, &mut allocate)
            .unwrap()
    }

    /// InitProducerId that is written and completed: the answer the client gets.
    fn init(
        &mut self,
        id: &str,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ResponseError> {
        match self.init_outcome(id, expected) {
            InitOutcome::Answer(answer) => answer,
            InitOutcome::Persist(transit) => {
                self.machine.complete(&transit).unwrap();
                Ok((transit.producer_id, transit.producer_epoch))
            }
            InitOutcome::FenceAndAbort(transit) => {
                self.machine.complete(&transit).unwrap();
                Err(ResponseError::ConcurrentTransactions)
            }
        }
    }

    fn persist(&mut self, outcome: Outcome) -> Result<(), ResponseError> {
        match outcome {
            Outcome::Answer(answer) => answer,
            Outcome::Persist(transit) => {
                self.machine.complete(&transit).unwrap();
                Ok(())
            }
        }
    }

    fn add(&mut self, pid: i64, epoch: i16, list: &[(&str, i32)]) -> Result<(), ResponseError> {
        let outcome = self
            .machine
            .add_partitions(ID, pid, epoch, &partitions(list), self.now_ms)
            .unwrap();
        self.persist(outcome)
    }

    fn end(&mut self, pid: i64, epoch: i16, commit: bool) -> Result<(), ResponseError> {
        let outcome = self
            .machine
            .end_txn(ID, pid, epoch, commit, self.now_ms)
            .unwrap();
        self.persist(outcome)
    }

    /// The markers of the prepared end are written: Complete is written and completed.
    fn finish_markers(&mut self) -> Transit {
        let transit = self.machine.markers_written(ID, self.now_ms).unwrap();
        self.machine.complete(&transit).unwrap();
        transit
    }

    fn state(&self) -> TxnState {
        self.machine.get(ID).unwrap().state
    }
}

// -- InitProducerId ------------------------------------------------------------------------------

// A new transactional id gets a fresh producer id at epoch 0; a second InitProducerId bumps the
// epoch and keeps the producer id (fencing the first producer).
#[test]
fn init_producer_id_starts_at_epoch_zero_then_bumps() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(ID, None).unwrap();
    assert_eq!(epoch, 0);
    assert_eq!(h.state(), TxnState::Empty);
    let (pid2, epoch2) = h.init(ID, None).unwrap();
    assert_eq!((pid2, epoch2), (pid, 1));
    assert_eq!(
        h.add(pid, 0, &[("t", 0)]),
        Err(ResponseError::ProducerFenced)
    );
}

// KIP-360: a producer that sends its current id and epoch gets a bump with the old epoch
// remembered; a retry of that same request (its answer lost) gets the same answer, no second bump.
#[test]
fn init_with_expected_epoch_bumps_once_and_retries_are_idempotent() {
    let mut h = Harness::new();
    let (pid, _) = h.init(ID, None).unwrap();
    let (_, epoch) = h.init(ID, Some((pid, 0))).unwrap();
    assert_eq!(epoch, 1);
    assert_eq!(h.machine.get(ID).unwrap().last_producer_epoch, 0);
    let (_, again) = h.init(ID, Some((pid, 0))).unwrap();
    assert_eq!(again, 1, "a retry must not bump again");
}

#[test]
fn init_with_a_stale_epoch_or_foreign_producer_id_is_fenced() {
    let mut h = Harness::new();
    let (pid, _) = h.init(ID, None).unwrap();
    h.init(ID, None).unwrap();
    h.init(ID, None).unwrap();
    assert_eq!(
        h.init(ID, Some((pid, 0))),
        Err(ResponseError::ProducerFenced)
    );
    assert_eq!(
        h.init(ID, Some((pid + 77, 2))),
        Err(ResponseError::ProducerFenced)
    );
}

#[test]
fn init_rejects_bad_timeouts_and_empty_ids() {
    let mut h = Harness::new();
    let next_pid = &mut h.next_pid;
    let mut allocate = || {
        *next_pid += 1;
        Ok(*next_pid)
    };
    for timeout in [0, -1, TRANSACTION_MAX_TIMEOUT_MS_DEFAULT + 1] {
        let outcome = h
            .machine
            .init_producer_id(ID, timeout, None, 0, &mut allocate)
            .unwrap();
        assert_eq!(
            outcome,
            InitOutcome::Answer(Err(ResponseError::InvalidTransactionTimeout)),
            "timeout {timeout}"
        );
    }
    let outcome = h
        .machine
        .init_producer_id("", TIMEOUT_MS, None, 0, &mut allocate)
        .unwrap();
    assert_eq!(
        outcome,
        InitOutcome::Answer(Err(ResponseError::InvalidRequest))
    );
}

#[test]
fn init_while_a_transition_is_pending_is_concurrent() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(ID, None).unwrap();
    let pending = h
        .machine
        .add_partitions(ID, pid, epoch, &partitions(&[("t", 0)]), h.now_ms)
        .unwrap();
    assert!(matches!(pending, Outcome::Persist(_)));
    assert_eq!(h.init(ID, None), Err(ResponseError::ConcurrentTransactions));
}

// InitProducerId during an ongoing transaction fences its producer at once, aborts the
// transaction, and answers CONCURRENT_TRANSACTIONS; the retry after the abort gets a new epoch.
#[test]
fn init_during_a_transaction_fences_and_aborts_it() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(ID, None).unwrap();
    h.add(pid, epoch, &[("t", 0), ("t", 1)]).unwrap();
    let InitOutcome::FenceAndAbort(abort) = h.init_outcome(ID, None) else {
        panic!("expected a fence");
    };
    assert_eq!(abort.state, TxnState::PrepareAbort);
    assert_eq!(abort.producer_epoch, epoch + 1);
    assert_eq!(abort.partitions, partitions(&[("t", 0), ("t", 1)]));
    // The zombie is fenced before the abort is even written.
    assert_eq!(
        h.add(pid, epoch, &[("t", 2)]),
        Err(ResponseError::ProducerFenced)
    );
    assert_eq!(h.end(pid, epoch, true), Err(ResponseError::ProducerFenced));
    h.machine.complete(&abort).unwrap();
    assert_eq!(h.state(), TxnState::PrepareAbort);
    assert_eq!(h.init(ID, None), Err(ResponseError::ConcurrentTransactions));
    h.finish_markers();
    assert_eq!(h.state(), TxnState::CompleteAbort);
    assert_eq!(h.init(ID, None), Ok((pid, epoch + 2)));
}

// A fence whose write failed keeps the bumped epoch (never returned to a client) and the next
// fence does not bump again.
#[test]
fn a_failed_fence_is_not_bumped_twice() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(ID, None).unwrap();
    h.add(pid, epoch, &[("t", 0)]).unwrap();
    let InitOutcome::FenceAndAbort(first) = h.init_outcome(ID, None) else {
        panic!("expected a fence");
    };
    h.machine.abandon(&first);
    let meta = h.machine.get(ID).unwrap();
    assert!(meta.has_failed_epoch_fence);
    assert_eq!(meta.state, TxnState::Ongoing);
    assert_eq!(meta.producer_epoch, epoch + 1);
    let InitOutcome::FenceAndAbort(second) = h.init_outcome(ID, None) else {
        panic!("expected a fence");
    };
    assert_eq!(second.producer_epoch, epoch + 1);
    h.machine.complete(&second).unwrap();
    h.finish_markers();
    assert!(!h.machine.get(ID).unwrap().has_failed_epoch_fence);
}

// At an exhausted epoch InitProducerId rotates to a new producer id at epoch 0.
#[test]
fn an_exhausted_epoch_rotates_the_producer_id() {
    let mut h = Harness::new();
    let (pid, _) = h.init(ID, None).unwrap();
    let mut record = h.machine.get(ID).unwrap().clone();
    record.producer_epoch = i16::MAX - 1;
    let transit = Transit {
        transactional_id: ID.into(),
        producer_id: pid,
        previous_producer_id: -1,
        producer_epoch: record.producer_epoch,
        last_producer_epoch: NO_PRODUCER_EPOCH,
        timeout_ms: TIMEOUT_MS,
        state: TxnState::Empty,
        partitions: BTreeSet::new(),
        start_ms: -1,
        last_update_ms: h.now_ms,
    };
    let mut machine = TxnStateMachine::new(TxnConfig::default());
    machine.load(vec![(ID.to_owned(), Some(transit))]);
    h.machine = machine;
    let (new_pid, epoch) = h.init(ID, None).unwrap();
    assert_ne!(new_pid, pid);
    assert_eq!(epoch, 0);
    assert_eq!(h.machine.get(ID).unwrap().previous_producer_id, pid);
}

#[test]
fn requests_before_load_and_after_shutdown_are_refused() {
    let mut machine = TxnStateMachine::new(TxnConfig::default());
    let mut allocate = || Ok(1);
    assert_eq!(
        machine
            .init_producer_id(ID, TIMEOUT_MS, None, 0, &mut allocate)
            .unwrap(),
        InitOutcome::Answer(Err(ResponseError::CoordinatorLoadInProgress))
    );
    machine.load(Vec::new());
    machine.shutdown();
    assert_eq!(
        machine.end_txn(ID, 1, 0, true, 0).unwrap(),
        Outcome::Answer(Err(ResponseError::CoordinatorNotAvailable))
    );
    assert_eq!(
        machine.describe(ID).err(),
        Some(ResponseError::CoordinatorNotAvailable)
    );
}

// -- AddPartitionsToTxn --------------------------------------------------------------------------

#[test]
fn add_partitions_checks_producer_id_epoch_and_state() {
    let mut h = Harness::new();
    assert_eq!(
        h.add(5, 0, &[("t", 0)]),
        Err(ResponseError::InvalidProducerIdMapping)
    );
    let (pid, epoch) = h.init(ID, None).unwrap();
    assert_eq!(
        h.add(pid + 1, epoch, &[("t", 0)]),
        Err(ResponseError::InvalidProducerIdMapping)
    );
    assert_eq!(
        h.add(pid, epoch + 1, &[("t", 0)]),
        Err(ResponseError::ProducerFenced)
    );
    let outcome = h
        .machine
        .add_partitions("", pid, epoch, &partitions(&[("t", 0)]), 0)
        .unwrap();
    assert_eq!(outcome, Outcome::Answer(Err(ResponseError::InvalidRequest)));
    h.add(pid, epoch, &[("t", 0)]).unwrap();
    assert_eq!(h.state(), TxnState::Ongoing);
    h.end(pid, epoch, true).unwrap();
    assert_eq!(
        h.add(pid, epoch, &[("t", 1)]),
        Err(ResponseError::ConcurrentTransactions)
    );
}

// The transaction starts at its first partition; adding more keeps that start; re-adding a known
// partition answers at once, with nothing to write.
#[test]
fn add_partitions_grows_the_set_and_keeps_the_start() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(ID, None).unwrap();
    let start = h.now_ms;
    h.add(pid, epoch, &[("t", 0)]).unwrap();
    h.now_ms += 500;
    h.add(pid, epoch, &[("u", 3)]).unwrap();
    let meta = h.machine.get(ID).unwrap();
    assert_eq!(meta.start_ms, start);
    assert_eq!(meta.partitions, partitions(&[("t", 0), ("u", 3)]));
    let again = h
        .machine
        .add_partitions(ID, pid, epoch, &partitions(&[("t", 0)]), h.now_ms)
        .unwrap();
    assert_eq!(again, Outcome::Answer(Ok(())));
}

// A failed write leaves memory as it was: the partitions were never added.
#[test]
fn a_failed_add_partitions_write_changes_nothing() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(ID, None).unwrap();
    let Outcome::Persist(transit) = h
        .machine
        .add_partitions(ID, pid, epoch, &partitions(&[("t", 0)]), h.now_ms)
        .unwrap()
    else {
        panic!("expected a write");
    };
    h.machine.abandon(&transit);
    let meta = h.machine.get(ID).unwrap();
    assert_eq!(meta.state, TxnState::Empty);
    assert!(meta.partitions.is_empty());
    assert_eq!(meta.pending, None);
    h.add(pid, epoch, &[("t", 0)]).unwrap();
}

// -- EndTxn --------------------------------------------------------------------------------------

#[test]
fn commit_goes_through_prepare_and_complete() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(ID, None).unwrap();
    h.add(pid, epoch, &[("t", 0)]).unwrap();
    h.end(pid, epoch, true).unwrap();
    assert_eq!(h.state(), TxnState::PrepareCommit);
    assert_eq!(
        h.end(pid, epoch, true),
        Err(ResponseError::ConcurrentTransactions)
    );
    assert_eq!(
        h.end(pid, epoch, false),
        Err(ResponseError::InvalidTxnState)
    );
    let complete = h.finish_markers();
    assert_eq!(complete.state, TxnState::CompleteCommit);
    assert!(h.machine.get(ID).unwrap().partitions.is_empty());
    assert_eq!(h.end(pid, epoch, true), Ok(()), "a retried commit succeeds");
    assert_eq!(
        h.end(pid, epoch, false),
        Err(ResponseError::InvalidTxnState)
    );
    // The next transaction starts from CompleteCommit.
    h.now_ms += 10;
    h.add(pid, epoch, &[("t", 1)]).unwrap();
    assert_eq!(h.machine.get(ID).unwrap().start_ms, h.now_ms);
}

#[test]
fn abort_goes_through_prepare_and_complete() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(ID, None).unwrap();
    h.add(pid, epoch, &[("t", 0)]).unwrap();
    h.end(pid, epoch, false).unwrap();
    assert_eq!(h.state(), TxnState::PrepareAbort);
    assert_eq!(
        h.end(pid, epoch, false),
        Err(ResponseError::ConcurrentTransactions)
    );
    assert_eq!(h.end(pid, epoch, true), Err(ResponseError::InvalidTxnState));
    assert_eq!(h.finish_markers().state, TxnState::CompleteAbort);
    assert_eq!(h.end(pid, epoch, false), Ok(()));
    assert_eq!(h.end(pid, epoch, true), Err(ResponseError::InvalidTxnState));
}

#[test]
fn end_txn_checks_id_epoch_and_state() {
    let mut h = Harness::new();
    assert_eq!(
        h.end(1, 0, true),
        Err(ResponseError::InvalidProducerIdMapping)
    );
    let (pid, epoch) = h.init(ID, None).unwrap();
    assert_eq!(
        h.end(pid, epoch, true),
        Err(ResponseError::InvalidTxnState),
        "Empty"
    );
    assert_eq!(
        h.end(pid + 1, epoch, true),
        Err(ResponseError::InvalidProducerIdMapping)
    );
    assert_eq!(
        h.end(pid, epoch + 1, true),
        Err(ResponseError::ProducerFenced)
    );
    h.add(pid, epoch, &[("t", 0)]).unwrap();
    let Outcome::Persist(_) = h.machine.end_txn(ID, pid, epoch, true, h.now_ms).unwrap() else {
        panic!("expected a write");
    };
    assert_eq!(
        h.end(pid, epoch, true),
        Err(ResponseError::ConcurrentTransactions),
        "pending"
    );
}

#[test]
fn markers_cannot_complete_an_ongoing_transaction() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(ID, None).unwrap();
    h.add(pid, epoch, &[("t", 0)]).unwrap();
    assert!(h.machine.markers_written(ID, h.now_ms).is_err());
}

// -- timeouts and expiration ---------------------------------------------------------------------

#[test]
fn a_transaction_past_its_timeout_is_fenced_and_aborted() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(ID, None).unwrap();
    h.add(pid, epoch, &[("t", 0)]).unwrap();
    h.now_ms += i64::from(TIMEOUT_MS);
    assert!(
        h.machine.abort_timed_out(h.now_ms).is_empty(),
        "not past the timeout yet"
    );
    h.now_ms += 1;
    let aborts = h.machine.abort_timed_out(h.now_ms);
    assert_eq!(aborts.len(), 1);
    let abort = aborts.into_iter().next().unwrap().unwrap();
    assert_eq!(abort.state, TxnState::PrepareAbort);
    assert_eq!(abort.producer_epoch, epoch + 1);
    assert!(
        h.machine.abort_timed_out(h.now_ms).is_empty(),
        "pending: not twice"
    );
    h.machine.complete(&abort).unwrap();
    h.finish_markers();
    assert_eq!(
        h.add(pid, epoch, &[("t", 0)]),
        Err(ResponseError::ProducerFenced)
    );
    assert_eq!(h.state(), TxnState::CompleteAbort);
}

#[test]
fn idle_transactional_ids_expire_and_are_forgotten() {
    let mut h = Harness::new();
    h.init(ID, None).unwrap();
    h.now_ms += 3_600_000 - 1;
    assert!(h.machine.expire(h.now_ms).is_empty());
    h.now_ms += 1;
    let dead = h.machine.expire(h.now_ms);
    assert_eq!(dead.len(), 1);
    let dead = dead.into_iter().next().unwrap().unwrap();
    assert_eq!(dead.state, TxnState::Dead);
    assert_eq!(
        h.machine.describe(ID).err(),
        Some(ResponseError::TransactionalIdNotFound)
    );
    h.machine.complete(&dead).unwrap();
    assert!(h.machine.get(ID).is_none());
}

#[test]
fn an_ongoing_transaction_never_expires() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(ID, None).unwrap();
    h.add(pid, epoch, &[("t", 0)]).unwrap();
    h.now_ms += 10 * 3_600_000;
    assert!(h.machine.expire(h.now_ms).is_empty());
}

// -- describe, list, verify ----------------------------------------------------------------------

#[test]
fn describe_and_list_report_state_partitions_and_filters() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(ID, None).unwrap();
    h.add(pid, epoch, &[("t", 0)]).unwrap();
    let other = h.init("other", None).unwrap();
    let meta = h.machine.describe(ID).unwrap();
    assert_eq!(meta.state.name(), "Ongoing");
    assert_eq!(meta.partitions, partitions(&[("t", 0)]));
    assert_eq!(
        h.machine.describe("nope").err(),
        Some(ResponseError::TransactionalIdNotFound)
    );
    assert_eq!(
        h.machine.describe("").err(),
        Some(ResponseError::InvalidRequest)
    );

    let ids = |filter: &ListFilter, now: i64| -> Vec<String> {
        h.machine
            .list(filter, now)
            .unwrap()
            .into_iter()
            .map(|m| m.transactional_id.clone())
            .collect()
    };
    assert_eq!(
        ids(
            &ListFilter {
                min_duration_ms: -1,
                ..ListFilter::default()
            },
            0
        ),
        [ID, "other"]
    );
    let ongoing = ListFilter {
        states: vec!["Ongoing".into()],
        min_duration_ms: -1,
        ..ListFilter::default()
    };
    assert_eq!(ids(&ongoing, 0), [ID]);
    let unknown = ListFilter {
        states: vec!["Bogus".into()],
        min_duration_ms: -1,
        ..ListFilter::default()
    };
    assert!(ids(&unknown, 0).is_empty());
    let by_pid = ListFilter {
        producer_ids: vec![other.0],
        min_duration_ms: -1,
        ..ListFilter::default()
    };
    assert_eq!(ids(&by_pid, 0), ["other"]);
    let long = ListFilter {
        min_duration_ms: 1_000,
        ..ListFilter::default()
    };
    assert!(ids(&long, h.now_ms + 1_000).is_empty());
    assert_eq!(ids(&long, h.now_ms + 1_001), [ID]);
}

#[test]
fn verify_partition_accepts_only_the_transactions_partitions() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init(ID, None).unwrap();
    let tp = ("t".to_owned(), 0);
    assert_eq!(
        h.machine.verify_partition(pid, epoch, &tp),
        Err(ResponseError::InvalidTxnState)
    );
    h.add(pid, epoch, &[("t", 0)]).unwrap();
    assert_eq!(h.machine.verify_partition(pid, epoch, &tp), Ok(()));
    assert_eq!(
        h.machine.verify_partition(pid, epoch, &("t".to_owned(), 1)),
        Err(ResponseError::InvalidTxnState)
    );
    assert_eq!(
        h.machine.verify_partition(pid, epoch + 1, &tp),
        Err(ResponseError::ProducerFenced)
    );
    assert_eq!(
        h.machine.verify_partition(pid + 9, epoch, &tp),
        Err(ResponseError::InvalidProducerIdMapping)
    );
}

// -- load and the record format ------------------------------------------------------------------

// Every record of a run, replayed in order into a new machine, gives the same metadata; a
// transaction recovered in PrepareCommit is reported so that its markers are written again.
#[test]
fn replaying_the_records_recovers_the_state_and_in_doubt_transactions() {
    let mut h = Harness::new();
    let mut records = Vec::new();
    let (pid, epoch) = h.init(ID, None).unwrap();
    records.push(h.machine.get(ID).unwrap().clone());
    h.add(pid, epoch, &[("t", 0), ("u", 1)]).unwrap();
    records.push(h.machine.get(ID).unwrap().clone());
    h.end(pid, epoch, true).unwrap();
    records.push(h.machine.get(ID).unwrap().clone());
    let encoded: Vec<_> = records
        .iter()
        .map(|m| {
            let transit = Transit {
                transactional_id: m.transactional_id.clone(),
                producer_id: m.producer_id,
                previous_producer_id: m.previous_producer_id,
                producer_epoch: m.producer_epoch,
                last_producer_epoch: m.last_producer_epoch,
                timeout_ms: m.timeout_ms,
                state: m.state,
                partitions: m.partitions.clone(),
                start_ms: m.start_ms,
                last_update_ms: m.last_update_ms,
            };
            (encode_key(ID), encode_value(&transit))
        })
        .collect();
    let decoded = encoded.iter().map(|(k, v)| decode(k, Some(v)).unwrap());
    let mut recovered = TxnStateMachine::new(TxnConfig::default());
    let in_doubt = recovered.load(decoded);
    assert_eq!(in_doubt, [ID]);
    let meta = recovered.get(ID).unwrap();
    assert_eq!(meta.state, TxnState::PrepareCommit);
    assert_eq!(meta.partitions, partitions(&[("t", 0), ("u", 1)]));
    assert_eq!((meta.producer_id, meta.producer_epoch), (pid, epoch));
    // The recovered machine finishes the commit.
    let complete = recovered.markers_written(ID, 5).unwrap();
    recovered.complete(&complete).unwrap();
    assert_eq!(recovered.get(ID).unwrap().state, TxnState::CompleteCommit);
    // A tombstone after them removes the id.
    let mut again = TxnStateMachine::new(TxnConfig::default());
    let with_tombstone = encoded
        .iter()
        .map(|(k, v)| decode(k, Some(v)).unwrap())
        .chain(std::iter::once(decode(&encode_key(ID), None).unwrap()));
    assert!(again.load(with_tombstone).is_empty());
    assert!(again.get(ID).is_none());
}

#[test]
fn every_state_round_trips_through_the_record_format() {
    for state in TxnState::ALL {
        assert_eq!(TxnState::from_id(state.id()), Some(state));
        assert_eq!(TxnState::from_name(state.name()), Some(state));
        let transit = Transit {
            transactional_id: "tx-é".into(),
            producer_id: 42,
            previous_producer_id: -1,
            producer_epoch: 7,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms: 30_000,
            state,
            partitions: if state == TxnState::Empty {
                BTreeSet::new()
            } else {
                partitions(&[("a", 0), ("a", 2), ("b", 1)])
            },
            start_ms: 11,
            last_update_ms: 12,
        };
        let (id, back) = decode(&encode_key("tx-é"), Some(&encode_value(&transit))).unwrap();
        assert_eq!(id, "tx-é");
        assert_eq!(back, Some(transit), "{state:?}");
    }
}

// Kafka's value layout, byte for byte (TransactionLogValue v0), and a v1 value with the
// previous producer id in tag 0.
#[test]
fn values_have_kafkas_layout_and_v1_is_read() {
    let transit = Transit {
        transactional_id: "x".into(),
        producer_id: 1,
        previous_producer_id: -1,
        producer_epoch: 2,
        last_producer_epoch: NO_PRODUCER_EPOCH,
        timeout_ms: 3,
        state: TxnState::Ongoing,
        partitions: partitions(&[("t", 5)]),
        start_ms: 6,
        last_update_ms: 7,
    };
    let expected: Vec<u8> = [
        &0i16.to_be_bytes()[..],
        &1i64.to_be_bytes(),
        &2i16.to_be_bytes(),
        &3i32.to_be_bytes(),
        &[1u8],
        &1i32.to_be_bytes(),
        &1i16.to_be_bytes(),
        b"t",
        &1i32.to_be_bytes(),
        &5i32.to_be_bytes(),
        &7i64.to_be_bytes(),
        &6i64.to_be_bytes(),
    ]
    .concat();
    assert_eq!(&encode_value(&transit)[..], &expected[..]);
    assert_eq!(&encode_key("x")[..], &[0, 0, 0, 1, b'x']);

    let v1: Vec<u8> = [
        &1i16.to_be_bytes()[..],
        &1i64.to_be_bytes(),
        &2i16.to_be_bytes(),
        &3i32.to_be_bytes(),
        &[1u8],
        &[2u8],       // compact array of 1
        &[2u8, b't'], // compact string "t"
        &[2u8],       // compact array of 1
        &5i32.to_be_bytes(),
        &[0u8], // partition schema's tagged fields
        &7i64.to_be_bytes(),
        &6i64.to_be_bytes(),
        &[1u8, 0u8, 8u8], // one tagged field: tag 0, 8 bytes
        &99i64.to_be_bytes(),
    ]
    .concat();
    let (_, back) = decode(&encode_key("x"), Some(&v1)).unwrap();
    let back = back.unwrap();
    assert_eq!(back.previous_producer_id, 99);
    assert_eq!(back.partitions, partitions(&[("t", 5)]));
    assert_eq!((back.start_ms, back.last_update_ms), (6, 7));
}

#[test]
fn truncated_or_corrupt_records_are_errors() {
    let transit = Transit {
        transactional_id: "x".into(),
        producer_id: 1,
        previous_producer_id: -1,
        producer_epoch: 2,
        last_producer_epoch: NO_PRODUCER_EPOCH,
        timeout_ms: 3,
        state: TxnState::PrepareCommit,
        partitions: partitions(&[("t", 5)]),
        start_ms: 6,
        last_update_ms: 7,
    };
    let value = encode_value(&transit);
    for cut in 0..value.len() {
        assert!(
            decode(&encode_key("x"), Some(&value[..cut])).is_err(),
            "cut at {cut}"
        );
    }
    let key = encode_key("x");
    for cut in 0..key.len() {
        assert!(decode(&key[..cut], None).is_err(), "key cut at {cut}");
    }
    let mut bad_state = value.to_vec();
    bad_state[16] = 42;
    assert!(decode(&key, Some(&bad_state)).is_err());
    let mut huge = value.to_vec();
    huge[17..21].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(decode(&key, Some(&huge)).is_err());
}
