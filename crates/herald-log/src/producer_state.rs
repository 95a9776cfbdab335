//! Idempotent-producer state of one partition: [`ProducerStateManager`].
//!
//! For every producer id it keeps the epoch, the last sequence number and the metadata of the last
//! [`PRODUCER_BATCHES_RETAINED_MAX`] batches, which is what Kafka needs to answer a retried produce with
//! the original offsets (duplicate) and to reject gaps (`OutOfOrderSequence`) and zombies
//! (`InvalidProducerEpoch`). It is pure in-memory state: the log rebuilds it at open by replaying batch
//! headers (see `recovery.rs`), starting from the snapshot written at the last flush or roll
//! (`producer-state-snapshot`, see [`ProducerStateManager::encode_snapshot`]). It is not transaction
//! state (no transaction markers, no LSO).

use std::collections::{HashMap, VecDeque};

use crate::batch::RecordBatchHeader;
use crate::error::LogError;

/// Name of the producer-state snapshot file inside a partition directory.
pub const PRODUCER_SNAPSHOT_FILE: &str = "producer-state-snapshot";
const SNAPSHOT_VERSION: &str = "0";

/// How many recent batches per producer are remembered for duplicate detection (Kafka's
/// `NUM_BATCHES_TO_RETAIN`, matching `max.in.flight.requests.per.connection <= 5`).
pub const PRODUCER_BATCHES_RETAINED_MAX: usize = 5;

/// What is remembered of one appended batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

/// One producer's state in this partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchMetadata>,
}

impl ProducerEntry {
    fn last_sequence(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_sequence)
    }
}

/// The verdict on one batch of an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New data in sequence: append it.
    Append,
    /// A retry of a batch already in the log: append nothing, answer with these offsets.
    Duplicate(BatchMetadata),
}

/// `sequence + increment` with Kafka's wraparound: after `i32::MAX` comes 0.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// Last sequence number of a batch.
pub fn last_sequence(header: &RecordBatchHeader) -> i32 {
    increment_sequence(header.base_sequence, header.last_offset_delta.max(0))
}

/// Per-partition idempotent-producer state.
#[derive(Debug, Default, Clone)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStateManager {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Producer id -> last offset of its last batch in the log (the batch the cleaner must keep, if only
    /// as an empty batch, so that the producer's sequence survives).
    pub fn last_offsets(&self) -> HashMap<i64, i64> {
        self.producers
            .iter()
            .filter_map(|(&id, e)| e.batches.back().map(|b| (id, b.last_offset)))
            .collect()
    }

    /// Checks a batch of producer `header.producer_id` (>= 0) against the known state.
    pub fn check(&self, header: &RecordBatchHeader) -> Result<SequenceCheck, LogError> {
        let producer_id = header.producer_id;
        let Some(entry) = self.producers.get(&producer_id) else {
            // A producer not seen yet (or whose batches left with retention): any sequence starts it.
            return Ok(SequenceCheck::Append);
        };
        let received = header.base_sequence;
        if header.producer_epoch < entry.epoch {
            return Err(LogError::InvalidProducerEpoch {
                producer_id,
                current: entry.epoch,
                received: header.producer_epoch,
            });
        }
        if header.producer_epoch > entry.epoch {
            if received != 0 {
                return Err(LogError::OutOfOrderSequence {
                    producer_id,
                    expected: 0,
                    received,
                });
            }
            return Ok(SequenceCheck::Append);
        }
        let last = last_sequence(header);
        if let Some(original) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence == received && b.last_sequence == last)
        {
            return Ok(SequenceCheck::Duplicate(*original));
        }
        let expected = entry
            .last_sequence()
            .map_or(received, |s| increment_sequence(s, 1));
        if received != expected {
            return Err(LogError::OutOfOrderSequence {
                producer_id,
                expected,
                received,
            });
        }
        Ok(SequenceCheck::Append)
    }

    /// Records a batch that is now in the log (its header carries the assigned offsets). Also used to
    /// replay headers at open, where no check is made.
    pub fn update(&mut self, header: &RecordBatchHeader) {
        if !header.has_producer_id() || header.is_control() {
            return;
        }
        let entry = self
            .producers
            .entry(header.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: header.producer_epoch,
                batches: VecDeque::with_capacity(PRODUCER_BATCHES_RETAINED_MAX),
            });
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == PRODUCER_BATCHES_RETAINED_MAX {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMetadata {
            first_sequence: header.base_sequence,
            last_sequence: last_sequence(header),
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
            max_timestamp: header.max_timestamp,
        });
    }
}

impl ProducerStateManager {
    /// The snapshot text of this state taken at `log_end_offset`: a version line, the offset line, then
    /// one line per producer, `producer_id epoch` followed by
    /// `first_sequence:last_sequence:base_offset:last_offset:max_timestamp` per remembered batch.
    pub fn encode_snapshot(&self, log_end_offset: i64) -> String {
        let mut text = format!("{SNAPSHOT_VERSION}\n{log_end_offset}\n");
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(entry) = self.producers.get(id) else {
                continue;
            };
            text.push_str(&format!("{id} {}", entry.epoch));
            for b in &entry.batches {
                text.push_str(&format!(
                    " {}:{}:{}:{}:{}",
                    b.first_sequence,
                    b.last_sequence,
                    b.base_offset,
                    b.last_offset,
                    b.max_timestamp
                ));
            }
            text.push('\n');
        }
        text
    }

    /// Parses a snapshot: the offset it was taken at and the state. `None` if malformed.
    pub fn decode_snapshot(text: &str) -> Option<(i64, ProducerStateManager)> {
        let mut lines = text.lines();
        if lines.next()? != SNAPSHOT_VERSION {
            return None;
        }
        let offset = lines.next()?.parse::<i64>().ok()?;
        let mut producers = HashMap::new();
        for line in lines {
            let mut fields = line.split(' ');
            let id = fields.next()?.parse::<i64>().ok()?;
            let epoch = fields.next()?.parse::<i16>().ok()?;
            let mut batches = VecDeque::with_capacity(PRODUCER_BATCHES_RETAINED_MAX);
            for field in fields {
                let mut parts = field.split(':');
                let mut next = || parts.next().and_then(|p| p.parse::<i64>().ok());
                let first_sequence = i32::try_from(next()?).ok()?;
                let last_sequence = i32::try_from(next()?).ok()?;
                let (base_offset, last_offset, max_timestamp) = (next()?, next()?, next()?);
                batches.push_back(BatchMetadata {
                    first_sequence,
                    last_sequence,
                    base_offset,
                    last_offset,
                    max_timestamp,
                });
            }
            if batches.len() > PRODUCER_BATCHES_RETAINED_MAX {
                return None;
            }
            producers.insert(id, ProducerEntry { epoch, batches });
        }
        Some((offset, ProducerStateManager { producers }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn header(
        producer_id: i64,
        epoch: i16,
        base_sequence: i32,
        count: i32,
        base_offset: i64,
    ) -> RecordBatchHeader {
        RecordBatchHeader {
            base_offset,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id,
            producer_epoch: epoch,
            base_sequence,
            records_count: count,
        }
    }

    // sequence numbers wrap from i32::MAX to 0 as in Kafka
    #[test]
    fn increment_sequence_wraps_to_zero() {
        assert_eq!(increment_sequence(5, 1), 6);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
    }

    // in-order batches append, retries of one of the last five are duplicates, gaps are rejected
    #[test]
    fn duplicates_and_gaps() {
        let mut state = ProducerStateManager::new();
        let first = header(7, 0, 0, 3, 0);
        assert_eq!(state.check(&first).ok(), Some(SequenceCheck::Append));
        state.update(&first);
        let second = header(7, 0, 3, 2, 3);
        assert_eq!(state.check(&second).ok(), Some(SequenceCheck::Append));
        state.update(&second);
        match state.check(&header(7, 0, 0, 3, 99)) {
            Ok(SequenceCheck::Duplicate(b)) => assert_eq!((b.base_offset, b.last_offset), (0, 2)),
            other => panic!("expected duplicate, got {other:?}"),
        }
        assert!(matches!(
            state.check(&header(7, 0, 9, 1, 5)),
            Err(LogError::OutOfOrderSequence {
                expected: 5,
                received: 9,
                ..
            })
        ));
    }

    // only the last five batches are remembered
    #[test]
    fn remembers_five_batches() {
        let mut state = ProducerStateManager::new();
        for i in 0..6 {
            state.update(&header(1, 0, i, 1, i64::from(i)));
        }
        assert!(matches!(
            state.check(&header(1, 0, 0, 1, 0)),
            Err(LogError::OutOfOrderSequence { .. })
        ));
        assert!(matches!(
            state.check(&header(1, 0, 1, 1, 0)),
            Ok(SequenceCheck::Duplicate(_))
        ));
    }

    // a snapshot decodes to the same state; garbage decodes to nothing
    #[test]
    fn snapshot_round_trip() {
        let mut state = ProducerStateManager::new();
        for i in 0..7 {
            state.update(&header(3, 1, i * 2, 2, i64::from(i) * 2));
        }
        state.update(&header(-1, 0, 0, 1, 20));
        state.update(&header(9, 0, 5, 1, 21));
        let text = state.encode_snapshot(22);
        let (offset, decoded) = ProducerStateManager::decode_snapshot(&text).unwrap();
        assert_eq!(offset, 22);
        assert_eq!(decoded.producers, state.producers);
        assert_eq!(decoded.len(), 2);
        assert!(ProducerStateManager::decode_snapshot("0\n5\n1 x\n").is_none());
        assert!(ProducerStateManager::decode_snapshot("1\n5\n").is_none());
        assert!(ProducerStateManager::decode_snapshot("0\n5\n1 0 1:2:3\n").is_none());
    }

    // an older epoch is fenced; a newer epoch must start at sequence 0
    #[test]
    fn epochs() {
        let mut state = ProducerStateManager::new();
        state.update(&header(1, 3, 0, 1, 0));
        assert!(matches!(
            state.check(&header(1, 2, 1, 1, 1)),
            Err(LogError::InvalidProducerEpoch {
                current: 3,
                received: 2,
                ..
            })
        ));
        assert!(matches!(
            state.check(&header(1, 4, 5, 1, 1)),
            Err(LogError::OutOfOrderSequence { .. })
        ));
        assert_eq!(
            state.check(&header(1, 4, 0, 1, 1)).ok(),
            Some(SequenceCheck::Append)
        );
        assert_eq!(
            state.check(&header(2, 0, 42, 1, 1)).ok(),
            Some(SequenceCheck::Append)
        );
    }
}
