//! The broker's wall clock: milliseconds since the Unix epoch, for record timestamps, retention and
//! the coordinator's deadlines. One function, so that every module reads time the same way and none
//! has to import the server for it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before 1970, `i64::MAX` past year 292M).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
