//! herald: event-driven microservices on Kafka, in Rust.
//!
//! - [`envelope`]: the event envelope (CloudEvents 1.0 in Kafka binary mode, plus the Rails shape).
//! - [`producer`]: `deliver` (await the broker's ack) and `deliver_async` (never blocks).
//! - [`outbox`]: the transactional outbox and its relay.
//! - [`consumer`]: a Racecar-class consumer framework: groups, batches, retries, dead letters.
//! - [`inbox`]: exactly-once effects on the service's own database.
//! - [`admin`]: replay and offset resets.
//!
//! herald talks to brokers only through rdkafka: the same code runs against herald-broker and against
//! a real Kafka cluster.

pub mod admin;
pub mod consumer;
pub mod db;
pub mod envelope;
pub mod error;
pub mod inbox;
pub mod metrics;
pub mod middleware;
pub mod outbox;
pub mod producer;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, Result};
