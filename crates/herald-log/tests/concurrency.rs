//! Shared reads while appending: the broker's RwLock pattern (appends exclusive, reads shared) always
//! sees whole, valid batches with contiguous offsets.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, RwLock};

use common::{batch, headers, small_config};
use herald_log::Log;

// readers on other threads never see a torn batch or a gap while a writer appends and rolls
#[test]
fn readers_see_whole_batches_while_appending() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(RwLock::new(
        Log::open(dir.path(), small_config(4096)).unwrap(),
    ));
    const BATCHES: i64 = 400;
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut next = 0;
                while next < BATCHES * 2 {
                    let bytes = log.read().unwrap().read(next, 1000).unwrap();
                    for h in headers(&bytes) {
                        assert_eq!(h.base_offset, next);
                        next = h.last_offset() + 1;
                    }
                    if bytes.is_empty() {
                        std::thread::yield_now();
                    }
                }
                next
            })
        })
        .collect();
    for i in 0..BATCHES {
        log.write().unwrap().append(&batch(2, i), i).unwrap();
    }
    for reader in readers {
        assert_eq!(reader.join().unwrap(), BATCHES * 2);
    }
    assert!(log.read().unwrap().segment_count() > 5);
}
