//! Rolling and reading across segments: size and age rolls, reads at and across segment boundaries.

#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, headers, read_all, segment_file, small_config};
use herald_log::Log;

// a segment rolls before it would exceed segment_bytes, and base offsets name the files
#[test]
fn rolls_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(2, 1000);
    let per_segment = 3;
    let mut log = Log::open(dir.path(), small_config((one.len() * per_segment) as u64)).unwrap();
    for _ in 0..10 {
        log.append(&one, 0).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 6, 12, 18]);
    for base in [0, 6, 12, 18] {
        assert!(segment_file(dir.path(), base, "log").exists());
        assert!(segment_file(dir.path(), base, "index").exists());
        assert!(segment_file(dir.path(), base, "timeindex").exists());
    }
    assert_eq!(log.size_bytes(), (one.len() * 10) as u64);
    // a roll makes everything before it durable
    assert_eq!(log.recovery_point(), 18);
}

// a batch larger than segment_bytes still goes in (alone in its segment)
#[test]
fn oversized_batch_gets_its_own_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(100)).unwrap();
    log.append(&batch(5, 0), 0).unwrap();
    log.append(&batch(5, 0), 0).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 5]);
    assert_eq!(read_all(&log, 0).len(), 2);
}

// a segment rolls once segment_ms passed since its first append, by the broker's clock
#[test]
fn rolls_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(1 << 20);
    config.segment_ms = Some(1000);
    let mut log = Log::open(dir.path(), config).unwrap();
    log.append(&batch(1, 10_000), 10_000).unwrap();
    log.append(&batch(1, 10_500), 11_000).unwrap();
    assert_eq!(
        log.segment_count(),
        1,
        "exactly segment_ms old does not roll"
    );
    log.append(&batch(1, 11_001), 11_001).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
}

// producers replaying old timestamps do not make every append roll
#[test]
fn old_producer_timestamps_do_not_roll_every_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(1 << 20);
    config.segment_ms = Some(1000);
    let mut log = Log::open(dir.path(), config).unwrap();
    for i in 0..5 {
        log.append(&batch(1, 5), 1_000_000 + i).unwrap();
    }
    assert_eq!(log.segment_count(), 1);
}

// every offset reads back its own batch, in every segment, including the first and last of each
#[test]
fn reads_at_every_offset_and_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(700)).unwrap();
    for i in 0..30 {
        log.append(&batch(1 + (i % 4), 1000 + i as i64), 0).unwrap();
    }
    assert!(log.segment_count() > 4);
    for offset in 0..log.log_end_offset() {
        let hs = headers(&log.read(offset, 1).unwrap());
        assert_eq!(hs.len(), 1);
        assert!(
            hs[0].base_offset <= offset && offset <= hs[0].last_offset(),
            "offset {offset}"
        );
    }
    let all = read_all(&log, 0);
    assert_eq!(all.len(), 30);
    for pair in all.windows(2) {
        assert_eq!(pair[0].last_offset() + 1, pair[1].base_offset);
    }
}

// one read continues into the next segment when there is room, and stops at a whole batch
#[test]
fn read_spans_segments() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(1, 1000);
    let mut log = Log::open(dir.path(), small_config((one.len() * 2) as u64)).unwrap();
    for _ in 0..6 {
        log.append(&one, 0).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 4]);
    let hs = headers(&log.read(1, one.len() * 3).unwrap());
    assert_eq!(
        hs.iter().map(|h| h.base_offset).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let hs = headers(&log.read(0, 1 << 20).unwrap());
    assert_eq!(hs.len(), 6);
    let hs = headers(&log.read(2, one.len() * 2 - 1).unwrap());
    assert_eq!(
        hs.iter().map(|h| h.base_offset).collect::<Vec<_>>(),
        vec![2]
    );
}
