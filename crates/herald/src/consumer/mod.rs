//! The consumer framework: implement [`Consumer`], hand it to a [`Runner`], and herald does the rest.
//!
//! ```no_run
//! use herald::consumer::{Consumer, ConsumerConfig, HandlerResult, Message, Runner};
//!
//! struct UserCreatedConsumer;
//!
//! #[async_trait::async_trait]
//! impl Consumer for UserCreatedConsumer {
//!     fn subscribes_to(&self) -> Vec<String> {
//!         vec!["user_activity".into()]
//!     }
//!     async fn process(&self, message: &Message) -> HandlerResult {
//!         println!("{} {}", message.event.event_type, message.event.data);
//!         Ok(())
//!     }
//! }
//!
//! # async fn run() -> herald::Result<()> {
//! Runner::new(ConsumerConfig::load(None)?).consumer(UserCreatedConsumer).run_until_signal().await
//! # }
//! ```
//!
//! What the [`Runner`] guarantees: it joins the consumer group, processes partitions concurrently
//! (up to `concurrency`) while keeping each partition's order, and commits an offset only after the
//! message before it was processed successfully or dead-lettered — delivery is at least once. A
//! failing message is retried with exponential backoff while only its partition waits (or, with
//! `retry_strategy = "topics"`, through retry topics while its partition moves on: see
//! [`retry_topic`](crate::middleware::retry_topic)); after `retry.max_attempts` it goes to the
//! dead-letter topic. A record that is not a herald event never
//! reaches the handler: it goes straight to the dead-letter topic. For exactly-once *effects* wrap
//! the handler in the [`inbox`](crate::inbox).
//!
//! Not here: producing events ([`producer`](crate::producer)) and offset resets ([`admin`](crate::admin)).

pub(crate) mod config;
mod context;
mod headers;
mod runner;
mod shutdown;
mod worker;

use std::sync::Arc;

use async_trait::async_trait;

pub use config::{
    host_instance_name, ConsumerConfig, BATCH_SIZE_MAX, CONCURRENCY_MAX, INSTANCE_ID_BYTES_MAX,
};
pub use headers::Headers;
pub use runner::Runner;
pub use shutdown::shutdown_on_signal;

use crate::envelope::ReceivedEvent;
use config::RetryStrategy;

/// Any error a handler returns; `?` works with herald's, sqlx's, serde's and `anyhow` errors.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;
/// What handlers return: `Ok(())` commits, `Err` retries and eventually dead-letters.
pub type HandlerResult = Result<(), HandlerError>;

/// A Kafka record as it arrived, owned: kept for the dead-letter topic and for handlers that need
/// the raw bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Topic it came from (shared by every record of the topic, not copied per record).
    pub topic: Arc<str>,
    /// Partition it came from.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// Record timestamp in milliseconds since the epoch, if any.
    pub timestamp_ms: Option<i64>,
    /// Record key.
    pub key: Option<Vec<u8>>,
    /// Record value.
    pub payload: Option<Vec<u8>>,
    /// Every header, envelope headers included, in record order (null values as empty).
    pub headers: Headers,
}

/// One decoded event plus where it came from: what [`Consumer::process`] receives.
#[derive(Debug, Clone)]
pub struct Message {
    /// The decoded event (CloudEvents binary/structured or the Rails shape).
    pub event: ReceivedEvent,
    /// The raw record.
    pub record: Record,
    /// The consumer group processing it (the inbox keys its rows on it).
    pub consumer_group: Arc<str>,
}

impl Message {
    /// Topic it came from.
    pub fn topic(&self) -> &str {
        &self.record.topic
    }

    /// Partition it came from.
    pub fn partition(&self) -> i32 {
        self.record.partition
    }

    /// Its offset.
    pub fn offset(&self) -> i64 {
        self.record.offset
    }
}

/// A partition of a topic, as lifecycle hooks see them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
}

/// A service's handler for the events of some topics (Racecar's `Racecar::Consumer`).
///
/// Only [`subscribes_to`](Consumer::subscribes_to) and [`process`](Consumer::process) are required.
/// Handlers must be idempotent or use the [`inbox`](crate::inbox): delivery is at least once.
#[async_trait]
pub trait Consumer: Send + Sync + 'static {
    /// Topics to subscribe to.
    fn subscribes_to(&self) -> Vec<String>;

    /// Processes one message. `Ok` lets its offset be committed; `Err` retries it with backoff.
    async fn process(&self, message: &Message) -> HandlerResult;

    /// Processes a batch of messages from one partition, in order (used when `batch_size > 1`).
    /// `Err` means none of it took effect; herald then processes the messages one by one through
    /// [`process`](Consumer::process) so that a single bad message is isolated and dead-lettered.
    async fn process_batch(&self, batch: &[Message]) -> HandlerResult {
        for message in batch {
            self.process(message).await?;
        }
        Ok(())
    }

    /// Name used for logs, metrics, dead-letter headers and as the default group id.
    fn name(&self) -> String {
        let full = std::any::type_name::<Self>();
        full.rsplit("::").next().unwrap_or(full).to_string()
    }

    /// Group id for this consumer; `None` uses the config's `group_id`, then [`name`](Consumer::name).
    fn group_id(&self) -> Option<String> {
        None
    }

    /// Retry strategy for this consumer; `None` uses the config's `retry_strategy`.
    fn retry_strategy(&self) -> Option<RetryStrategy> {
        None
    }

    /// Called once before the group is joined.
    async fn on_start(&self) -> HandlerResult {
        Ok(())
    }

    /// Called after partitions were assigned to this member.
    async fn on_partitions_assigned(&self, _partitions: &[TopicPartition]) {}

    /// Called after partitions were taken away (their processed offsets are already committed).
    async fn on_partitions_revoked(&self, _partitions: &[TopicPartition]) {}

    /// Called once after the last message was processed and offsets were committed.
    async fn on_stop(&self) {}
}

#[async_trait]
impl<C: Consumer + ?Sized> Consumer for Arc<C> {
    fn subscribes_to(&self) -> Vec<String> {
        (**self).subscribes_to()
    }
    async fn process(&self, message: &Message) -> HandlerResult {
        (**self).process(message).await
    }
    async fn process_batch(&self, batch: &[Message]) -> HandlerResult {
        (**self).process_batch(batch).await
    }
    fn name(&self) -> String {
        (**self).name()
    }
    fn group_id(&self) -> Option<String> {
        (**self).group_id()
    }
    fn retry_strategy(&self) -> Option<RetryStrategy> {
        (**self).retry_strategy()
    }
    async fn on_start(&self) -> HandlerResult {
        (**self).on_start().await
    }
    async fn on_partitions_assigned(&self, partitions: &[TopicPartition]) {
        (**self).on_partitions_assigned(partitions).await
    }
    async fn on_partitions_revoked(&self, partitions: &[TopicPartition]) {
        (**self).on_partitions_revoked(partitions).await
    }
    async fn on_stop(&self) {
        (**self).on_stop().await
    }
}
