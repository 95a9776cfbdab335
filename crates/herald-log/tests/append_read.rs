//! Append then read: offsets are assigned contiguously and reads return the stored batches verbatim.

#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, headers, small_config};
use herald_log::{Log, LogError};

// appended batches get contiguous offsets and read back byte-for-byte apart from the patched fields
#[test]
fn append_then_read_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));

    let first = batch(3, 1000);
    let info = log.append(&first, 5000).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.duplicate),
        (0, 2, false)
    );
    assert_eq!(info.max_timestamp, 1002);
    let info = log.append(&batch(2, 2000), 5000).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (3, 4));
    assert_eq!(log.log_end_offset(), 5);

    let bytes = log.read(0, 1 << 20).unwrap();
    let hs = headers(&bytes);
    assert_eq!(hs.len(), 2);
    assert_eq!((hs[0].base_offset, hs[1].base_offset), (0, 3));
    assert_eq!(hs[0].partition_leader_epoch, 0);
    // everything after the patched fields is stored verbatim
    assert_eq!(&bytes[16..first.len()], &first[16..]);
}

// a read starting inside a batch returns that whole batch
#[test]
fn read_from_the_middle_of_a_batch_returns_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    for _ in 0..10 {
        log.append(&batch(5, 1000), 0).unwrap();
    }
    for offset in [0, 7, 23, 49] {
        let hs = headers(&log.read(offset, 1).unwrap());
        assert_eq!(hs.len(), 1, "at least one batch even past max_bytes");
        assert!(hs[0].base_offset <= offset && offset <= hs[0].last_offset());
    }
}

// max_bytes limits a read to whole batches, the log end reads empty, beyond it is out of range
#[test]
fn read_limits_and_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    let one = batch(1, 1000);
    for _ in 0..4 {
        log.append(&one, 0).unwrap();
    }
    let bytes = log.read(0, one.len() * 2 + 5).unwrap();
    assert_eq!(headers(&bytes).len(), 2);
    assert!(log.read(4, 1000).unwrap().is_empty());
    assert!(matches!(
        log.read(5, 1000),
        Err(LogError::OffsetOutOfRange { requested: 5, .. })
    ));
    assert!(matches!(
        log.read(-1, 1000),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

// without min_one_batch a read never exceeds max_bytes (it may be empty) but still checks the range;
// with it the first batch comes whole even when larger (Kafka's minOneMessage)
#[test]
fn read_within_honours_max_bytes_unless_one_batch_is_wanted() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    let one = batch(1, 1000);
    for _ in 0..3 {
        log.append(&one, 0).unwrap();
    }
    assert!(log.read_within(0, one.len() - 1, false).unwrap().is_empty());
    assert!(log.read_within(0, 0, false).unwrap().is_empty());
    assert_eq!(
        headers(&log.read_within(0, one.len() - 1, true).unwrap()).len(),
        1
    );
    assert_eq!(
        headers(&log.read_within(1, one.len() * 2, false).unwrap()).len(),
        2
    );
    assert!(matches!(
        log.read_within(9, 0, false),
        Err(LogError::OffsetOutOfRange { requested: 9, .. })
    ));
}

// a request with one corrupt or oversized batch writes nothing
#[test]
fn invalid_requests_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(1 << 20);
    config.max_message_bytes = 500;
    let mut log = Log::open(dir.path(), config).unwrap();
    let mut request = batch(1, 1000);
    let mut bad = batch(1, 1000);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    request.extend_from_slice(&bad);
    assert!(matches!(
        log.append(&request, 0),
        Err(LogError::ChecksumMismatch { .. })
    ));
    let big = common::build(&common::BatchSpec {
        value_bytes: 600,
        ..Default::default()
    });
    assert!(matches!(
        log.append(&big, 0),
        Err(LogError::BatchTooLarge { max: 500, .. })
    ));
    assert!(log.append(&[], 0).is_err());
    assert!(log.append(&batch(1, 0)[..30], 0).is_err());
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
}

// several batches in one request are all appended with contiguous offsets
#[test]
fn multi_batch_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20)).unwrap();
    let mut request = batch(2, 1000);
    request.extend(batch(3, 3000));
    let info = log.append(&request, 0).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.max_timestamp),
        (0, 4, 3002)
    );
    let hs = headers(&log.read(0, 1 << 20).unwrap());
    assert_eq!(
        hs.iter().map(|h| h.base_offset).collect::<Vec<_>>(),
        vec![0, 2]
    );
}
