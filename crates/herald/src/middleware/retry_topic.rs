//! Retry topics: the second retry strategy, where a failing message leaves its partition instead of
//! holding it.
//!
//! With [`RetryStrategy::Topics`] a message whose handler fails is published to
//! `<topic>.retry.<n>` (`n` = attempts made so far) with a not-before time
//! ([`HEADER_NOT_BEFORE`]) and the `herald-error-*` headers, and its partition moves on at once. The
//! same runner also consumes the retry topics: a retry partition's worker waits until a record's
//! not-before time, then calls the handler again. Each level has one delay
//! ([`RetryPolicy::backoff`](super::retry::RetryPolicy::backoff) of its attempt count), so records
//! of one retry partition become due in the order they were written and waiting for the first one
//! never delays a later one. After `retry.max_attempts` failed attempts the message goes to the
//! original topic's dead-letter topic, with the original topic, partition and offset.
//!
//! **The cost:** a retried message is processed after messages that came after it, so per-key order
//! is not kept for retried messages (nor for the key's later messages relative to them). Handlers must
//! tolerate that (idempotent upserts with a version check, or the [`inbox`](crate::inbox) plus
//! commutative effects). The pausing strategy, which keeps every order, stays the default.
//!
//! This module is names, headers and the topic set; the partition worker does the publishing and
//! the waiting. Not here: the backoff math ([`super::retry`]) or dead letters ([`super::dead_letter`]).

use std::collections::HashSet;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use crate::consumer::Record;
use crate::error::{Error, Result};

/// When a retry record may be processed again, in milliseconds since the epoch.
pub const HEADER_NOT_BEFORE: &str = "herald-retry-not-before";
/// Deadline of the metadata and CreateTopics round trips made at start, in milliseconds.
const ADMIN_TIMEOUT_MS: u64 = 10_000;
/// Partitions of a retry topic whose original topic does not exist yet.
const RETRY_TOPIC_PARTITIONS_DEFAULT: i32 = 1;

pub use super::origin::{parse_retry_topic, retry_topic, Origin, RETRY_TOPIC_INFIX};
pub use crate::consumer::config::RetryStrategy;

/// The retry topics of one consumer: levels `1..max_attempts` of each topic it subscribes to.
#[derive(Debug, Clone, Default)]
pub struct RetryTopics {
    originals: HashSet<String>,
    levels: u32,
}

impl RetryTopics {
    /// Retry topics for `topics` when a message gets `max_attempts` attempts in all.
    pub fn new(topics: &[String], max_attempts: u32) -> Self {
        RetryTopics {
            originals: topics.iter().cloned().collect(),
            levels: max_attempts.saturating_sub(1),
        }
    }

    /// The retry topics of a consumer of `topics` that uses `strategy`, created if missing; `None`
    /// for the pausing strategy. `base` carries brokers and security.
    pub async fn for_strategy(
        strategy: RetryStrategy,
        topics: &[String],
        max_attempts: u32,
        base: &ClientConfig,
    ) -> Result<Option<Self>> {
        if strategy != RetryStrategy::Topics {
            return Ok(None);
        }
        let retry_topics = RetryTopics::new(topics, max_attempts);
        retry_topics.create(base).await?;
        Ok(Some(retry_topics))
    }

    /// Every retry topic name, level by level.
    pub fn names(&self) -> Vec<String> {
        let mut originals: Vec<&String> = self.originals.iter().collect();
        originals.sort();
        originals
            .into_iter()
            .flat_map(|topic| (1..=self.levels).map(move |level| retry_topic(topic, level)))
            .collect()
    }

    /// Attempts already made on a record of `topic`: its level for one of these retry topics,
    /// `None` for any other topic (an original one).
    pub fn level(&self, topic: &str) -> Option<u32> {
        let (original, level) = parse_retry_topic(topic)?;
        (level <= self.levels && self.originals.contains(original)).then_some(level)
    }

    /// Creates the retry topics that do not exist yet, each with as many partitions as its
    /// original topic (so retries are spread as widely); `base` carries brokers and security.
    pub async fn create(&self, base: &ClientConfig) -> Result<()> {
        if self.levels == 0 {
            return Ok(());
        }
        let mut config = ClientConfig::new();
        for (key, value) in base.config_map() {
            let keep = key == "bootstrap.servers"
                || key.starts_with("security.")
                || key.starts_with("sasl.")
                || key.starts_with("ssl.");
            if keep {
                config.set(key, value);
            }
        }
        let admin: AdminClient<DefaultClientContext> = config
            .create()
            .map_err(|e| Error::kafka("create admin client", e))?;
        let timeout = Duration::from_millis(ADMIN_TIMEOUT_MS);
        let mut originals: Vec<&String> = self.originals.iter().collect();
        originals.sort();
        let mut wanted = Vec::new();
        for original in originals {
            let partitions = partition_count(&admin, original, timeout).await?;
            for level in 1..=self.levels {
                wanted.push((retry_topic(original, level), partitions));
            }
        }
        let topics: Vec<NewTopic<'_>> = wanted
            .iter()
            // -1: the cluster's default replication factor (KIP-464), as for auto-created topics.
            .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(-1)))
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(timeout));
        let results = admin
            .create_topics(&topics, &options)
            .await
            .map_err(|e| Error::kafka("create retry topics", e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(Error::config(
                        "retry_strategy",
                        format!("cannot create retry topic {topic}: {code}"),
                    ))
                }
            }
        }
        Ok(())
    }
}

/// Partitions of `topic`, or the default when it does not exist (yet).
async fn partition_count(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    timeout: Duration,
) -> Result<i32> {
    let metadata = admin
        .inner()
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| Error::kafka("fetch metadata", e))?;
    let count = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len() as i32)
        .filter(|count| *count > 0);
    Ok(count.unwrap_or(RETRY_TOPIC_PARTITIONS_DEFAULT))
}

/// The not-before time of a retry record (ms since the epoch), if it has one.
pub fn not_before_ms(record: &Record) -> Option<i64> {
    let value = record.headers.get(HEADER_NOT_BEFORE)?;
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// How long from `now_ms` until `record` is due (zero when it has no not-before time or is due).
pub fn delay_until_due(record: &Record, now_ms: i64) -> Duration {
    let Some(due) = not_before_ms(record) else {
        return Duration::ZERO;
    };
    Duration::from_millis(due.saturating_sub(now_ms).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::origin::{
        HEADER_ORIGINAL_OFFSET, HEADER_ORIGINAL_PARTITION, HEADER_ORIGINAL_TOPIC,
    };

    fn record(topic: &str, headers: &[(&str, &str)]) -> Record {
        Record {
            topic: topic.into(),
            partition: 3,
            offset: 7,
            timestamp_ms: None,
            key: None,
            payload: None,
            headers: headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect(),
        }
    }

    #[test]
    fn retry_topic_names_round_trip_and_reject_lookalikes() {
        // Proves names parse back to (topic, level) and that level 0, no topic or no number is not a retry topic.
        assert_eq!(retry_topic("orders", 2), "orders.retry.2");
        assert_eq!(parse_retry_topic("orders.retry.2"), Some(("orders", 2)));
        assert_eq!(
            parse_retry_topic("a.retry.b.retry.1"),
            Some(("a.retry.b", 1))
        );
        for name in [
            "orders",
            "orders.retry.0",
            ".retry.1",
            "orders.retry.",
            "orders.retry.x",
        ] {
            assert_eq!(parse_retry_topic(name), None, "{name}");
        }
    }

    #[test]
    fn only_subscribed_topics_within_the_attempts_are_retry_topics() {
        // Proves the level lookup ignores foreign topics and levels beyond max_attempts - 1.
        let topics = RetryTopics::new(&["orders".to_string()], 3);
        assert_eq!(topics.names(), vec!["orders.retry.1", "orders.retry.2"]);
        assert_eq!(topics.level("orders.retry.2"), Some(2));
        assert_eq!(topics.level("orders.retry.3"), None);
        assert_eq!(topics.level("other.retry.1"), None);
        assert_eq!(topics.level("orders"), None);
        assert!(RetryTopics::new(&["orders".to_string()], 1)
            .names()
            .is_empty());
    }

    #[test]
    fn origin_and_due_time_come_from_the_headers_of_retry_records() {
        // Proves a retry record reports its original place and delay, and any other record its own.
        let retried = record(
            "orders.retry.1",
            &[
                (HEADER_ORIGINAL_TOPIC, "orders"),
                (HEADER_ORIGINAL_PARTITION, "1"),
                (HEADER_ORIGINAL_OFFSET, "42"),
                (HEADER_NOT_BEFORE, "10500"),
            ],
        );
        let origin = Origin::of(&retried);
        assert_eq!(
            (origin.topic, origin.partition, origin.offset),
            ("orders", 1, 42)
        );
        assert_eq!(
            delay_until_due(&retried, 10_000),
            Duration::from_millis(500)
        );
        assert_eq!(delay_until_due(&retried, 11_000), Duration::ZERO);
        let plain = record("orders", &[(HEADER_ORIGINAL_TOPIC, "elsewhere")]);
        assert_eq!(Origin::of(&plain).topic, "orders");
        assert_eq!(delay_until_due(&plain, 0), Duration::ZERO);
        assert_eq!("topics".parse::<RetryStrategy>(), Ok(RetryStrategy::Topics));
        assert!("sometimes".parse::<RetryStrategy>().is_err());
    }
}
