//! Fuzz target: replaying the committed-offsets log (`decode_frames`), which runs on whatever a crash
//! left in the old `__consumer_offsets/offsets.log` (read once, to migrate it). The valid prefix it reports must lie inside the input.
#![no_main]

use herald_broker::coordinator::legacy_offsets::decode_frames;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (_, valid_bytes) = decode_frames(data);
    assert!(valid_bytes <= data.len());
});
