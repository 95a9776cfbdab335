//! Log compaction keeps the latest record per key at its original offset, in order, below the active
//! segment; reads at cleaned-away offsets return from the next higher offset; the log start offset and
//! the log end offset do not move.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::RwLock;

use common::*;
use herald_log::{clean_log, cleaner::CleanerWorker, CleanerConfig, Log};

const NOW_MS: i64 = 1_700_000_100_000;

fn produce(log: &mut Log, keys: usize, rounds: usize) {
    for round in 0..rounds {
        for key in 0..keys {
            let spec = KeyedSpec {
                records: vec![kv(key, round)],
                ..KeyedSpec::default()
            };
            log.append(&keyed(&spec), NOW_MS).unwrap();
        }
    }
}

// after a clean, every key below the active segment has exactly its latest value at its original offset
#[test]
fn latest_value_per_key_survives_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), compact_config(2000)).unwrap();
    produce(&mut log, 20, 10);
    let before = read_records(&log);
    let expected = latest_per_key(&before);
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    let active_base = *log.segment_base_offsets().last().unwrap();
    let log = RwLock::new(log);
    let mut worker = CleanerWorker::new(CleanerConfig::default());
    let stats = clean_log(&log, &mut worker, NOW_MS, false)
        .unwrap()
        .unwrap();
    assert!(stats.records_kept < stats.records_read, "{stats:?}");
    let log = log.into_inner().unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (start, end));
    let after = read_records(&log);
    assert!(after.len() < before.len());
    assert!(
        after.windows(2).all(|w| w[0].offset < w[1].offset),
        "order kept"
    );
    assert_eq!(latest_per_key(&after), expected);
    let closed: Vec<ReadRecord> = before
        .iter()
        .filter(|r| r.offset < active_base)
        .cloned()
        .collect();
    let latest_closed = latest_per_key(&closed);
    for r in &after {
        let original = before.iter().find(|b| b.offset == r.offset).unwrap();
        assert_eq!(r, original, "a kept record is unchanged");
        if r.offset < active_base {
            let latest = latest_closed[r.key.as_ref().unwrap()].offset;
            assert_eq!(
                latest, r.offset,
                "superseded record {r:?} below the active segment"
            );
        }
    }
    assert_eq!(
        after.iter().filter(|r| r.offset < active_base).count(),
        latest_closed.len()
    );
    let active_before: Vec<_> = before.iter().filter(|r| r.offset >= active_base).collect();
    let active_after: Vec<_> = after.iter().filter(|r| r.offset >= active_base).collect();
    assert_eq!(
        active_after, active_before,
        "the active segment is never cleaned"
    );
    // a read at an offset cleaned away starts at the next kept offset
    let gone = (start..end)
        .find(|o| after.iter().all(|r| r.offset != *o))
        .unwrap();
    let next = after.iter().find(|r| r.offset > gone).unwrap().offset;
    let bytes = log.read(gone, 1).unwrap();
    let first = headers(&bytes)[0];
    assert!(first.base_offset <= next && first.last_offset() >= next);
    // and the cleaned log reopens to the same records
    drop(log);
    let log = Log::open(dir.path(), compact_config(2000)).unwrap();
    assert_eq!(read_records(&log), after);
}

// a delete-only log is never compacted
#[test]
fn delete_policy_is_not_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(2000)).unwrap();
    produce(&mut log, 5, 10);
    let log = RwLock::new(log);
    let mut worker = CleanerWorker::new(CleanerConfig::default());
    assert_eq!(clean_log(&log, &mut worker, NOW_MS, true).unwrap(), None);
}

// once cleaned, small segments are grouped: a second round merges them into fewer segments
#[test]
fn small_cleaned_segments_are_grouped() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), compact_config(400)).unwrap();
    produce(&mut log, 4, 20);
    let segments_before = log.segment_count();
    let expected = latest_per_key(&read_records(&log));
    let log = RwLock::new(log);
    let mut worker = CleanerWorker::new(CleanerConfig::default());
    clean_log(&log, &mut worker, NOW_MS, false)
        .unwrap()
        .unwrap();
    clean_log(&log, &mut worker, NOW_MS, true).unwrap().unwrap();
    let log = log.into_inner().unwrap();
    assert!(
        log.segment_count() * 3 < segments_before,
        "{} segments of {segments_before}",
        log.segment_count()
    );
    assert_eq!(
        log.segment_base_offsets()[0],
        0,
        "the first segment keeps its base offset"
    );
    assert_eq!(latest_per_key(&read_records(&log)), expected);
}
