//! `batch_has_keyless_records` finds a null key in plain and compressed batches, so that a broker can
//! refuse keyless records on a compacted topic.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use herald_log::batch_has_keyless_records;

// a batch with one null key among keyed records is found, in every codec; corrupt input is an error
#[test]
fn keyless_records_are_found_in_every_codec() {
    for codec in 0..=4 {
        let keyed_only = keyed(&KeyedSpec {
            records: vec![kv(1, 0), kv(2, 0)],
            codec,
            ..KeyedSpec::default()
        });
        assert!(!batch_has_keyless_records(&keyed_only).unwrap());
        let with_keyless = keyed(&KeyedSpec {
            records: vec![kv(1, 0), (None, Some(b"v".to_vec()))],
            codec,
            ..KeyedSpec::default()
        });
        assert!(batch_has_keyless_records(&with_keyless).unwrap());
        let mut corrupt = with_keyless.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        assert!(batch_has_keyless_records(&corrupt).is_err());
    }
    // the plain test batches have null keys
    assert!(batch_has_keyless_records(&batch(3, 0)).unwrap());
}
