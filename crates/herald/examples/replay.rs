//! Guarantee shown: HISTORY IS REPLAYABLE — a new service can rebuild its table from the topic, and an
//! existing group can be rewound.
//!
//! Unlike Redis Pub/Sub, Kafka keeps the events. A consumer started with a *new group id* and
//! `start_from_beginning = true` (auto.offset.reset=earliest) reads every event ever retained and
//! rebuilds its own table. An existing group can be moved with `herald::admin::Admin::reset_offsets`
//! (earliest, latest, a timestamp or an offset) once its members are stopped; the admin refuses while
//! the group is live, because the members would overwrite the reset with their own commits.
//!
//! `cargo run -p herald --example replay` (in-process broker unless `HERALD_BROKERS` is set).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use herald::admin::{Admin, OffsetReset};
use herald::consumer::{Consumer, ConsumerConfig, HandlerResult, Message, Runner};
use herald::envelope::Event;
use herald::producer::{Producer, ProducerConfig};
use tokio_util::sync::CancellationToken;

const EVENTS: usize = 4;

/// Counts the users it has seen (stands in for "rebuild my table").
struct Directory {
    seen: AtomicUsize,
}

#[async_trait::async_trait]
impl Consumer for Directory {
    fn subscribes_to(&self) -> Vec<String> {
        vec!["user_activity".into()]
    }

    async fn process(&self, _message: &Message) -> HandlerResult {
        self.seen.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Runs a consumer in `group` until it has seen every event, then stops it.
async fn read_history(brokers: &str, group: &str) -> Result<usize, Box<dyn std::error::Error>> {
    let config = ConsumerConfig {
        brokers: brokers.to_string(),
        group_id: Some(group.to_string()),
        start_from_beginning: true,
        ..ConsumerConfig::default()
    };
    let directory = Arc::new(Directory {
        seen: AtomicUsize::new(0),
    });
    let stop = CancellationToken::new();
    let runner = tokio::spawn(
        Runner::new(config)
            .consumer(directory.clone())
            .run(stop.clone()),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while directory.seen.load(Ordering::SeqCst) < EVENTS && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    runner.await??;
    Ok(directory.seen.load(Ordering::SeqCst))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (brokers, _broker) = brokers().await?;
    let producer = Producer::new(ProducerConfig::new(brokers.clone()).source("users-service"))?;
    for i in 0..EVENTS {
        let event = Event::new(
            "user_created",
            &serde_json::json!({ "user": { "name": format!("user{i}") } }),
        )?;
        producer.deliver("user_activity", &event).await?;
    }
    let suffix = uuid::Uuid::new_v4().simple();

    // A service deployed today, with a new group id, still gets all past events.
    let group = format!("directory-{suffix}");
    println!(
        "new group {group} read {} events from the beginning",
        read_history(&brokers, &group).await?
    );

    // Rewind the same group to the start and read everything again.
    let admin = Admin::new(&brokers);
    let reset = admin
        .reset_offsets(&group, "user_activity", OffsetReset::Earliest)
        .await?;
    println!("reset {group} to {reset:?}");
    println!(
        "after the reset the group read {} events again",
        read_history(&brokers, &group).await?
    );
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
