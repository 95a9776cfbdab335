//! A partition with more keys than the key map holds is cleaned in several passes, each moving the
//! cleaner checkpoint, and ends with the latest value per key.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::RwLock;

use common::*;
use herald_log::cleaner::offset_map::OFFSET_MAP_BYTES_MIN;
use herald_log::{clean_log, cleaner::CleanerWorker, CleanerConfig, Log};

const NOW_MS: i64 = 1_700_000_100_000;

// with the smallest key-map budget, 10,000 keys need several passes; the result equals one big pass
#[test]
fn tiny_key_map_cleans_in_several_passes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), compact_config(64 * 1024)).unwrap();
    for round in 0..2 {
        for chunk in 0..200 {
            let spec = KeyedSpec {
                records: (0..50).map(|k| kv(chunk * 50 + k, round)).collect(),
                ..KeyedSpec::default()
            };
            log.append(&keyed(&spec), NOW_MS).unwrap();
        }
    }
    let expected = latest_per_key(&read_records(&log));
    let active_base = *log.segment_base_offsets().last().unwrap();
    let log = RwLock::new(log);
    let config = CleanerConfig {
        dedupe_buffer_bytes: OFFSET_MAP_BYTES_MIN, // about 2,450 keys per pass
        ..CleanerConfig::default()
    };
    let mut worker = CleanerWorker::new(config);
    let mut passes = 0;
    let mut checkpoints = Vec::new();
    while let Some(stats) = clean_log(&log, &mut worker, NOW_MS, false).unwrap() {
        passes += 1;
        checkpoints.push(stats.end_offset);
        assert!(stats.records_mapped as usize <= worker.map.capacity());
        if stats.end_offset >= active_base {
            break;
        }
        assert!(passes < 50, "cleaning does not progress: {checkpoints:?}");
    }
    assert!(passes >= 3, "{passes} passes: {checkpoints:?}");
    assert!(
        checkpoints.windows(2).all(|w| w[0] < w[1]),
        "{checkpoints:?}"
    );
    let log = log.into_inner().unwrap();
    let after = read_records(&log);
    assert_eq!(latest_per_key(&after), expected);
    let below_active = after.iter().filter(|r| r.offset < active_base).count();
    let keys_below: std::collections::BTreeSet<_> = after
        .iter()
        .filter(|r| r.offset < active_base)
        .map(|r| r.key.clone())
        .collect();
    assert_eq!(
        below_active,
        keys_below.len(),
        "one record per key below the active segment"
    );
}
