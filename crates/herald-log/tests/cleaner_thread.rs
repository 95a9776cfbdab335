//! The `Cleaner` thread cleans the logs its source lists without being asked, serves produce and fetch
//! meanwhile, and stops promptly at shutdown even in the middle of a throttled round.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use common::*;
use herald_log::{Cleaner, CleanerConfig, Log, SharedLog};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn dirty_log(dir: &std::path::Path) -> Arc<RwLock<Log>> {
    let mut log = Log::open(dir, compact_config(1000)).unwrap();
    for round in 0..20 {
        for key in 0..10 {
            let spec = KeyedSpec {
                records: vec![kv(key, round)],
                base_timestamp: now_ms(),
                ..KeyedSpec::default()
            };
            log.append(&keyed(&spec), now_ms()).unwrap();
        }
    }
    Arc::new(RwLock::new(log))
}

fn source(log: &Arc<RwLock<Log>>) -> Arc<dyn herald_log::LogSource> {
    let log = Arc::clone(log);
    Arc::new(move || vec![Arc::clone(&log) as Arc<dyn SharedLog>])
}

/// Waits for `condition`, failing after `timeout` (an awaited condition, not a fixed sleep).
fn await_condition(timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "condition not met in {timeout:?}"
        );
        std::thread::yield_now();
    }
}

// the thread cleans a dirty compacted log on its own while appends and reads go on, then stops
#[test]
fn cleaner_thread_cleans_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let log = dirty_log(dir.path());
    let before = read_records(&log.read().unwrap()).len();
    let config = CleanerConfig {
        backoff_ms: 10,
        ..CleanerConfig::default()
    };
    let cleaner = Cleaner::start(config, source(&log)).unwrap();
    await_condition(Duration::from_secs(30), || {
        let log = log.read().unwrap();
        log.first_dirty_offset() > 0
    });
    let spec = KeyedSpec {
        records: vec![kv(0, 99)],
        ..KeyedSpec::default()
    };
    log.write()
        .unwrap()
        .append(&keyed(&spec), now_ms())
        .unwrap();
    cleaner.stop();
    let after = read_records(&log.read().unwrap());
    assert!(
        after.len() < before,
        "{} records, {before} before",
        after.len()
    );
    assert_eq!(after.last().unwrap().value, Some(b"value-0-99".to_vec()));
}

// a cleaner throttled to a trickle stops at once when asked
#[test]
fn throttled_cleaner_stops_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let log = dirty_log(dir.path());
    let config = CleanerConfig {
        io_bytes_per_second: Some(1),
        backoff_ms: 10,
        ..CleanerConfig::default()
    };
    let cleaner = Cleaner::start(config, source(&log)).unwrap();
    let started = Instant::now();
    cleaner.stop();
    assert!(started.elapsed() < Duration::from_secs(5));
    // no partial swap was left behind: the log reopens with every key
    let expected = latest_per_key(&read_records(&log.read().unwrap()));
    drop(log);
    let reopened = Log::open(dir.path(), compact_config(1000)).unwrap();
    assert_eq!(latest_per_key(&read_records(&reopened)), expected);
}
