//! Regression tests for inputs the fuzz targets (`fuzz/`) found: each file under
//! `fuzz/regressions/<target>/` is replayed through the same entry point as its target and must come
//! back as a value or an error (a panic fails the test; an abort kills the test process).
//!
//! Found so far: `request_frames/oom-fetch-topic-array-count`, a 123-byte Fetch request whose topic
//! array declared billions of entries; kafka-protocol reserved them up front and the allocation
//! failure aborted the broker. Fixed by the patched kafka-protocol in `vendor/`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use bytes::{BufMut, BytesMut};
use herald_broker::frame::{decode_requests, FrameError};

/// The request limit the `request_frames` target uses.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

fn regression_inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    inputs.sort();
    inputs
}

// Every saved request_frames input decodes to a value or an error instead of aborting the process.
#[test]
fn request_frames_regressions_do_not_crash() {
    let inputs = regression_inputs("request_frames");
    assert!(!inputs.is_empty(), "no regression inputs found");
    for (path, bytes) in inputs {
        let outcome = decode_requests(&bytes, MAX_REQUEST_BYTES);
        println!("{}: {outcome:?}", path.display());
    }
}

// A tiny Metadata v0 request declaring i32::MAX topics is an undecodable body, not an allocation.
#[test]
fn huge_array_count_in_a_tiny_request_is_undecodable() {
    let mut frame = BytesMut::new();
    frame.put_i32(0); // size, patched below
    frame.put_i16(3); // Metadata
    frame.put_i16(0);
    frame.put_i32(7); // correlation id
    frame.put_i16(-1); // null client id
    frame.put_i32(i32::MAX); // topics array count, with no topics after it
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    let outcome = decode_requests(&frame, MAX_REQUEST_BYTES);
    assert!(
        matches!(outcome, Err(FrameError::Undecodable { .. })),
        "{outcome:?}"
    );
}
