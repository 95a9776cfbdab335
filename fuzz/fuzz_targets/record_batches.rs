//! Fuzz target: the record-batch v2 header parser and `split_batches` (what Produce runs on a
//! request's records). When splitting succeeds, the batches must tile the input exactly.
#![no_main]

use herald_log::batch::{split_batches, validate_batch, RecordBatchHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = RecordBatchHeader::parse(data);
    let _ = validate_batch(data);
    if let Ok(batches) = split_batches(data) {
        let mut at = 0;
        for (header, range) in batches {
            assert_eq!(range.start, at);
            assert_eq!(range.len(), header.total_bytes());
            at = range.end;
        }
        assert_eq!(at, data.len());
    }
});
