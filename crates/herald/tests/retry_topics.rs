//! Retry topics against a real broker: a failing message leaves its partition for
//! `<topic>.retry.<n>`, comes back after a growing delay while later messages flow, ends in the
//! dead-letter topic after its last attempt, and survives a restart while it waits.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use herald::consumer::{Consumer, ConsumerConfig, HandlerResult, Message, Runner};
use herald::middleware::dead_letter as dl;
use herald::middleware::retry::RetryPolicy;
use herald::middleware::retry_topic::{RetryStrategy, HEADER_NOT_BEFORE};
use support::{eventually, produce_user, read_topic, unique, TestBroker, DEADLINE};
use tokio_util::sync::CancellationToken;

/// One delivery as the handler saw it.
#[derive(Debug, Clone)]
struct Delivery {
    name: String,
    topic: String,
    original_topic: String,
    at: Instant,
}

/// Records every delivery; fails the first `failures[name]` deliveries of a name (`u32::MAX`:
/// always). Chooses retry topics itself, as a consumer may.
#[derive(Default)]
struct Flaky {
    topic: String,
    failures: HashMap<String, u32>,
    deliveries: Mutex<Vec<Delivery>>,
}

impl Flaky {
    fn new(topic: &str, failures: &[(&str, u32)]) -> Arc<Self> {
        Arc::new(Flaky {
            topic: topic.to_string(),
            failures: failures.iter().map(|(n, f)| (n.to_string(), *f)).collect(),
            deliveries: Mutex::default(),
        })
    }

    fn of(&self, name: &str) -> Vec<Delivery> {
        let deliveries = self.deliveries.lock().unwrap();
        deliveries
            .iter()
            .filter(|d| d.name == name)
            .cloned()
            .collect()
    }

    fn all(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }
}

#[async_trait]
impl Consumer for Flaky {
    fn subscribes_to(&self) -> Vec<String> {
        vec![self.topic.clone()]
    }

    fn retry_strategy(&self) -> Option<RetryStrategy> {
        Some(RetryStrategy::Topics)
    }

    async fn process(&self, message: &Message) -> HandlerResult {
        let name = message.event.data["user"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let seen = {
            let mut deliveries = self.deliveries.lock().unwrap();
            deliveries.push(Delivery {
                name: name.clone(),
                topic: message.topic().to_string(),
                original_topic: message.original_topic().to_string(),
                at: Instant::now(),
            });
            deliveries.iter().filter(|d| d.name == name).count() as u32
        };
        if seen <= self.failures.get(&name).copied().unwrap_or(0) {
            return Err(format!("attempt {seen} of {name} fails").into());
        }
        Ok(())
    }
}

fn retry_config(broker: &TestBroker, initial_backoff_ms: u64, max_attempts: u32) -> ConsumerConfig {
    let mut config = broker.consumer_config(&unique("g"));
    config.retry = RetryPolicy {
        max_attempts,
        initial_backoff_ms,
        max_backoff_ms: 60_000,
        multiplier: 3.0,
    };
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_failing_twice_comes_back_with_growing_delays_while_its_partition_moves_on() {
    // Proves: three deliveries (original, retry.1, retry.2) at least 500 ms then 1,500 ms apart, and
    // every later message of the same partition processed before the first redelivery.
    let broker = TestBroker::start().await;
    let topic = unique("orders");
    broker.create_topic(&topic, 1).await;
    let producer = broker.producer();
    produce_user(&producer, &topic, 0, "flaky").await;
    for i in 0..5 {
        produce_user(&producer, &topic, 0, &format!("after-{i}")).await;
    }
    let flaky = Flaky::new(&topic, &[("flaky", 2)]);
    let shutdown = CancellationToken::new();
    let runner = tokio::spawn(
        Runner::new(retry_config(&broker, 500, 4))
            .consumer(flaky.clone())
            .run(shutdown.clone()),
    );
    assert!(eventually(DEADLINE, || async { flaky.of("flaky").len() == 3 }).await);

    let deliveries = flaky.of("flaky");
    let topics: Vec<&str> = deliveries.iter().map(|d| d.topic.as_str()).collect();
    let retry_1 = format!("{topic}.retry.1");
    let retry_2 = format!("{topic}.retry.2");
    assert_eq!(topics, [topic.as_str(), &retry_1, &retry_2]);
    assert!(deliveries.iter().all(|d| d.original_topic == topic));
    let first_delay = deliveries[1].at - deliveries[0].at;
    let second_delay = deliveries[2].at - deliveries[1].at;
    // The due time is wall-clock milliseconds: allow a few of rounding against Instant.
    assert!(first_delay >= Duration::from_millis(490), "{first_delay:?}");
    assert!(
        second_delay >= Duration::from_millis(1_490),
        "{second_delay:?}"
    );
    assert!(second_delay > first_delay);
    let later: Vec<Delivery> = flaky
        .all()
        .into_iter()
        .filter(|d| d.name.starts_with("after-"))
        .collect();
    assert_eq!(later.len(), 5, "{later:?}");
    assert!(
        later.iter().all(|d| d.at < deliveries[1].at),
        "later messages must not wait for the retry"
    );

    shutdown.cancel();
    runner.await.unwrap().unwrap();
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_failing_forever_ends_in_the_dead_letter_topic_with_its_headers() {
    // Proves: after max_attempts deliveries across the retry topics the dead letter names the
    // original topic, partition and offset, the attempts and the reason, and keeps the event headers.
    let broker = TestBroker::start().await;
    let topic = unique("orders");
    broker.create_topic(&topic, 2).await;
    let producer = broker.producer();
    produce_user(&producer, &topic, 1, "good").await;
    produce_user(&producer, &topic, 1, "bad").await;
    let flaky = Flaky::new(&topic, &[("bad", u32::MAX)]);
    let config = retry_config(&broker, 100, 3);
    let shutdown = CancellationToken::new();
    let runner = tokio::spawn(
        Runner::new(config.clone())
            .consumer(flaky.clone())
            .run(shutdown.clone()),
    );

    let dead = read_topic(&broker.brokers(), &format!("{topic}.dlq"), 1, 1).await;
    let letter = &dead[0];
    assert_eq!(letter.header(dl::HEADER_ERROR_KIND), Some("processing"));
    assert_eq!(letter.header(dl::HEADER_ATTEMPTS), Some("3"));
    assert_eq!(
        letter.header(dl::HEADER_ERROR_REASON),
        Some("attempt 3 of bad fails")
    );
    assert_eq!(
        letter.header(dl::HEADER_ORIGINAL_TOPIC),
        Some(topic.as_str())
    );
    assert_eq!(letter.header(dl::HEADER_ORIGINAL_PARTITION), Some("1"));
    assert_eq!(letter.header(dl::HEADER_ORIGINAL_OFFSET), Some("1"));
    assert_eq!(letter.header(dl::HEADER_CONSUMER), Some("Flaky"));
    assert_eq!(
        letter.header(dl::HEADER_CONSUMER_GROUP),
        config.group_id.as_deref()
    );
    assert_eq!(letter.header("ce_type"), Some("user_created"));
    assert_eq!(letter.header(HEADER_NOT_BEFORE), None);
    let topics: Vec<String> = flaky.of("bad").into_iter().map(|d| d.topic).collect();
    assert_eq!(
        topics,
        [
            topic.clone(),
            format!("{topic}.retry.1"),
            format!("{topic}.retry.2")
        ]
    );
    assert_eq!(flaky.of("good").len(), 1);

    shutdown.cancel();
    runner.await.unwrap().unwrap();
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_while_a_retry_waits_loses_nothing() {
    // Proves: a runner stopped while a message waits in its retry topic is redelivered it by the
    // next runner of the group, which processes it successfully; the original is not redone.
    let broker = TestBroker::start().await;
    let topic = unique("orders");
    broker.create_topic(&topic, 1).await;
    let producer = broker.producer();
    produce_user(&producer, &topic, 0, "flaky").await;
    produce_user(&producer, &topic, 0, "after").await;
    let flaky = Flaky::new(&topic, &[("flaky", 1)]);
    let config = retry_config(&broker, 3_000, 3);

    let shutdown = CancellationToken::new();
    let first = tokio::spawn(
        Runner::new(config.clone())
            .consumer(flaky.clone())
            .run(shutdown.clone()),
    );
    let retried = read_topic(&broker.brokers(), &format!("{topic}.retry.1"), 1, 1).await;
    assert!(retried[0].header(HEADER_NOT_BEFORE).is_some());
    assert!(eventually(DEADLINE, || async { flaky.of("after").len() == 1 }).await);
    shutdown.cancel();
    first.await.unwrap().unwrap();
    assert_eq!(
        flaky.of("flaky").len(),
        1,
        "stopped before the retry was due"
    );

    let shutdown = CancellationToken::new();
    let second = tokio::spawn(
        Runner::new(config)
            .consumer(flaky.clone())
            .run(shutdown.clone()),
    );
    assert!(eventually(DEADLINE, || async { flaky.of("flaky").len() == 2 }).await);
    let deliveries = flaky.of("flaky");
    assert_eq!(deliveries[1].topic, format!("{topic}.retry.1"));
    shutdown.cancel();
    second.await.unwrap().unwrap();
    assert_eq!(flaky.of("flaky").len(), 2, "the retry is processed once");
    assert_eq!(
        flaky.of("after").len(),
        1,
        "committed messages are not redone"
    );
    broker.stop().await;
}
