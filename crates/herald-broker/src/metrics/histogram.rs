//! [`Histogram`]: fixed buckets of atomics, Prometheus' cumulative `le` buckets at render time.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the buckets, in the unit observed (seconds for latencies, records for sizes);
/// one more bucket, +Inf, follows.
pub const SECONDS_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Counts of observations per bucket, their sum and their number.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, then +Inf; not cumulative.
    counts: Vec<AtomicU64>,
    /// Sum of observations in millionths of the unit (so it fits an atomic integer).
    sum_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::with_bounds(&SECONDS_BUCKETS)
    }
}

/// A point-in-time copy of one or more histograms, summed.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub bounds: &'static [f64],
    pub counts: Vec<u64>,
    pub sum: f64,
}

impl Histogram {
    /// A histogram with these upper bounds (ascending).
    pub fn with_bounds(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: f64) {
        let bucket = self
            .bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(self.bounds.len());
        if let Some(count) = self.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        // Saturating float-to-int: a negative or NaN value adds 0.
        self.sum_micros
            .fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    /// Adds this histogram's counts to `into` (which takes this histogram's bounds if empty).
    pub fn add_to(&self, into: &mut Snapshot) {
        if into.counts.is_empty() {
            into.bounds = self.bounds;
            into.counts = vec![0; self.counts.len()];
        }
        for (sum, count) in into.counts.iter_mut().zip(&self.counts) {
            *sum += count.load(Ordering::Relaxed);
        }
        into.sum += self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
    }

    /// This histogram alone.
    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        self.add_to(&mut snapshot);
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Observations land in the first bucket whose bound covers them, and the sum adds up.
    #[test]
    fn observations_land_in_their_bucket() {
        let histogram = Histogram::default();
        histogram.observe(0.00005);
        histogram.observe(0.003);
        histogram.observe(60.0);
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.counts[0], 1);
        assert_eq!(snapshot.counts[5], 1, "0.003 s is in the 5 ms bucket");
        assert_eq!(snapshot.counts[SECONDS_BUCKETS.len()], 1, "+Inf");
        assert!((snapshot.sum - 60.00305).abs() < 1e-4);
    }
}
