//! [`CleanerMetrics`]: what the cleaner thread has done, as counters a broker can export (Kafka's
//! `kafka.log:type=LogCleaner` figures). Updated by the cleaner thread after each round, read at any
//! time without a lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::CleaningStats;

/// Counters over every round the cleaner thread ran; `Default` is all zeros.
#[derive(Debug, Default)]
pub struct CleanerMetrics {
    /// Rounds that cleaned something (a log larger than the key map takes several).
    pub passes: AtomicU64,
    /// Rounds that failed (logged; the log is left as it was or as a crash would leave it).
    pub failures: AtomicU64,
    /// Batch bytes read and filtered, and bytes of cleaned segments written.
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
    pub records_read: AtomicU64,
    pub records_kept: AtomicU64,
    /// Records whose keys went into the key map.
    pub records_mapped: AtomicU64,
    pub segments_cleaned: AtomicU64,
    /// Duration of the last round that cleaned something, in microseconds.
    pub last_pass_micros: AtomicU64,
    /// Time the I/O limit made the cleaner sleep, over every round, in microseconds.
    pub throttled_micros: AtomicU64,
    /// Memory the key map holds (0 until the first clean), in bytes.
    pub key_map_bytes: AtomicU64,
}

impl CleanerMetrics {
    /// Accounts one round that cleaned something.
    pub fn record_pass(&self, stats: &CleaningStats, elapsed: Duration) {
        let add = |counter: &AtomicU64, value: u64| {
            counter.fetch_add(value, Ordering::Relaxed);
        };
        add(&self.passes, 1);
        add(&self.bytes_read, stats.bytes_read);
        add(&self.bytes_written, stats.bytes_written);
        add(&self.records_read, stats.records_read);
        add(&self.records_kept, stats.records_kept);
        add(&self.records_mapped, stats.records_mapped);
        add(&self.segments_cleaned, stats.segments_cleaned);
        add(
            &self.throttled_micros,
            u64::try_from(stats.throttled.as_micros()).unwrap_or(u64::MAX),
        );
        self.last_pass_micros.store(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}
