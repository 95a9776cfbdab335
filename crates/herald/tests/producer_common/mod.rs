//! Shared helpers for the producer and outbox tests (a module, not a test binary).
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use herald::envelope::ReceivedEvent;
use herald_broker::{Broker, BrokerConfig, BrokerHandle};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Starts a broker in `dir` on `listen` (port 0 for any free port).
pub async fn start_broker(dir: &Path, listen: SocketAddr) -> BrokerHandle {
    let mut config = BrokerConfig::for_tests(dir);
    config.listen = listen;
    Broker::start(config).await.unwrap()
}

/// Starts a broker in `dir` on a free loopback port.
pub async fn start_broker_any_port(dir: &Path) -> BrokerHandle {
    start_broker(dir, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Reads `count` events from partition 0 of `topic` from the beginning, with a manually assigned
/// consumer, within `timeout`.
pub async fn read_events(
    bootstrap_servers: &str,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Vec<ReceivedEvent> {
    let bootstrap_servers = bootstrap_servers.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap_servers)
            .set("group.id", "herald-producer-tests")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&assignment).unwrap();
        let deadline = Instant::now() + timeout;
        let mut events = Vec::with_capacity(count);
        while events.len() < count && Instant::now() < deadline {
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let message = message.unwrap();
                events.push(ReceivedEvent::from_message(&message).unwrap());
            }
        }
        events
    })
    .await
    .unwrap()
}

/// Polls `condition` every few milliseconds until it holds or `timeout` passes; returns whether it held.
pub async fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
