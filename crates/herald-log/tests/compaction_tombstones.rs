//! Tombstones (null values) survive delete.retention.ms after their batch was first cleaned, then a
//! clean removes them; the values they deleted are gone at the first clean.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::RwLock;

use common::*;
use herald_log::{clean_log, cleaner::CleanerWorker, CleanerConfig, Log};

const NOW_MS: i64 = 1_700_000_100_000;

fn append(log: &mut Log, record: KeyValue) {
    let spec = KeyedSpec {
        records: vec![record],
        ..KeyedSpec::default()
    };
    log.append(&keyed(&spec), NOW_MS).unwrap();
}

// a tombstone hides its key's older values at once and itself disappears only after delete.retention.ms
#[test]
fn tombstones_expire_after_delete_retention() {
    let dir = tempfile::tempdir().unwrap();
    let config = compact_config(1000); // delete.retention.ms = 1000
    let mut log = Log::open(dir.path(), config.clone()).unwrap();
    for v in 0..5 {
        append(&mut log, kv(1, v));
        append(&mut log, kv(2, v));
    }
    append(&mut log, tombstone(1));
    for v in 0..30 {
        append(&mut log, kv(3, v)); // pushes the tombstone out of the active segment
    }
    let log = RwLock::new(log);
    let mut worker = CleanerWorker::new(CleanerConfig::default());
    clean_log(&log, &mut worker, NOW_MS, false)
        .unwrap()
        .unwrap();
    let key1 = Some(b"key-1".to_vec());
    let records = read_records(&log.read().unwrap());
    let of_key1: Vec<_> = records.iter().filter(|r| r.key == key1).collect();
    assert_eq!(of_key1.len(), 1, "only the tombstone is left of key-1");
    assert_eq!(of_key1[0].value, None);
    assert_eq!(
        of_key1[0].timestamp, 1_700_000_000_000,
        "record timestamp kept"
    );
    let horizon = log.read().unwrap().next_delete_horizon_ms();
    assert_eq!(horizon, Some(NOW_MS + 1000));

    // before the horizon: nothing to clean, and a forced clean keeps the tombstone
    assert!(log.read().unwrap().cleanable(NOW_MS + 999).is_none());
    clean_log(&log, &mut worker, NOW_MS + 999, true).unwrap();
    let records = read_records(&log.read().unwrap());
    assert!(records.iter().any(|r| r.key == key1));

    // at the horizon the log is cleanable again and the tombstone goes; the reopened log agrees
    assert!(log.read().unwrap().cleanable(NOW_MS + 1000).is_some());
    clean_log(&log, &mut worker, NOW_MS + 1000, false)
        .unwrap()
        .unwrap();
    let records = read_records(&log.read().unwrap());
    assert!(records.iter().all(|r| r.key != key1), "tombstone removed");
    assert!(records.iter().any(|r| r.key == Some(b"key-2".to_vec())));
    drop(log);
    let reopened = Log::open(dir.path(), config).unwrap();
    assert_eq!(read_records(&reopened), records);
}
