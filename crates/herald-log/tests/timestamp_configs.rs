//! `message.timestamp.type` and the CreateTime bounds (`message.timestamp.before/after.max.ms`):
//! LogAppendTime stamps each batch with the broker's clock (and a CRC that still checks), and a batch
//! outside the bounds is refused with InvalidTimestamp, writing nothing.

#![allow(clippy::unwrap_used)]

mod common;

use common::{batch, headers, small_config};
use herald_log::batch::ATTRIBUTE_LOG_APPEND_TIME;
use herald_log::{Log, LogConfig, LogError, TimestampType};

const NOW_MS: i64 = 1_700_000_000_000;

// Under LogAppendTime the stored batch carries the append time as maxTimestamp and the
// timestamp-type bit, its CRC verifies, the time index uses it, and AppendInfo reports it.
#[test]
fn log_append_time_stamps_batches() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..small_config(1 << 20)
    };
    let mut log = Log::open(dir.path(), config).unwrap();
    let info = log.append(&batch(3, 1_000), NOW_MS).unwrap();
    assert_eq!(info.log_append_time, Some(NOW_MS));
    let stored = log.read(0, 1 << 20).unwrap();
    let header = headers(&stored)[0];
    assert_eq!(header.max_timestamp, NOW_MS);
    assert_ne!(header.attributes & ATTRIBUTE_LOG_APPEND_TIME, 0);
    assert_eq!(
        header.base_timestamp, 1_000,
        "record timestamps are left as sent"
    );
    assert_eq!(log.offset_for_timestamp(NOW_MS).unwrap(), Some((0, NOW_MS)));
    assert_eq!(log.max_timestamp().unwrap().map(|(ts, _)| ts), Some(NOW_MS));
}

// Under CreateTime a batch too far behind or ahead of the clock is refused and nothing is written;
// one inside the bounds is appended with its own timestamps.
#[test]
fn create_time_bounds_refuse_outliers() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        timestamp_before_max_ms: Some(60_000),
        timestamp_after_max_ms: Some(1_000),
        ..small_config(1 << 20)
    };
    let mut log = Log::open(dir.path(), config).unwrap();
    for timestamp in [NOW_MS - 60_001, NOW_MS + 2_000] {
        let error = log.append(&batch(2, timestamp), NOW_MS).unwrap_err();
        assert!(
            matches!(error, LogError::InvalidTimestamp { .. }),
            "{error}"
        );
    }
    assert_eq!(log.log_end_offset(), 0);
    let info = log.append(&batch(2, NOW_MS - 59_000), NOW_MS).unwrap();
    assert_eq!((info.base_offset, info.log_append_time), (0, None));
    assert_eq!(
        headers(&log.read(0, 1 << 20).unwrap())[0].base_timestamp,
        NOW_MS - 59_000
    );
}
