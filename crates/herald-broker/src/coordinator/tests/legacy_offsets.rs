//! The old offsets file, now only read for migration: round trip, torn tails, corruption, and replay of
//! its records into the state machine.

use crate::coordinator::legacy_offsets::{
    decode_frames, encode_frame, read_legacy_log, LOG_FILE_NAME, OFFSETS_DIR_NAME,
};
use crate::coordinator::{CommittedOffset, OffsetRecord};

use super::*;

fn commit(group: &str, partition: i32, offset: i64) -> OffsetRecord {
    OffsetRecord::Commit {
        group_id: group.to_owned(),
        topic: "events".to_owned(),
        partition,
        value: CommittedOffset {
            offset,
            leader_epoch: 3,
            metadata: Some("m".to_owned()),
            commit_timestamp_ms: 17,
        },
    }
}

fn write_log(dir: &std::path::Path, bytes: &[u8]) {
    std::fs::create_dir_all(dir.join(OFFSETS_DIR_NAME)).unwrap();
    std::fs::write(dir.join(OFFSETS_DIR_NAME).join(LOG_FILE_NAME), bytes).unwrap();
}

// Records encoded in the old framing read back identical and in order; no file reads as None.
#[test]
fn old_log_reads_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(read_legacy_log(dir.path()).unwrap(), None);
    let tombstone = OffsetRecord::Tombstone {
        group_id: "h".to_owned(),
        topic: "events".to_owned(),
        partition: 0,
    };
    let records = vec![commit("g", 0, 1), commit("h", 0, 3), tombstone];
    let mut bytes = Vec::new();
    for record in &records {
        encode_frame(record, &mut bytes).unwrap();
    }
    write_log(dir.path(), &bytes);
    assert_eq!(read_legacy_log(dir.path()).unwrap(), Some(records));
}

// A torn final write (half a frame) is left out; the records before it are read.
#[test]
fn torn_tail_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    encode_frame(&commit("g", 0, 1), &mut bytes).unwrap();
    let mut frame = Vec::new();
    encode_frame(&commit("g", 0, 2), &mut frame).unwrap();
    bytes.extend_from_slice(&frame[..frame.len() / 2]);
    write_log(dir.path(), &bytes);
    assert_eq!(
        read_legacy_log(dir.path()).unwrap(),
        Some(vec![commit("g", 0, 1)])
    );
}

// A flipped byte fails the CRC: reading stops at that frame and drops everything after it.
#[test]
fn checksum_mismatch_stops_replay() {
    let mut bytes = Vec::new();
    for offset in 0..3 {
        encode_frame(&commit("g", 0, offset), &mut bytes).unwrap();
    }
    let frame_bytes = bytes.len() / 3;
    bytes[frame_bytes + 12] ^= 0xff;
    let (records, valid) = decode_frames(&bytes);
    assert_eq!(records, vec![commit("g", 0, 0)]);
    assert_eq!(valid, frame_bytes);
}

// Replayed records rebuild Empty groups whose offsets OffsetFetch returns.
#[test]
fn replay_restores_committed_offsets() {
    let mut h = Harness::new();
    h.machine
        .apply_records(&[commit(GROUP, 0, 1), commit(GROUP, 0, 5)]);
    let fetched = h
        .machine
        .fetch_offsets(GROUP, Some(&[("events".to_owned(), vec![0])]));
    assert_eq!(fetched[0].1[0].1.as_ref().unwrap().offset, 5);
    assert_eq!(h.state(), GroupState::Empty);
}
