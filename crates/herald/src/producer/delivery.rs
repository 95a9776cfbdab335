//! Delivery reports: what happens when librdkafka hears back from the broker about a message.
//!
//! [`DeliveryContext`] is the rdkafka producer context. Every message carries a [`Pending`] opaque;
//! its delivery report completes an awaiting `deliver` (through a oneshot), or, for `deliver_async`,
//! counts the outcome and hands failures to the user's handler as a [`DeliveryFailure`].
//! Counters go to the `metrics` facade (`herald_producer_*`) and to [`ProducerStats`].
//!
//! This module does not send anything.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rdkafka::message::{Headers, Message};
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::ClientContext;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::envelope::HEADER_ID;
use crate::error::{Error, Result};

/// Called (on librdkafka's delivery thread) for every `deliver_async` message that finally failed.
pub type DeliveryFailureHandler = Arc<dyn Fn(&DeliveryFailure) + Send + Sync>;

/// Messages the broker acknowledged, by topic.
pub const DELIVERED_TOTAL: &str = "herald_producer_delivered_total";
/// Messages that failed after librdkafka's retries, by topic.
pub const FAILED_TOTAL: &str = "herald_producer_failed_total";
/// `deliver_async` calls refused because the buffer was full, by topic.
pub const BUFFER_FULL_TOTAL: &str = "herald_producer_buffer_full_total";

/// Where the broker stored a delivered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The partition the event was appended to.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
}

/// A `deliver_async` message that librdkafka gave up on (after `message.timeout.ms`, or a
/// non-retriable broker error). Handed to the `on_delivery_failure` handler.
#[derive(Debug)]
pub struct DeliveryFailure {
    /// The topic it was meant for.
    pub topic: String,
    /// Its `ce_id`, when it had one.
    pub event_id: Option<Uuid>,
    /// The record key.
    pub key: Option<Vec<u8>>,
    /// The record value, so the handler can keep the event somewhere else.
    pub payload: Option<Vec<u8>>,
    /// Why it failed.
    pub error: Error,
}

/// Counts of outcomes since the producer was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProducerStats {
    /// Messages acknowledged by the broker.
    pub delivered: u64,
    /// Messages that failed after librdkafka's retries.
    pub failed: u64,
    /// `deliver_async` calls refused with `BufferFull`.
    pub buffer_full: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    delivered: AtomicU64,
    failed: AtomicU64,
    buffer_full: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ProducerStats {
        ProducerStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            buffer_full: self.buffer_full.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn count_buffer_full(&self, topic: &str) {
        self.buffer_full.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(BUFFER_FULL_TOTAL, "topic" => topic.to_owned()).increment(1);
    }
}

/// The per-message opaque: who, if anyone, awaits this message's delivery report.
#[derive(Debug)]
pub(crate) struct Pending {
    pub reply: Option<oneshot::Sender<Result<Delivery>>>,
}

/// The rdkafka producer context: routes delivery reports.
pub(crate) struct DeliveryContext {
    pub counters: Arc<Counters>,
    pub on_failure: Option<DeliveryFailureHandler>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Pending>;

    fn delivery(&self, result: &DeliveryResult<'_>, pending: Box<Pending>) {
        let outcome = match result {
            Ok(message) => {
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(DELIVERED_TOTAL, "topic" => message.topic().to_owned())
                    .increment(1);
                Ok(Delivery {
                    partition: message.partition(),
                    offset: message.offset(),
                })
            }
            Err((error, message)) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                let topic = message.topic().to_owned();
                metrics::counter!(FAILED_TOTAL, "topic" => topic.clone()).increment(1);
                let error = Error::Delivery {
                    topic,
                    source: error.clone(),
                };
                if pending.reply.is_none() {
                    self.report_failure(message, error);
                    return;
                }
                Err(error)
            }
        };
        if let Some(reply) = pending.reply {
            // The awaiting `deliver` may have been cancelled; then nobody wants the outcome.
            let _ = reply.send(outcome);
        }
    }
}

impl DeliveryContext {
    fn report_failure<M: Message>(&self, message: &M, error: Error) {
        tracing::warn!(topic = message.topic(), %error, "deliver_async message failed");
        let Some(handler) = &self.on_failure else {
            return;
        };
        let event_id = message.headers().and_then(|headers| {
            headers
                .iter()
                .filter(|header| header.key == HEADER_ID)
                .filter_map(|header| header.value)
                .filter_map(|value| std::str::from_utf8(value).ok())
                .find_map(|text| Uuid::parse_str(text).ok())
        });
        let failure = DeliveryFailure {
            topic: message.topic().to_owned(),
            event_id,
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            error,
        };
        handler(&failure);
    }
}
