//! Broker metrics in Prometheus' text format: requests, errors and latency per API (one slot per
//! registered API, so a new API is measured without extra code), connections, bytes and records in
//! and out per topic, log start/end and size per partition, fsync latency and records per group
//! commit, and consumer-group lag per partition computed by the broker from committed offsets.
//!
//! Counters are atomics updated on the request path; everything per topic and partition lives on the
//! `Partition` itself (`partition.rs`) and is summed at scrape time, so a deleted topic
//! takes its series with it. Names follow Prometheus' conventions: `herald_broker_` prefix, units in
//! the name, `_total` for counters. Served by `http.rs` (`--metrics-listen`).
//!
//! Main types: [`BrokerMetrics`], [`Histogram`].

mod histogram;
pub mod http;
mod render;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use kafka_protocol::messages::ApiKey;

pub use histogram::Histogram;
pub use render::render;

/// Slots for API keys (Kafka's keys are below 100; a key past this is not measured).
const API_KEYS_MAX: usize = 128;

/// One API's counters.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    pub requests: AtomicU64,
    /// Responses that carried at least one non-zero error code.
    pub errors: AtomicU64,
    /// From the request's arrival to its response being written.
    pub latency: Histogram,
}

/// The broker-wide counters (per partition ones are on `Partition`).
#[derive(Debug)]
pub struct BrokerMetrics {
    apis: Vec<ApiMetrics>,
    pub connections_open: AtomicI64,
    pub connections_accepted: AtomicU64,
    /// Connections closed because of a bad frame, a refused request or a failed login.
    pub connections_closed_on_error: AtomicU64,
    /// The log cleaner thread's counters (herald-log updates them).
    pub cleaner: std::sync::Arc<herald_log::cleaner::CleanerMetrics>,
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        Self {
            apis: (0..API_KEYS_MAX).map(|_| ApiMetrics::default()).collect(),
            connections_open: AtomicI64::new(0),
            connections_accepted: AtomicU64::new(0),
            connections_closed_on_error: AtomicU64::new(0),
            cleaner: std::sync::Arc::default(),
        }
    }
}

impl BrokerMetrics {
    /// The counters of `key`, if it has a slot.
    pub fn api(&self, key: ApiKey) -> Option<&ApiMetrics> {
        self.apis.get(key as usize)
    }

    /// Records one answered request.
    pub fn observe(&self, key: ApiKey, elapsed: Duration, failed: bool) {
        let Some(api) = self.api(key) else { return };
        api.requests.fetch_add(1, Ordering::Relaxed);
        if failed {
            api.errors.fetch_add(1, Ordering::Relaxed);
        }
        api.latency.observe(elapsed.as_secs_f64());
    }
}

/// Counts the records of the v2 batches in `bytes` (from their headers; a torn tail is ignored).
pub fn records_in_batches(bytes: &[u8]) -> u64 {
    // baseOffset (8) + batchLength (4) precede the batch; the record count is at byte 57.
    const LENGTH_AT: usize = 8;
    const RECORDS_COUNT_AT: usize = 57;
    const HEADER_BYTES: usize = 61;
    let mut records = 0u64;
    let mut at = 0usize;
    while let Some(header) = bytes.get(at..at + HEADER_BYTES) {
        let length = i32::from_be_bytes([
            header[LENGTH_AT],
            header[LENGTH_AT + 1],
            header[LENGTH_AT + 2],
            header[LENGTH_AT + 3],
        ]);
        let count = i32::from_be_bytes([
            header[RECORDS_COUNT_AT],
            header[RECORDS_COUNT_AT + 1],
            header[RECORDS_COUNT_AT + 2],
            header[RECORDS_COUNT_AT + 3],
        ]);
        let Ok(length) = usize::try_from(length) else {
            break;
        };
        records += u64::try_from(count).unwrap_or(0);
        at += LENGTH_AT + 4 + length;
    }
    records
}
