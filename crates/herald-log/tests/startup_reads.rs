//! Start-up in O(segments): what `Log::open` reads, counted by the simulated disk. After a clean
//! close it reads no segment data; after a crash only the bytes appended after the checkpointed
//! recovery point; a corrupt tail after the recovery point is still truncated.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use herald_log::simulation::SimDisk;
use herald_log::{Log, LogConfig};

const NOW_MS: i64 = 1_700_000_100_000;
const DIR: &str = "/data/t-0";

fn config() -> LogConfig {
    small_config(4096)
}

fn open(disk: &SimDisk) -> Log {
    let mut log = Log::open_with_fs(disk.shared(), Path::new(DIR), config()).unwrap();
    log.set_checkpoint_interval(Duration::ZERO);
    log
}

/// Appends `n` batches of 3 records; returns the bytes appended.
fn append(log: &mut Log, n: usize) -> u64 {
    let mut bytes = 0;
    for i in 0..n {
        let b = batch(3, NOW_MS - 10_000 + 10 * i as i64);
        bytes += b.len() as u64;
        log.append(&b, NOW_MS).unwrap();
    }
    bytes
}

/// The broker's group commit.
fn group_commit(log: &mut Log) {
    let target = log.flush_target();
    target.sync().unwrap();
    log.mark_flushed(target.up_to_offset);
}

// a clean close leaves what the next open needs: it reads no byte of any segment
#[test]
fn open_after_clean_close_reads_no_segment_bytes() {
    let disk = SimDisk::new(1);
    let mut log = open(&disk);
    append(&mut log, 200);
    let (end, segments) = (log.log_end_offset(), log.segment_count());
    assert!(segments > 3, "the test needs several segments");
    log.close().unwrap();
    disk.reset_bytes_read();
    let log = open(&disk);
    assert!(log.opened_cleanly());
    assert_eq!(disk.bytes_read_of("log"), 0, "segment bytes read at open");
    assert_eq!((log.log_end_offset(), log.segment_count()), (end, segments));
    assert_eq!(log.recovery_point(), end);
    // everything reads back, through the indexes loaded at open
    assert_eq!(read_all(&log, 0).len(), 200);
    let found = log.offset_for_timestamp(NOW_MS - 10_000 + 1500).unwrap();
    assert_eq!(found, Some((450, NOW_MS - 10_000 + 1500)));
}

// after a kill (no clean close) the scan starts at the checkpointed recovery point
#[test]
fn open_after_kill_reads_only_the_tail_after_the_recovery_point() {
    let disk = SimDisk::new(2);
    let mut log = open(&disk);
    append(&mut log, 100);
    group_commit(&mut log);
    let recovery_point = log.log_end_offset();
    let tail = append(&mut log, 7);
    let end = log.log_end_offset();
    drop(log); // SIGKILL: the page cache (here: the disk) keeps everything written
    disk.reset_bytes_read();
    let log = open(&disk);
    assert!(!log.opened_cleanly());
    assert_eq!(
        disk.bytes_read_of("log"),
        tail,
        "segment bytes read at open"
    );
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.recovery_point(), recovery_point);
    assert_eq!(read_all(&log, 0).len(), 107);
}

// a torn or corrupt batch after the recovery point is still found and cut off
#[test]
fn corrupt_tail_after_the_recovery_point_is_truncated() {
    let disk = SimDisk::new(3);
    let mut log = open(&disk);
    append(&mut log, 50);
    group_commit(&mut log);
    let recovery_point = log.log_end_offset();
    let active = *log.segment_base_offsets().last().unwrap();
    let one = batch(3, NOW_MS).len() as u64;
    append(&mut log, 3);
    drop(log);
    // Damage the second batch after the recovery point: the first survives, the rest is cut.
    let path = segment_file(Path::new(DIR), active, "log");
    let segment_len = disk.file_len_of(&path);
    let second = segment_len - 2 * one + 30;
    disk.corrupt(&path, second, b"garbage!").unwrap();
    let log = open(&disk);
    assert_eq!(log.log_end_offset(), recovery_point + 3);
    assert_eq!(read_all(&log, 0).len(), 51);
    assert_eq!(disk.file_len_of(&path), segment_len - 2 * one);
}

// a file changed after a clean close (its modification time differs from the marker's) is not
// trusted: the active segment is recovered in full and cut at the damage
#[test]
fn damage_after_a_clean_close_is_still_found() {
    let disk = SimDisk::new(4);
    let mut log = open(&disk);
    append(&mut log, 20);
    let active = *log.segment_base_offsets().last().unwrap();
    assert_eq!(active, 0, "one segment");
    log.close().unwrap();
    drop(log);
    let one = batch(3, NOW_MS).len() as u64;
    // Damage inside batch 10, well below the recovery point.
    let path = segment_file(Path::new(DIR), active, "log");
    disk.corrupt(&path, 10 * one + 40, b"garbage!").unwrap();
    let log = open(&disk);
    assert!(!log.opened_cleanly());
    assert_eq!(log.log_end_offset(), 30);
    assert_eq!(read_all(&log, 0).len(), 10);
}
