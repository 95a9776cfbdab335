//! The offset log file: round trip, torn tails, corruption, compaction, replay into the state machine.

use std::fs::OpenOptions;
use std::io::Write;

use crate::coordinator::offset_log::{decode_frames, encode_frame, OFFSETS_DIR_NAME};
use crate::coordinator::{CommittedOffset, OffsetLog, OffsetRecord};

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

fn log_path(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join(OFFSETS_DIR_NAME).join("offsets.log")
}

// Records written, synced and reopened come back identical and in order.
#[test]
fn records_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, replayed) = OffsetLog::open(dir.path()).unwrap();
    assert!(replayed.is_empty());
    let records = vec![commit("g", 0, 1), commit("g", 1, 2), commit("h", 0, 3)];
    log.append(&records).unwrap();
    log.sync_handle().unwrap().sync_data().unwrap();
    drop(log);
    let (_, replayed) = OffsetLog::open(dir.path()).unwrap();
    assert_eq!(replayed, records);
}

// A torn final write (half a frame) is truncated at start-up; the records before it survive and the
// file accepts new appends after the cut.
#[test]
fn torn_tail_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = OffsetLog::open(dir.path()).unwrap();
    log.append(&[commit("g", 0, 1)]).unwrap();
    drop(log);
    let mut frame = Vec::new();
    encode_frame(&commit("g", 0, 2), &mut frame).unwrap();
    let mut file = OpenOptions::new()
        .append(true)
        .open(log_path(dir.path()))
        .unwrap();
    file.write_all(&frame[..frame.len() / 2]).unwrap();
    drop(file);
    let (mut log, replayed) = OffsetLog::open(dir.path()).unwrap();
    assert_eq!(replayed, vec![commit("g", 0, 1)]);
    log.append(&[commit("g", 0, 3)]).unwrap();
    drop(log);
    let (_, replayed) = OffsetLog::open(dir.path()).unwrap();
    assert_eq!(replayed, vec![commit("g", 0, 1), commit("g", 0, 3)]);
}

// A flipped byte fails the CRC: replay stops at that frame and drops everything after it.
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

// Start-up compaction keeps only the latest commit per partition and drops tombstoned ones.
#[test]
fn startup_compaction_drops_dead_records() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = OffsetLog::open(dir.path()).unwrap();
    let tombstone = OffsetRecord::Tombstone {
        group_id: "h".to_owned(),
        topic: "events".to_owned(),
        partition: 0,
    };
    log.append(&[
        commit("g", 0, 1),
        commit("h", 0, 1),
        commit("g", 0, 2),
        tombstone,
    ])
    .unwrap();
    drop(log);
    let (log, replayed) = OffsetLog::open(dir.path()).unwrap();
    assert_eq!(replayed.len(), 4, "replay sees the history");
    assert_eq!(log.records(), 1, "the file now holds only live records");
    drop(log);
    let (_, replayed) = OffsetLog::open(dir.path()).unwrap();
    assert_eq!(replayed, vec![commit("g", 0, 2)]);
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

// When dead records dominate a large log, should_compact says so and compact() leaves only the live
// records, which a reopen replays.
#[test]
fn runtime_compaction_when_dead_records_dominate() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = OffsetLog::open(dir.path()).unwrap();
    let count = crate::coordinator::offset_log::COMPACTION_RECORDS_MIN as i64;
    let records: Vec<OffsetRecord> = (0..count).map(|offset| commit("g", 0, offset)).collect();
    log.append(&records).unwrap();
    assert!(!log.should_compact(count as usize), "all records live");
    assert!(log.should_compact(1));
    log.compact(&[commit("g", 0, count - 1)]).unwrap();
    assert_eq!(log.records(), 1);
    log.append(&[commit("h", 0, 1)]).unwrap();
    drop(log);
    let (_, replayed) = OffsetLog::open(dir.path()).unwrap();
    assert_eq!(replayed, vec![commit("g", 0, count - 1), commit("h", 0, 1)]);
}
