//! Consumer metrics (`herald_consumer_*`) through the `metrics` facade, and a tiny Prometheus exporter.
//!
//! Counters: processed, failed (handler errors, one per failed attempt), retried, dead-lettered, and
//! duplicates skipped by the inbox; gauge: lag per partition (from librdkafka's statistics: high
//! watermark minus committed offset). All are labelled `group` and `topic` (lag also `partition`).
//! Whatever `metrics` recorder the application installs receives them; [`install_prometheus`] installs
//! herald's and [`serve_prometheus`] answers `GET /metrics` on a listener.
//!
//! Not here: tracing spans (the runner opens one per message) and broker-side metrics.

use metrics::{counter, gauge, Counter};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// Messages processed successfully.
pub const PROCESSED_TOTAL: &str = "herald_consumer_processed_total";
/// Failed handler attempts.
pub const FAILED_TOTAL: &str = "herald_consumer_failed_total";
/// Attempts scheduled after a failure.
pub const RETRIED_TOTAL: &str = "herald_consumer_retried_total";
/// Messages sent to a dead-letter topic.
pub const DEAD_LETTERED_TOTAL: &str = "herald_consumer_dead_lettered_total";
/// Events the inbox recognised as already processed and skipped.
pub const DUPLICATES_SKIPPED_TOTAL: &str = "herald_consumer_duplicates_skipped_total";
/// Messages between the committed offset and the high watermark, per partition.
pub const LAG: &str = "herald_consumer_lag";

/// Largest HTTP request head read by the exporter; the rest is ignored.
const REQUEST_BYTES_MAX: usize = 8_192;

/// Counter handles for one (group, topic), resolved once per partition worker so the hot path does
/// not rebuild label sets.
#[derive(Clone)]
pub(crate) struct ConsumerCounters {
    pub processed: Counter,
    pub failed: Counter,
    pub retried: Counter,
    pub dead_lettered: Counter,
}

impl ConsumerCounters {
    /// Registers (or finds) the counters for `group` and `topic`.
    pub fn new(group: &str, topic: &str) -> Self {
        let labels = [("group", group.to_string()), ("topic", topic.to_string())];
        ConsumerCounters {
            processed: counter!(PROCESSED_TOTAL, &labels),
            failed: counter!(FAILED_TOTAL, &labels),
            retried: counter!(RETRIED_TOTAL, &labels),
            dead_lettered: counter!(DEAD_LETTERED_TOTAL, &labels),
        }
    }
}

/// Counts `count` skipped duplicates for `group` and `topic`.
pub(crate) fn duplicates_skipped(group: &str, topic: &str, count: u64) {
    counter!(DUPLICATES_SKIPPED_TOTAL, "group" => group.to_string(), "topic" => topic.to_string())
        .increment(count);
}

/// Sets the lag gauge of one partition.
pub(crate) fn set_lag(group: &str, topic: &str, partition: i32, lag: i64) {
    gauge!(LAG, "group" => group.to_string(), "topic" => topic.to_string(), "partition" => partition.to_string())
        .set(lag.max(0) as f64);
}

/// Installs herald's Prometheus recorder as the global `metrics` recorder and returns its handle.
/// Fails if another recorder is already installed.
pub fn install_prometheus() -> Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| Error::config("metrics recorder", e.to_string()))
}

/// Answers every HTTP request on `listener` with the Prometheus text rendering of `handle`, until
/// `shutdown` fires. One request per connection; connections are served one at a time (scrapes are
/// rare and small).
pub async fn serve_prometheus(
    listener: TcpListener,
    handle: PrometheusHandle,
    shutdown: CancellationToken,
) -> Result<()> {
    loop {
        let (mut stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "metrics listener accept failed");
                    continue;
                }
            },
            _ = shutdown.cancelled() => return Ok(()),
        };
        let mut request = vec![0u8; REQUEST_BYTES_MAX];
        // The request itself does not matter: every path gets the metrics.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), stream.read(&mut request))
            .await;
        let body = handle.render();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
            body.len(),
            body
        );
        if let Err(error) = stream.write_all(response.as_bytes()).await {
            tracing::debug!(%error, "metrics response not delivered");
        }
    }
}
