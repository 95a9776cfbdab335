//! Idempotent producers: retries are deduplicated with the original offsets, gaps and zombies are
//! rejected, and all of it survives a reopen.

#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, idempotent_batch, small_config};
use herald_log::{Log, LogError};

// a retry of one of the last five batches writes nothing and returns the original offsets
#[test]
fn retry_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    log.append(&batch(1, 0), 0).unwrap();
    let first = log.append(&idempotent_batch(7, 0, 0, 3), 0).unwrap();
    assert_eq!(
        (first.base_offset, first.last_offset, first.duplicate),
        (1, 3, false)
    );
    for seq in [3, 5, 7, 9] {
        log.append(&idempotent_batch(7, 0, seq, 2), 0).unwrap();
    }
    let size = log.size_bytes();
    let retry = log.append(&idempotent_batch(7, 0, 0, 3), 0).unwrap();
    assert!(retry.duplicate);
    assert_eq!((retry.base_offset, retry.last_offset), (1, 3));
    let retry = log.append(&idempotent_batch(7, 0, 7, 2), 0).unwrap();
    assert_eq!(
        (retry.base_offset, retry.last_offset, retry.duplicate),
        (8, 9, true)
    );
    assert_eq!(log.size_bytes(), size);
    assert_eq!(log.log_end_offset(), 12);
}

// a sequence gap or an overlapping range that is not a known batch is out of order
#[test]
fn gaps_are_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    log.append(&idempotent_batch(7, 0, 0, 3), 0).unwrap();
    let err = log.append(&idempotent_batch(7, 0, 5, 1), 0).unwrap_err();
    assert!(matches!(
        err,
        LogError::OutOfOrderSequence {
            producer_id: 7,
            expected: 3,
            received: 5
        }
    ));
    assert!(matches!(
        log.append(&idempotent_batch(7, 0, 1, 2), 0),
        Err(LogError::OutOfOrderSequence { .. })
    ));
    assert_eq!(log.log_end_offset(), 3);
    // other producers and plain batches are unaffected
    assert_eq!(
        log.append(&idempotent_batch(8, 0, 40, 1), 0)
            .unwrap()
            .base_offset,
        3
    );
    assert_eq!(log.append(&batch(1, 0), 0).unwrap().base_offset, 4);
}

// an older epoch is fenced; a newer epoch restarts at sequence 0
#[test]
fn epochs_fence_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    log.append(&idempotent_batch(7, 2, 0, 1), 0).unwrap();
    assert!(matches!(
        log.append(&idempotent_batch(7, 1, 1, 1), 0),
        Err(LogError::InvalidProducerEpoch {
            current: 2,
            received: 1,
            ..
        })
    ));
    assert!(matches!(
        log.append(&idempotent_batch(7, 3, 1, 1), 0),
        Err(LogError::OutOfOrderSequence { .. })
    ));
    assert!(
        !log.append(&idempotent_batch(7, 3, 0, 1), 0)
            .unwrap()
            .duplicate
    );
}

// two batches of one producer in one request are checked against each other; a bad one rejects both
#[test]
fn multi_batch_request_is_checked_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    let mut request = idempotent_batch(7, 0, 0, 2);
    request.extend(idempotent_batch(7, 0, 2, 2));
    assert_eq!(log.append(&request, 0).unwrap().last_offset, 3);
    let mut request = idempotent_batch(7, 0, 4, 2);
    request.extend(idempotent_batch(7, 0, 9, 2));
    assert!(matches!(
        log.append(&request, 0),
        Err(LogError::OutOfOrderSequence { .. })
    ));
    assert_eq!(log.log_end_offset(), 4);
}

// the sequence wraps from i32::MAX to 0
#[test]
fn sequence_wraps_around() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    log.append(&idempotent_batch(7, 0, i32::MAX - 1, 2), 0)
        .unwrap();
    assert!(
        !log.append(&idempotent_batch(7, 0, 0, 1), 0)
            .unwrap()
            .duplicate
    );
}

// after a clean close, a crash without flush, and a roll right before a restart, a retry is still a duplicate
#[test]
fn deduplication_survives_reopen() {
    for scenario in ["flushed", "unflushed", "rolled"] {
        let dir = tempfile::tempdir().unwrap();
        let first = idempotent_batch(7, 0, 0, 2);
        let config = small_config(if scenario == "rolled" {
            first.len() as u64
        } else {
            1 << 20
        });
        let mut log = Log::open(dir.path(), config.clone()).unwrap();
        log.append(&first, 0).unwrap();
        log.append(&idempotent_batch(7, 0, 2, 2), 0).unwrap();
        if scenario == "rolled" {
            // a plain batch rolls the segment: the active segment then holds nothing of producer 7,
            // so its state must come from the snapshot written at the roll
            log.append(&batch(1, 0), 0).unwrap();
            assert_eq!(log.segment_base_offsets(), vec![0, 2, 4]);
        }
        if scenario == "flushed" {
            log.flush().unwrap();
        }
        let end = log.log_end_offset();
        drop(log);

        let mut log = Log::open(dir.path(), config).unwrap();
        let retry = log.append(&idempotent_batch(7, 0, 2, 2), 0).unwrap();
        assert!(retry.duplicate, "{scenario}");
        assert_eq!((retry.base_offset, retry.last_offset), (2, 3), "{scenario}");
        assert_eq!(log.log_end_offset(), end, "{scenario}");
        assert!(
            matches!(
                log.append(&idempotent_batch(7, 0, 9, 1), 0),
                Err(LogError::OutOfOrderSequence { expected: 4, .. })
            ),
            "{scenario}"
        );
    }
}
