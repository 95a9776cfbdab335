//! Index files are hints: deleted or corrupt ones are rebuilt from the segment at open.

#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, headers, read_all, segment_file, small_config};
use herald_log::Log;

/// 20 batches of 95 bytes per segment: with an index entry every second batch, the last batch of a
/// segment is not indexed, so only the final time index entry written when a segment closes knows the
/// segment's max timestamp.
const SEGMENT_BYTES: u64 = 1900;

fn build_log(dir: &std::path::Path) -> (Log, Vec<herald_log::RecordBatchHeader>) {
    let mut log = Log::open(dir, small_config(SEGMENT_BYTES)).unwrap();
    for i in 0..60 {
        log.append(&batch(2, 1000 + i * 10), 0).unwrap();
    }
    log.flush().unwrap();
    let all = read_all(&log, 0);
    (log, all)
}

fn check_every_offset(log: &Log) {
    for offset in log.log_start_offset()..log.log_end_offset() {
        let hs = headers(&log.read(offset, 1).unwrap());
        assert!(hs[0].base_offset <= offset && offset <= hs[0].last_offset());
    }
}

// deleting every index file of a closed and of the active segment loses nothing
#[test]
fn deleted_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (log, before) = build_log(dir.path());
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 3);
    drop(log);
    for base in [bases[0], bases[1], *bases.last().unwrap()] {
        std::fs::remove_file(segment_file(dir.path(), base, "index")).unwrap();
        std::fs::remove_file(segment_file(dir.path(), base, "timeindex")).unwrap();
    }
    let log = Log::open(dir.path(), small_config(SEGMENT_BYTES)).unwrap();
    assert_eq!(log.segment_base_offsets(), bases);
    assert_eq!(read_all(&log, 0), before);
    check_every_offset(&log);
    assert!(segment_file(dir.path(), bases[0], "index").exists());
    assert!(
        std::fs::metadata(segment_file(dir.path(), bases[0], "index"))
            .unwrap()
            .len()
            > 0
    );
    assert_eq!(
        log.offset_for_timestamp(1000 + 35 * 10).unwrap(),
        Some((70, 1350))
    );

    // the rebuilt indexes are complete enough to be trusted by the next open
    drop(log);
    let log = Log::open(dir.path(), small_config(SEGMENT_BYTES)).unwrap();
    for i in 0..60 {
        let ts = 1000 + i * 10;
        assert_eq!(
            log.offset_for_timestamp(ts).unwrap(),
            Some((2 * i, ts)),
            "ts {ts}"
        );
    }
}

// with no checkpoint every segment is recovered; closed ones keep their max timestamp for the next open
#[test]
fn full_recovery_leaves_trustworthy_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let (log, before) = build_log(dir.path());
    let bases = log.segment_base_offsets();
    drop(log);
    std::fs::remove_file(dir.path().join("recovery-point-checkpoint")).unwrap();
    for base in &bases {
        std::fs::remove_file(segment_file(dir.path(), *base, "timeindex")).unwrap();
    }
    let mut log = Log::open(dir.path(), small_config(SEGMENT_BYTES)).unwrap();
    log.flush().unwrap();
    drop(log);
    let log = Log::open(dir.path(), small_config(SEGMENT_BYTES)).unwrap();
    assert_eq!(read_all(&log, 0), before);
    for i in 0..60 {
        let ts = 1000 + i * 10;
        assert_eq!(
            log.offset_for_timestamp(ts).unwrap(),
            Some((2 * i, ts)),
            "ts {ts}"
        );
    }
    assert_eq!(log.max_timestamp().unwrap(), Some((1591, 119)));
}

// garbage in index files (wrong length, offsets going backwards) is detected and rebuilt
#[test]
fn corrupt_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (log, before) = build_log(dir.path());
    let bases = log.segment_base_offsets();
    drop(log);
    std::fs::write(segment_file(dir.path(), bases[0], "index"), [0xffu8; 13]).unwrap();
    std::fs::write(segment_file(dir.path(), bases[1], "index"), [0xffu8; 16]).unwrap();
    std::fs::write(segment_file(dir.path(), bases[1], "timeindex"), [7u8; 24]).unwrap();
    let log = Log::open(dir.path(), small_config(SEGMENT_BYTES)).unwrap();
    assert_eq!(read_all(&log, 0), before);
    check_every_offset(&log);
    assert_eq!(log.max_timestamp().unwrap(), Some((1591, 119)));
}

// an index file whose segment is gone is removed at open
#[test]
fn orphan_index_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build_log(dir.path());
    drop(log);
    let orphan = segment_file(dir.path(), 999_999, "index");
    std::fs::write(&orphan, [0u8; 8]).unwrap();
    let _log = Log::open(dir.path(), small_config(SEGMENT_BYTES)).unwrap();
    assert!(!orphan.exists());
}
