//! cleanup.policy decides retention: `compact` never deletes by time or size, `compact,delete` and
//! `delete` do.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use herald_log::{CleanupPolicy, Log};

const HOUR_MS: i64 = 3_600_000;

fn old_log(dir: &std::path::Path, policy: CleanupPolicy) -> Log {
    let mut config = compact_config(300);
    config.cleanup_policy = policy;
    config.retention_ms = Some(HOUR_MS as u64);
    config.retention_bytes = Some(1);
    let mut log = Log::open(dir, config).unwrap();
    for i in 0..20 {
        let spec = KeyedSpec {
            records: vec![kv(i, 0)],
            base_timestamp: 0,
            ..KeyedSpec::default()
        };
        log.append(&keyed(&spec), 0).unwrap();
    }
    assert!(log.segment_count() > 2);
    log
}

// retention.ms and retention.bytes are ignored by compact and applied by compact,delete and delete
#[test]
fn retention_follows_cleanup_policy() {
    for (policy, deletes) in [
        (CleanupPolicy::Compact, false),
        (CleanupPolicy::CompactDelete, true),
        (CleanupPolicy::Delete, true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = old_log(dir.path(), policy);
        let deleted = log.apply_retention(10 * HOUR_MS).unwrap();
        assert_eq!(deleted > 0, deletes, "{policy:?}");
        assert_eq!(log.log_start_offset() > 0, deletes, "{policy:?}");
    }
}
