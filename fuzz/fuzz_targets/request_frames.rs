//! Fuzz target: the bytes a client sends on a socket, through everything the broker runs on them
//! before dispatch (size prefix and `max_request_bytes`, header peek, version checks, request header
//! and body decoding). Any outcome but a panic, a hang or an allocation blow-up is fine.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// A small request limit so that a fuzzed size prefix cannot ask for much (the broker's check).
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    let _ = herald_broker::frame::decode_requests(data, MAX_REQUEST_BYTES);
});
