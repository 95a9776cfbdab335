//! Timestamp lookups for ListOffsets: offset_for_timestamp and max_timestamp (-3), both at record
//! granularity (the offset of a record inside its batch, as Kafka answers).

#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, batch_with_timestamps, small_config};
use herald_log::Log;

// each lookup finds the first record whose timestamp reaches the target, across segments
#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(600)).unwrap();
    // batch i holds offsets [2i, 2i+1] with timestamps 1000+100i and 1001+100i
    for i in 0..40 {
        log.append(&batch(2, 1000 + 100 * i), 0).unwrap();
    }
    assert!(log.segment_count() > 3);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 1000)));
    assert_eq!(log.offset_for_timestamp(1001).unwrap(), Some((1, 1001)));
    assert_eq!(log.offset_for_timestamp(1002).unwrap(), Some((2, 1100)));
    for i in 0..40 {
        let ts = 1000 + 100 * i;
        assert_eq!(
            log.offset_for_timestamp(ts).unwrap(),
            Some((2 * i, ts)),
            "ts {ts}"
        );
        assert_eq!(
            log.offset_for_timestamp(ts + 1).unwrap(),
            Some((2 * i + 1, ts + 1)),
            "inside the batch, ts {ts}"
        );
        assert_eq!(
            log.offset_for_timestamp(ts - 50).unwrap(),
            Some((2 * i, ts))
        );
    }
    assert_eq!(log.offset_for_timestamp(1000 + 100 * 39 + 2).unwrap(), None);
}

// timestamps that go backwards: the answer is the first record that reaches the target
#[test]
fn offset_for_timestamp_with_unordered_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    for ts in [500, 100, 900, 200, 950] {
        log.append(&batch(1, ts), 0).unwrap();
    }
    assert_eq!(log.offset_for_timestamp(150).unwrap(), Some((0, 500)));
    assert_eq!(log.offset_for_timestamp(600).unwrap(), Some((2, 900)));
    assert_eq!(log.offset_for_timestamp(920).unwrap(), Some((4, 950)));
}

// max_timestamp reports the largest timestamp and the first record that has it, also after a reopen
#[test]
fn max_timestamp_reports_the_newest_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(400)).unwrap();
    assert_eq!(log.max_timestamp().unwrap(), None);
    for ts in [100, 5000, 300, 5000, 200, 40, 50] {
        log.append(&batch(3, ts), 0).unwrap();
    }
    assert!(log.segment_count() > 2);
    // batch 1 (offsets 3-5) holds 5002 at offset 5; the later batch with the same max does not replace it
    assert_eq!(log.max_timestamp().unwrap(), Some((5002, 5)));
    log.flush().unwrap();
    drop(log);
    let log = Log::open(dir.path(), small_config(400)).unwrap();
    assert_eq!(log.max_timestamp().unwrap(), Some((5002, 5)));
    assert_eq!(log.offset_for_timestamp(5001).unwrap(), Some((4, 5001)));
}

// the record with the largest timestamp in the middle of a batch (KIP-734's example: +100, +400, +250)
// is answered at its own offset; ties go to the first record
#[test]
fn max_timestamp_finds_the_record_inside_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    log.append(&batch_with_timestamps(&[1100, 1400, 1250, 1400]), 0)
        .unwrap();
    assert_eq!(log.max_timestamp().unwrap(), Some((1400, 1)));
    assert_eq!(log.offset_for_timestamp(1300).unwrap(), Some((1, 1400)));
    assert_eq!(log.offset_for_timestamp(1200).unwrap(), Some((1, 1400)));
    assert_eq!(log.offset_for_timestamp(1101).unwrap(), Some((1, 1400)));
    assert_eq!(log.offset_for_timestamp(1100).unwrap(), Some((0, 1100)));
}
