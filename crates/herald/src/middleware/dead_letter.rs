//! Dead letters: where a message goes when it cannot be processed, with headers that say why.
//!
//! A dead letter is the original record (key, value and every header, so it can be replayed as is)
//! plus `herald-*` headers: the error reason, the number of attempts, the original topic, partition and
//! offset, and the consumer and group that gave up. [`DeadLetterPublisher`] sends it with an idempotent,
//! `acks=all` producer and does not give up: the runner commits the original offset only after the dead
//! letter is acknowledged, so nothing is lost when the dead-letter topic is briefly unavailable.
//!
//! The same publisher sends records to retry topics ([`super::retry_topic`]).
//!
//! Not here: deciding *when* a message is dead (the runner and [`super::retry`] do that).

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use tokio_util::sync::CancellationToken;

pub use super::origin::{
    Origin, HEADER_ORIGINAL_OFFSET, HEADER_ORIGINAL_PARTITION, HEADER_ORIGINAL_TOPIC,
};
use crate::consumer::Record;
use crate::error::{Error, Result};

/// Why the message was dead-lettered (the handler's error or the decode error).
pub const HEADER_ERROR_REASON: &str = "herald-error-reason";
/// What kind of failure: `processing` (handler failed every attempt) or `decode` (not an event).
pub const HEADER_ERROR_KIND: &str = "herald-error-kind";
/// Attempts made before giving up (0 for a record that could not be decoded).
pub const HEADER_ATTEMPTS: &str = "herald-attempts";
/// The consumer (its [`name`](crate::consumer::Consumer::name)) that gave up.
pub const HEADER_CONSUMER: &str = "herald-consumer";
/// The consumer group that gave up.
pub const HEADER_CONSUMER_GROUP: &str = "herald-consumer-group";
/// When it was dead-lettered (RFC 3339).
pub const HEADER_FAILED_AT: &str = "herald-failed-at";

/// Longest reason kept in the header; longer ones are cut at a character boundary.
pub const REASON_BYTES_MAX: usize = 4_096;
/// Wait between two attempts to publish a dead letter.
pub const PUBLISH_RETRY_BACKOFF_MS: u64 = 500;
/// librdkafka's own delivery timeout for one attempt.
const MESSAGE_TIMEOUT_MS: &str = "30000";

/// Why a record is being dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterKind {
    /// The handler failed `attempts` times.
    Processing {
        /// Attempts made.
        attempts: u32,
    },
    /// The record is not a herald event; it never reached the handler.
    Decode,
}

/// Who gave up on a record, for the headers.
#[derive(Debug, Clone)]
pub struct DeadLetterSource {
    /// The consumer's name.
    pub consumer: String,
    /// The consumer group.
    pub consumer_group: String,
}

/// The headers of a dead letter: the record's own headers followed by the `herald-*` ones.
pub fn dead_letter_headers(
    record: &Record,
    kind: &DeadLetterKind,
    reason: &str,
    source: &DeadLetterSource,
) -> Vec<(String, Vec<u8>)> {
    let mut headers: Vec<(String, Vec<u8>)> = record
        .headers
        .iter()
        .filter(|(name, _)| !name.starts_with("herald-"))
        .map(|(name, value)| (name.to_owned(), value.to_vec()))
        .collect();
    let (kind_name, attempts) = match kind {
        DeadLetterKind::Processing { attempts } => ("processing", *attempts),
        DeadLetterKind::Decode => ("decode", 0),
    };
    let mut push = |name: &str, value: String| headers.push((name.to_string(), value.into_bytes()));
    push(
        HEADER_ERROR_REASON,
        truncate(reason, REASON_BYTES_MAX).to_string(),
    );
    push(HEADER_ERROR_KIND, kind_name.to_string());
    push(HEADER_ATTEMPTS, attempts.to_string());
    // A record from a retry topic reports where it was first consumed, not the retry topic.
    let origin = Origin::of(record);
    push(HEADER_ORIGINAL_TOPIC, origin.topic.to_string());
    push(HEADER_ORIGINAL_PARTITION, origin.partition.to_string());
    push(HEADER_ORIGINAL_OFFSET, origin.offset.to_string());
    push(HEADER_CONSUMER, source.consumer.clone());
    push(HEADER_CONSUMER_GROUP, source.consumer_group.clone());
    push(HEADER_FAILED_AT, chrono::Utc::now().to_rfc3339());
    headers
}

/// Cuts `text` to at most `max` bytes without splitting a character.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Publishes dead letters; one per consumer runner.
pub struct DeadLetterPublisher {
    producer: FutureProducer,
    source: DeadLetterSource,
}

impl std::fmt::Debug for DeadLetterPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterPublisher")
            .field("source", &self.source)
            .finish()
    }
}

impl DeadLetterPublisher {
    /// Creates the producer. `base` carries the brokers and security settings of the consumer.
    pub fn new(base: &ClientConfig, source: DeadLetterSource) -> Result<Self> {
        let mut config = ClientConfig::new();
        for key in ["bootstrap.servers", "client.id"] {
            if let Some(value) = base.get(key) {
                config.set(key, value);
            }
        }
        for (key, value) in base.config_map() {
            if key.starts_with("security.") || key.starts_with("sasl.") || key.starts_with("ssl.") {
                config.set(key, value);
            }
        }
        // A dead letter replaces the original message, so it must be durable and not duplicated by
        // librdkafka's internal retries: acks=all plus the idempotent producer.
        config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", MESSAGE_TIMEOUT_MS);
        let producer = config
            .create()
            .map_err(|e| Error::kafka("create dead-letter producer", e))?;
        Ok(DeadLetterPublisher { producer, source })
    }

    /// Sends `record` to `topic` and waits for the broker's acknowledgement, retrying until it is
    /// acknowledged or `shutdown` fires (then returns [`Error::Shutdown`] and the offset stays
    /// uncommitted, so the record is redelivered later).
    pub async fn publish(
        &self,
        topic: &str,
        record: &Record,
        kind: &DeadLetterKind,
        reason: &str,
        shutdown: &CancellationToken,
    ) -> Result<()> {
        let headers = dead_letter_headers(record, kind, reason, &self.source);
        self.publish_with_headers(topic, record, &headers, shutdown)
            .await
    }

    /// Who gave up, as the headers name it.
    pub fn source(&self) -> &DeadLetterSource {
        &self.source
    }

    /// Sends `record`'s key and value to `topic` with `headers` (instead of the record's own), with
    /// the same durability and retries as [`publish`](DeadLetterPublisher::publish); retry topics
    /// use it.
    pub async fn publish_with_headers(
        &self,
        topic: &str,
        record: &Record,
        headers: &[(String, Vec<u8>)],
        shutdown: &CancellationToken,
    ) -> Result<()> {
        loop {
            let mut owned = OwnedHeaders::new_with_capacity(headers.len());
            for (name, value) in headers {
                owned = owned.insert(Header {
                    key: name,
                    value: Some(value),
                });
            }
            let mut future_record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(topic).headers(owned);
            if let Some(key) = &record.key {
                future_record = future_record.key(key.as_slice());
            }
            if let Some(payload) = &record.payload {
                future_record = future_record.payload(payload.as_slice());
            }
            let send = self.producer.send(future_record, Duration::from_secs(5));
            let error = tokio::select! {
                result = send => match result {
                    Ok(_) => return Ok(()),
                    Err((error, _)) => error,
                },
                _ = shutdown.cancelled() => return Err(Error::Shutdown { component: "dead-letter publisher" }),
            };
            tracing::warn!(topic, %error, "dead-letter publish failed; retrying");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(PUBLISH_RETRY_BACKOFF_MS)) => {}
                _ = shutdown.cancelled() => return Err(Error::Shutdown { component: "dead-letter publisher" }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    #[test]
    fn headers_keep_the_original_and_explain_the_failure() {
        // Proves a dead letter carries the original headers plus every herald-* header, and that an
        // earlier dead letter's herald-* headers are replaced rather than duplicated.
        let record = Record {
            topic: "user_activity".into(),
            partition: 2,
            offset: 41,
            timestamp_ms: None,
            key: Some(b"u1".to_vec()),
            payload: Some(b"{}".to_vec()),
            headers: vec![
                ("ce_id", b"abc".as_slice()),
                (HEADER_ATTEMPTS, b"9".as_slice()),
            ]
            .into_iter()
            .collect(),
        };
        let source = DeadLetterSource {
            consumer: "Users".into(),
            consumer_group: "g".into(),
        };
        let headers = dead_letter_headers(
            &record,
            &DeadLetterKind::Processing { attempts: 3 },
            "boom",
            &source,
        );
        assert_eq!(header(&headers, "ce_id"), Some("abc"));
        assert_eq!(header(&headers, HEADER_ERROR_REASON), Some("boom"));
        assert_eq!(header(&headers, HEADER_ERROR_KIND), Some("processing"));
        assert_eq!(header(&headers, HEADER_ATTEMPTS), Some("3"));
        assert_eq!(
            headers.iter().filter(|(n, _)| n == HEADER_ATTEMPTS).count(),
            1
        );
        assert_eq!(
            header(&headers, HEADER_ORIGINAL_TOPIC),
            Some("user_activity")
        );
        assert_eq!(header(&headers, HEADER_ORIGINAL_PARTITION), Some("2"));
        assert_eq!(header(&headers, HEADER_ORIGINAL_OFFSET), Some("41"));
        assert_eq!(header(&headers, HEADER_CONSUMER), Some("Users"));
        assert_eq!(header(&headers, HEADER_CONSUMER_GROUP), Some("g"));
    }

    #[test]
    fn long_reasons_are_cut_on_a_char_boundary() {
        // Proves truncation never splits a multi-byte character (which would panic on slicing).
        let reason = "é".repeat(REASON_BYTES_MAX);
        let cut = truncate(&reason, REASON_BYTES_MAX - 1);
        assert!(cut.len() < REASON_BYTES_MAX);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
