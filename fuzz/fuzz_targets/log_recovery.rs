//! Fuzz target: log recovery. The input is written as the only segment of a partition directory
//! (optionally with an offset index: a first byte `n` puts the next `8 * (n % 8)` bytes in
//! `.index`), then `Log::open` recovers it and everything is read back. Whatever survives recovery
//! must read back as whole batches that pass their CRC, from log start to log end.
#![no_main]

use herald_log::batch::validate_batch;
use herald_log::{Log, LogConfig};
use libfuzzer_sys::fuzz_target;

const SEGMENT: &str = "00000000000000000000";
const READ_BYTES_MAX: usize = 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let index_len = (8 * usize::from(selector % 8)).min(rest.len());
    let (index, segment) = rest.split_at(index_len);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(format!("{SEGMENT}.log")), segment).expect("write segment");
    if !index.is_empty() {
        std::fs::write(dir.path().join(format!("{SEGMENT}.index")), index).expect("write index");
    }
    let Ok(log) = Log::open(dir.path(), LogConfig::default()) else {
        return;
    };
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log
            .read(offset, READ_BYTES_MAX)
            .expect("recovered data reads back");
        assert!(!bytes.is_empty(), "empty read below the log end offset");
        let mut at = 0;
        while at < bytes.len() {
            let header = validate_batch(&bytes[at..]).expect("served batch passes its CRC");
            at += header.total_bytes();
            offset = header.last_offset() + 1;
        }
    }
});
