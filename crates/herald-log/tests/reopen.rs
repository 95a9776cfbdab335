//! Reopening after a clean close keeps every batch, the offsets and the indexes.

#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, read_all, small_config};
use herald_log::Log;

// flush, drop, reopen: same log start/end offsets, same batches, appends continue at the log end
#[test]
fn reopen_after_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1000)).unwrap();
    for i in 0..40 {
        log.append(&batch(3, 1000 + i), 0).unwrap();
    }
    log.flush().unwrap();
    let segments = log.segment_count();
    assert!(segments > 3, "small segments roll: {segments}");
    let before = read_all(&log, 0);
    assert_eq!(log.recovery_point(), 120);
    drop(log);

    let mut log = Log::open(dir.path(), small_config(1000)).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 120));
    assert_eq!(log.recovery_point(), 120);
    assert_eq!(log.segment_count(), segments);
    assert_eq!(read_all(&log, 0), before);
    assert_eq!(log.append(&batch(1, 5000), 0).unwrap().base_offset, 120);
    assert_eq!(log.max_timestamp().unwrap(), Some((5000, 120)));
}

// an empty directory opens as an empty log at offset 0, and reopening it changes nothing
#[test]
fn empty_directory_opens_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topic-0");
    let log = Log::open(&path, small_config(1000)).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    assert!(log.read(0, 100).unwrap().is_empty());
    assert_eq!(log.max_timestamp().unwrap(), None);
    drop(log);
    let log = Log::open(&path, small_config(1000)).unwrap();
    assert_eq!(log.log_end_offset(), 0);
    log.delete().unwrap();
    assert!(!path.exists());
}

// files that are not canonical segment names are ignored, not mistaken for segments
#[test]
fn foreign_files_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("5.log"), b"not a segment").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    let mut log = Log::open(dir.path(), small_config(1000)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0]);
    log.append(&batch(1, 0), 0).unwrap();
    drop(log);
    let log = Log::open(dir.path(), small_config(1000)).unwrap();
    assert_eq!(log.log_end_offset(), 1);
    assert!(dir.path().join("5.log").exists());
}
