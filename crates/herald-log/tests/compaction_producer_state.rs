//! Idempotent producers keep working on a cleaned partition: a producer's last batch survives cleaning
//! (as an empty batch if all its records were superseded), so after a reopen without a producer-state
//! snapshot the next sequence is accepted and a gap is still refused.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::RwLock;

use common::*;
use herald_log::{clean_log, cleaner::CleanerWorker, CleanerConfig, Log, LogError};

const NOW_MS: i64 = 1_700_000_100_000;

fn producer_batch(producer_id: i64, base_sequence: i32, records: Vec<KeyValue>) -> Vec<u8> {
    keyed(&KeyedSpec {
        records,
        producer_id,
        producer_epoch: 0,
        base_sequence,
        ..KeyedSpec::default()
    })
}

// producer 7's last batch is wholly superseded by producer 8, yet its sequence survives clean + reopen
#[test]
fn producer_sequence_survives_cleaning_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = compact_config(600);
    let mut log = Log::open(dir.path(), config.clone()).unwrap();
    for seq in 0..4 {
        log.append(
            &producer_batch(7, seq * 2, vec![kv(1, 0), kv(2, 0)]),
            NOW_MS,
        )
        .unwrap();
    }
    for seq in 0..10 {
        log.append(
            &producer_batch(8, seq * 2, vec![kv(1, 1), kv(2, 1)]),
            NOW_MS,
        )
        .unwrap();
    }
    let log = RwLock::new(log);
    let mut worker = CleanerWorker::new(CleanerConfig::default());
    clean_log(&log, &mut worker, NOW_MS, false)
        .unwrap()
        .unwrap();
    let log = log.into_inner().unwrap();
    let batches = read_all(&log, 0);
    let of7: Vec<_> = batches.iter().filter(|h| h.producer_id == 7).collect();
    assert_eq!(of7.len(), 1, "only producer 7's last batch is left");
    assert_eq!(
        (
            of7[0].records_count,
            of7[0].base_sequence,
            of7[0].last_offset_delta
        ),
        (0, 6, 1)
    );
    assert_eq!(of7[0].base_offset, 6, "at its original offset");

    // reopen without the snapshot: state comes from the batches left in the log
    drop(log);
    std::fs::remove_file(dir.path().join("producer-state-snapshot")).unwrap();
    std::fs::remove_file(dir.path().join("recovery-point-checkpoint")).unwrap();
    let mut log = Log::open(dir.path(), config).unwrap();
    let gap = log.append(&producer_batch(7, 10, vec![kv(3, 0)]), NOW_MS);
    assert!(
        matches!(gap, Err(LogError::OutOfOrderSequence { expected: 8, .. })),
        "{gap:?}"
    );
    let next = log
        .append(&producer_batch(7, 8, vec![kv(3, 0)]), NOW_MS)
        .unwrap();
    assert!(!next.duplicate);
    log.append(&producer_batch(8, 20, vec![kv(3, 1)]), NOW_MS)
        .unwrap();
}
