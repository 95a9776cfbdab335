//! A crash at any step of a cleaner swap loses no latest value: the log reopens (recovery finishes a
//! committed swap or rolls back an uncommitted one) with the latest record of every key at its offset,
//! and cleaning then completes. Checked at each swap step, then at seeded random crash points over
//! random workloads (codecs, tombstones, batch sizes, segment sizes).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use common::*;
use herald_log::cleaner::{CleanerWorker, SwapStep};
use herald_log::{clean_log, CleanerConfig, Log, LogConfig};
use rand::{Rng, SeedableRng};

const NOW_MS: i64 = 1_700_000_100_000;

/// A config whose grouping limit (segment.bytes) is larger than the segments were written with, so
/// that groups hold several segments.
fn cleaning_config(segment_bytes: u64) -> LogConfig {
    compact_config(segment_bytes)
}

/// The hook that crashes at the `target`-th step reached (counting from 0), once.
fn crash_at(target: usize) -> (CleanerConfig, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let config = CleanerConfig {
        crash_hook: Some(Arc::new(move |_step: SwapStep| {
            counter.fetch_add(1, Ordering::SeqCst) == target
        })),
        ..CleanerConfig::default()
    };
    (config, calls)
}

fn leftover_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
        .collect()
}

/// The log agrees with the model: same latest record per key, and every record read is the record
/// produced at that offset.
fn check(log: &Log, produced: &BTreeMap<i64, ReadRecord>, context: &str) {
    let read = read_records(log);
    let produced_list: Vec<ReadRecord> = produced.values().cloned().collect();
    assert_eq!(
        latest_per_key(&read),
        latest_per_key(&produced_list),
        "{context}"
    );
    for r in &read {
        assert_eq!(
            Some(r),
            produced.get(&r.offset),
            "{context}: record not as produced"
        );
    }
}

fn produce(log: &mut Log, produced: &mut BTreeMap<i64, ReadRecord>, spec: &KeyedSpec) {
    let info = log.append(&keyed(spec), NOW_MS).unwrap();
    for (i, (key, value)) in spec.records.iter().enumerate() {
        let offset = info.base_offset + i as i64;
        let record = ReadRecord {
            offset,
            timestamp: spec.base_timestamp + i as i64,
            key: key.clone(),
            value: value.clone(),
        };
        produced.insert(offset, record);
    }
}

// a crash right after each swap step, in the first and in a later group: reopen keeps every latest value
#[test]
fn crash_at_each_swap_step_loses_no_latest_value() {
    for step in 0..SwapStep::ALL.len() {
        for group in [0, 1] {
            let dir = tempfile::tempdir().unwrap();
            let mut log = Log::open(dir.path(), compact_config(400)).unwrap();
            let mut produced = BTreeMap::new();
            for round in 0..8 {
                for key in 0..6 {
                    let spec = KeyedSpec {
                        records: vec![kv(key, round), kv(key + 10, round)],
                        ..KeyedSpec::default()
                    };
                    produce(&mut log, &mut produced, &spec);
                }
            }
            drop(log);
            let config = cleaning_config(1200);
            let log = RwLock::new(Log::open(dir.path(), config.clone()).unwrap());
            let (cleaner, _) = crash_at(group * SwapStep::ALL.len() + step);
            let mut worker = CleanerWorker::new(cleaner);
            let context = format!("crash after {:?} in group {group}", SwapStep::ALL[step]);
            assert!(
                clean_log(&log, &mut worker, NOW_MS, false).is_err(),
                "{context}"
            );
            drop(log);
            let log = RwLock::new(Log::open(dir.path(), config.clone()).unwrap());
            assert!(leftover_files(dir.path()).is_empty(), "{context}");
            check(&log.read().unwrap(), &produced, &context);
            let mut worker = CleanerWorker::new(CleanerConfig::default());
            clean_log(&log, &mut worker, NOW_MS, true).unwrap();
            check(&log.read().unwrap(), &produced, &context);
            drop(log);
            let log = Log::open(dir.path(), config).unwrap();
            check(&log, &produced, &context);
        }
    }
}

fn random_spec(rng: &mut impl Rng, keys: usize, version: usize) -> KeyedSpec {
    let records = (0..rng.gen_range(1..6))
        .map(|_| {
            let key = rng.gen_range(0..keys);
            if rng.gen_bool(0.1) {
                tombstone(key)
            } else {
                kv(key, version)
            }
        })
        .collect();
    KeyedSpec {
        records,
        codec: rng.gen_range(0..=4),
        ..KeyedSpec::default()
    }
}

/// Cuts a `.cleaned` file short, as a crash while writing it would.
fn tear_cleaned_file(dir: &Path, rng: &mut impl Rng) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".log.cleaned") {
            let len = std::fs::metadata(&path).unwrap().len();
            let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            file.set_len(rng.gen_range(0..=len)).unwrap();
        }
    }
}

// seeded random workloads with a crash at a random swap step of a random round; the model always holds
#[test]
fn seeded_random_crash_points_lose_no_latest_value() {
    let mut total_crashes = 0;
    for seed in 0..24u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().unwrap();
        let keys = rng.gen_range(3..40);
        let config = cleaning_config(rng.gen_range(300..3000));
        let mut produced = BTreeMap::new();
        let mut log = RwLock::new(Log::open(dir.path(), config.clone()).unwrap());
        let mut crashes = 0;
        for round in 0..6 {
            for version in 0..rng.gen_range(5..40) {
                let spec = random_spec(&mut rng, keys, round * 100 + version);
                produce(&mut log.write().unwrap(), &mut produced, &spec);
            }
            let (cleaner, _) = crash_at(rng.gen_range(0..12));
            let mut worker = CleanerWorker::new(cleaner);
            let context = format!("seed {seed} round {round}");
            if clean_log(&log, &mut worker, NOW_MS, rng.gen_bool(0.5)).is_err() {
                crashes += 1;
                drop(log);
                if rng.gen_bool(0.5) {
                    tear_cleaned_file(dir.path(), &mut rng);
                }
                log = RwLock::new(Log::open(dir.path(), config.clone()).unwrap());
                assert!(leftover_files(dir.path()).is_empty(), "{context}");
            }
            check(&log.read().unwrap(), &produced, &context);
        }
        drop(log);
        let log = Log::open(dir.path(), config).unwrap();
        check(
            &log,
            &produced,
            &format!("seed {seed} final, {crashes} crashes"),
        );
        total_crashes += crashes;
    }
    assert!(
        total_crashes >= 24,
        "only {total_crashes} crashes were injected"
    );
}
