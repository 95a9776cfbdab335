//! Group commit: flush targets name the unflushed files and the offset they cover; the recovery point
//! only moves forward.

#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, small_config};
use herald_log::Log;

// a flush target covers the log end at the time it was taken and marks that much flushed
#[test]
fn flush_target_covers_the_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    assert!(
        log.flush_target().is_empty(),
        "an empty log has nothing to sync"
    );
    log.append(&batch(3, 0), 0).unwrap();
    let target = log.flush_target();
    assert_eq!(target.up_to_offset, 3);
    assert!(!target.is_empty());
    // appends after the target was taken are not covered by it
    log.append(&batch(2, 0), 0).unwrap();
    target.sync().unwrap();
    log.mark_flushed(target.up_to_offset);
    assert_eq!(log.recovery_point(), 3);
    let next = log.flush_target();
    assert_eq!(next.up_to_offset, 5);
    next.sync().unwrap();
    log.mark_flushed(next.up_to_offset);
    assert_eq!(log.recovery_point(), 5);
    assert!(log.flush_target().is_empty());
}

// the recovery point never moves backwards nor beyond the log end
#[test]
fn mark_flushed_is_monotonic() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    log.append(&batch(4, 0), 0).unwrap();
    log.mark_flushed(3);
    log.mark_flushed(1);
    assert_eq!(log.recovery_point(), 3);
    log.mark_flushed(100);
    assert_eq!(log.recovery_point(), 4);
}

// flush writes the checkpoint that the next open reads back
#[test]
fn flush_checkpoints_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    log.append(&batch(4, 0), 0).unwrap();
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 4);
    assert!(dir.path().join("recovery-point-checkpoint").exists());
    drop(log);
    let log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    assert_eq!(log.recovery_point(), 4);
}
