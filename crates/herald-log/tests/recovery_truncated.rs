//! Recovery from a last batch that was only partly written.

#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, read_all, segment_file, small_config};
use herald_log::Log;

// a last batch cut anywhere (inside its header or its records) is dropped entirely
#[test]
fn truncated_last_batch_is_dropped() {
    let one = batch(3, 1000);
    for cut in [1, 20, 60, 61, one.len() - 1] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
        for _ in 0..4 {
            log.append(&one, 0).unwrap();
        }
        drop(log);
        let path = segment_file(dir.path(), 0, "log");
        let full = std::fs::metadata(&path).unwrap().len();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(full - (one.len() - cut) as u64).unwrap();
        drop(file);

        let log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
        assert_eq!(log.log_end_offset(), 9, "cut at {cut}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            full - one.len() as u64
        );
        assert_eq!(read_all(&log, 0).len(), 3);
    }
}

// a truncated batch in the active segment after a roll leaves the earlier segments alone
#[test]
fn truncation_in_active_segment_keeps_earlier_segments() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(1, 1000);
    let mut log = Log::open(dir.path(), small_config((one.len() * 2) as u64)).unwrap();
    for _ in 0..5 {
        log.append(&one, 0).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 4]);
    drop(log);
    let path = segment_file(dir.path(), 4, "log");
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(10).unwrap();
    drop(file);
    let log = Log::open(dir.path(), small_config((one.len() * 2) as u64)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 4]);
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(read_all(&log, 0).len(), 4);
}

// a cut at any random length of the active segment keeps exactly the batches wholly before the cut
#[test]
fn random_cuts_keep_whole_batches() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
        let mut ends = vec![0u64];
        for _ in 0..rng.gen_range(1..15) {
            log.append(&batch(rng.gen_range(1..5), 1000), 0).unwrap();
            ends.push(log.size_bytes());
        }
        let expected_end = log.log_end_offset();
        drop(log);
        let path = segment_file(dir.path(), 0, "log");
        let cut = rng.gen_range(0..=*ends.last().unwrap());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut)
            .unwrap();

        let log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
        let kept = ends.iter().rposition(|&end| end <= cut).unwrap();
        assert_eq!(log.size_bytes(), ends[kept], "cut at {cut} of {ends:?}");
        let batches = read_all(&log, 0);
        assert_eq!(batches.len(), kept);
        if kept == ends.len() - 1 {
            assert_eq!(log.log_end_offset(), expected_end);
        }
    }
}
