//! Recovery from garbage written after the last batch of the active segment (a torn write).

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;

use common::{batch, read_all, segment_file, small_config};
use herald_log::Log;

// random bytes after the last valid batch are cut off; the batches before them survive
#[test]
fn garbage_after_the_last_batch_is_truncated() {
    use rand::RngCore;
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    for i in 0..5 {
        log.append(&batch(2, 1000 + i), 0).unwrap();
    }
    let size = log.size_bytes();
    drop(log);

    let path = segment_file(dir.path(), 0, "log");
    let mut garbage = vec![0u8; 3000];
    rand::thread_rng().fill_bytes(&mut garbage);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&garbage)
        .unwrap();

    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    assert_eq!(read_all(&log, 0).len(), 5);
    assert_eq!(log.append(&batch(1, 0), 0).unwrap().base_offset, 10);
}

// zero bytes (a preallocated or sparse tail) are cut off as well
#[test]
fn zeroed_tail_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    log.append(&batch(2, 1000), 0).unwrap();
    let size = log.size_bytes();
    drop(log);
    let path = segment_file(dir.path(), 0, "log");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[0u8; 4096])
        .unwrap();
    let log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(log.size_bytes(), size);
}
