//! Guarantee shown: AT-LEAST-ONCE delivery with per-partition order.
//!
//! herald's runner commits a partition's offset only after `process` returned `Ok` for every message
//! before it (enable.auto.commit=false, enable.auto.offset.store=false). If the process dies mid-way,
//! the group's next member starts again after the last committed offset, so a message may be processed
//! twice but never skipped. Handlers must therefore be idempotent (or use the inbox: see `inbox.rs`).
//!
//! This is Racecar's `UserCreatedConsumer` in Rust. Run it with `cargo run -p herald --example
//! at_least_once`; it starts an in-process herald-broker unless `HERALD_BROKERS` names a cluster.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use herald::consumer::{Consumer, ConsumerConfig, HandlerResult, Message, Runner};
use herald::envelope::Event;
use herald::producer::{Producer, ProducerConfig};
use tokio_util::sync::CancellationToken;

const EVENTS: usize = 3;

/// `class UserCreatedConsumer < Racecar::Consumer; subscribes_to "user_activity"`.
struct UserCreatedConsumer {
    processed: AtomicUsize,
    done: CancellationToken,
}

#[async_trait::async_trait]
impl Consumer for UserCreatedConsumer {
    fn subscribes_to(&self) -> Vec<String> {
        vec!["user_activity".into()]
    }

    async fn process(&self, message: &Message) -> HandlerResult {
        // The event is already decoded: CloudEvents binary mode or the Rails {"name", "data"} shape.
        println!(
            "partition {} offset {}: {} {} {}",
            message.partition(),
            message.offset(),
            message.event.event_type,
            message.event.id,
            message.event.data
        );
        if self.processed.fetch_add(1, Ordering::SeqCst) + 1 == EVENTS {
            self.done.cancel(); // a real service runs until SIGTERM: Runner::run_until_signal
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (brokers, _broker) = brokers().await?;
    let producer = Producer::new(ProducerConfig::new(brokers.clone()).source("users-service"))?;
    for name in ["ada", "grace", "linus"] {
        let event = Event::new(
            "user_created",
            &serde_json::json!({ "user": { "name": name } }),
        )?
        .key(name);
        producer.deliver("user_activity", &event).await?;
    }

    let config = ConsumerConfig {
        brokers,
        group_id: Some("user-created-consumer".into()),
        ..ConsumerConfig::load(None)?
    };
    let done = CancellationToken::new();
    let consumer = Arc::new(UserCreatedConsumer {
        processed: AtomicUsize::new(0),
        done: done.clone(),
    });
    Runner::new(config).consumer(consumer).run(done).await?;
    println!("processed {EVENTS} events; offsets committed after each one succeeded");
    Ok(())
}

/// `HERALD_BROKERS`, or an in-process herald-broker in a temp dir (kept alive by the returned guard).
async fn brokers() -> Result<
    (
        String,
        Option<(herald_broker::BrokerHandle, tempfile::TempDir)>,
    ),
    Box<dyn std::error::Error>,
> {
    if let Ok(brokers) = std::env::var("HERALD_BROKERS") {
        return Ok((brokers, None));
    }
    let dir = tempfile::tempdir()?;
    let broker =
        herald_broker::Broker::start(herald_broker::BrokerConfig::for_tests(dir.path())).await?;
    Ok((broker.bootstrap_servers(), Some((broker, dir))))
}
