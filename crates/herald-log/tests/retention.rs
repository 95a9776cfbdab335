//! Retention by time and by size deletes whole old segments and moves the log start offset.

#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, read_all, segment_file, small_config};
use herald_log::{Log, LogError};

const HOUR_MS: i64 = 3_600_000;

// segments whose newest record is older than retention.ms go; reads below the new start are out of range
#[test]
fn time_retention_deletes_expired_segments() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(2, 0);
    let mut config = small_config((one.len() * 2) as u64);
    config.retention_ms = Some(HOUR_MS as u64);
    let mut log = Log::open(dir.path(), config).unwrap();
    // segments [0,4) and [4,8) are old, [8,12) is recent, [12,14) is active
    for ts in [0, 10, 20, 30, 5 * HOUR_MS, 5 * HOUR_MS, 5 * HOUR_MS] {
        log.append(&batch(2, ts), ts).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 4, 8, 12]);
    assert_eq!(log.apply_retention(5 * HOUR_MS).unwrap(), 2);
    assert_eq!(log.segment_base_offsets(), vec![8, 12]);
    assert_eq!(log.log_start_offset(), 8);
    assert!(!segment_file(dir.path(), 0, "log").exists());
    assert!(!segment_file(dir.path(), 4, "timeindex").exists());
    assert!(matches!(
        log.read(7, 1000),
        Err(LogError::OffsetOutOfRange {
            requested: 7,
            log_start_offset: 8,
            log_end_offset: 14
        })
    ));
    assert_eq!(read_all(&log, 8).len(), 3);
    assert_eq!(
        log.apply_retention(5 * HOUR_MS).unwrap(),
        0,
        "nothing else is expired"
    );
    assert_eq!(log.append(&batch(1, 0), 0).unwrap().log_start_offset, 8);

    // the log start offset survives a reopen
    drop(log);
    let log = Log::open(dir.path(), small_config(1000)).unwrap();
    assert_eq!(log.log_start_offset(), 8);
}

// once everything is expired the active segment is rolled so that it can go too; appends continue
#[test]
fn time_retention_rolls_an_expired_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(1 << 20);
    config.retention_ms = Some(HOUR_MS as u64);
    let mut log = Log::open(dir.path(), config).unwrap();
    log.append(&batch(3, 0), 0).unwrap();
    assert_eq!(log.apply_retention(HOUR_MS / 2).unwrap(), 0);
    assert_eq!(log.apply_retention(2 * HOUR_MS).unwrap(), 1);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (3, 3));
    assert_eq!(log.size_bytes(), 0);
    assert!(log.read(3, 100).unwrap().is_empty());
    assert!(matches!(
        log.read(2, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.max_timestamp().unwrap(), None);
    assert_eq!(log.append(&batch(1, 0), 0).unwrap().base_offset, 3);
    // an empty active segment is never rolled by retention
    let mut log2 = Log::open(tempfile::tempdir().unwrap().path(), small_config(1000)).unwrap();
    assert_eq!(log2.apply_retention(i64::MAX).unwrap(), 0);
}

// the oldest segments go while the log would still be at least retention.bytes without them
#[test]
fn size_retention_keeps_the_newest_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(1, 0);
    let segment = (one.len() * 2) as u64;
    let mut config = small_config(segment);
    config.retention_bytes = Some(segment * 2);
    let mut log = Log::open(dir.path(), config).unwrap();
    for _ in 0..9 {
        log.append(&one, 0).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 4, 6, 8]);
    assert_eq!(log.size_bytes(), segment * 4 + one.len() as u64);
    assert_eq!(log.apply_retention(0).unwrap(), 2);
    assert_eq!(log.segment_base_offsets(), vec![4, 6, 8]);
    assert_eq!(log.log_start_offset(), 4);
    assert!(log.size_bytes() >= segment * 2);
    assert!(matches!(
        log.read(3, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(read_all(&log, 4).len(), 5);
}

// retention.bytes never deletes the active segment, even when it alone is over the limit
#[test]
fn size_retention_never_deletes_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(1 << 20);
    config.retention_bytes = Some(1);
    let mut log = Log::open(dir.path(), config).unwrap();
    log.append(&batch(5, 0), 0).unwrap();
    assert_eq!(log.apply_retention(0).unwrap(), 0);
    assert_eq!(log.log_end_offset(), 5);
}
