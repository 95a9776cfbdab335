//! Recovery from a bit flip in the middle of the log: the damaged batch and everything after it go.

#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, read_all, segment_file, small_config};
use herald_log::Log;

fn flip_byte(path: &std::path::Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

// a flipped bit in the third of five batches of the active segment drops batches three to five
#[test]
fn bit_flip_in_active_segment_drops_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(2, 1000);
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    for _ in 0..5 {
        log.append(&one, 0).unwrap();
    }
    log.flush().unwrap();
    let rp_before = log.recovery_point();
    drop(log);
    // beyond the recovery point is what a crash could damage; simulate it by removing the checkpoint
    std::fs::remove_file(dir.path().join("recovery-point-checkpoint")).unwrap();
    assert_eq!(rp_before, 10);
    let path = segment_file(dir.path(), 0, "log");
    flip_byte(&path, (one.len() * 2 + 70) as u64);

    let log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        (one.len() * 2) as u64
    );
    assert_eq!(read_all(&log, 0).len(), 2);
}

// a flip in an older segment (no checkpoint: everything is validated) deletes all later segments
#[test]
fn bit_flip_in_older_segment_deletes_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(1, 1000);
    let config = small_config((one.len() * 3) as u64);
    let mut log = Log::open(dir.path(), config.clone()).unwrap();
    for _ in 0..9 {
        log.append(&one, 0).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 3, 6]);
    drop(log);
    std::fs::remove_file(dir.path().join("recovery-point-checkpoint")).unwrap();
    flip_byte(&segment_file(dir.path(), 3, "log"), (one.len() + 62) as u64);

    let mut log = Log::open(dir.path(), config).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 3]);
    assert_eq!(log.log_end_offset(), 4);
    assert!(!segment_file(dir.path(), 6, "log").exists());
    assert!(!segment_file(dir.path(), 6, "index").exists());
    assert_eq!(read_all(&log, 0).len(), 4);
    assert_eq!(log.append(&one, 0).unwrap().base_offset, 4);
}

// a flipped base offset (not covered by the CRC) is caught by the offset continuity check
#[test]
fn corrupted_base_offset_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(1, 1000);
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    for _ in 0..3 {
        log.append(&one, 0).unwrap();
    }
    drop(log);
    flip_byte(&segment_file(dir.path(), 0, "log"), (one.len() + 7) as u64);
    let log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    assert_eq!(log.log_end_offset(), 1);
}

// damage below the recovery point is not scanned at open (Kafka's trade-off) but a read reports it
#[test]
fn damage_below_the_recovery_point_fails_reads_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(1, 1000);
    let config = small_config((one.len() * 3) as u64);
    let mut log = Log::open(dir.path(), config.clone()).unwrap();
    for _ in 0..9 {
        log.append(&one, 0).unwrap();
    }
    log.flush().unwrap();
    drop(log);
    // the magic byte of the second batch of the first segment
    flip_byte(&segment_file(dir.path(), 0, "log"), (one.len() + 16) as u64);

    let log = Log::open(dir.path(), config).unwrap();
    assert_eq!(log.log_end_offset(), 9);
    assert!(matches!(
        log.read(1, 1000),
        Err(herald_log::LogError::CorruptSegment { position, .. }) if position == one.len() as u64
    ));
    assert_eq!(read_all(&log, 3).len(), 6);
}
