//! Retries and dead letters against a real broker: a failing message is retried with backoff while
//! another partition keeps flowing, then dead-lettered with explanatory headers; an undecodable record
//! goes straight to the dead-letter topic.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use herald::consumer::{Consumer, HandlerResult, Message, Runner};
use herald::middleware::dead_letter as dl;
use herald::middleware::retry::RetryPolicy;
use support::{eventually, produce_raw, produce_user, read_topic, unique, TestBroker, DEADLINE};
use tokio_util::sync::CancellationToken;

/// Records every attempt; fails every attempt on the user called "bad".
#[derive(Default)]
struct Recorder {
    attempts: Mutex<Vec<(String, i32, Instant)>>,
    topic: String,
}

impl Recorder {
    fn attempts_of(&self, name: &str) -> Vec<Instant> {
        let attempts = self.attempts.lock().unwrap();
        attempts
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, _, at)| *at)
            .collect()
    }

    fn names(&self, partition: i32) -> Vec<String> {
        let attempts = self.attempts.lock().unwrap();
        attempts
            .iter()
            .filter(|(_, p, _)| *p == partition)
            .map(|(n, _, _)| n.clone())
            .collect()
    }
}

#[async_trait]
impl Consumer for Recorder {
    fn subscribes_to(&self) -> Vec<String> {
        vec![self.topic.clone()]
    }

    async fn process(&self, message: &Message) -> HandlerResult {
        let name = message.event.data["user"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.attempts
            .lock()
            .unwrap()
            .push((name.clone(), message.partition(), Instant::now()));
        if name == "bad" {
            return Err("database says no".into());
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_message_is_retried_then_dead_lettered_while_other_partitions_flow() {
    // Proves: 3 attempts with growing backoff, partition 1 processed during partition 0's backoff,
    // the dead letter carries the original plus herald-* headers, and partition 0 then moves on.
    let broker = TestBroker::start().await;
    let topic = unique("users");
    broker.create_topic(&topic, 2).await;
    let producer = broker.producer();
    produce_user(&producer, &topic, 0, "bad").await;
    produce_user(&producer, &topic, 0, "after-bad").await;

    let recorder = Arc::new(Recorder {
        topic: topic.clone(),
        ..Recorder::default()
    });
    let mut config = broker.consumer_config(&unique("g"));
    config.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff_ms: 1_500,
        max_backoff_ms: 10_000,
        multiplier: 2.0,
    };
    let shutdown = CancellationToken::new();
    let runner = tokio::spawn(
        Runner::new(config.clone())
            .consumer(recorder.clone())
            .run(shutdown.clone()),
    );

    assert!(
        eventually(DEADLINE, || async {
            !recorder.attempts_of("bad").is_empty()
        })
        .await
    );
    // Partition 0 is now waiting to retry; partition 1 must keep flowing meanwhile.
    for i in 0..5 {
        produce_user(&producer, &topic, 1, &format!("p1-{i}")).await;
    }
    assert!(
        eventually(DEADLINE, || async {
            recorder.names(0).contains(&"after-bad".to_string())
        })
        .await
    );

    let bad = recorder.attempts_of("bad");
    assert_eq!(bad.len(), 3, "attempts: {bad:?}");
    assert!(
        bad[1] - bad[0] >= Duration::from_millis(1_400),
        "first backoff {:?}",
        bad[1] - bad[0]
    );
    assert!(
        bad[2] - bad[1] >= Duration::from_millis(2_900),
        "second backoff {:?}",
        bad[2] - bad[1]
    );
    {
        let attempts = recorder.attempts.lock().unwrap();
        let flowed = attempts
            .iter()
            .filter(|(n, _, at)| n.starts_with("p1-") && *at < bad[2])
            .count();
        assert_eq!(
            flowed, 5,
            "partition 1 must be processed while partition 0 waits"
        );
    }
    assert_eq!(recorder.names(0), vec!["bad", "bad", "bad", "after-bad"]);

    let dead = read_topic(&broker.brokers(), &format!("{topic}.dlq"), 1, 1).await;
    let letter = &dead[0];
    assert_eq!(
        letter.header(dl::HEADER_ERROR_REASON),
        Some("database says no")
    );
    assert_eq!(letter.header(dl::HEADER_ERROR_KIND), Some("processing"));
    assert_eq!(letter.header(dl::HEADER_ATTEMPTS), Some("3"));
    assert_eq!(
        letter.header(dl::HEADER_ORIGINAL_TOPIC),
        Some(topic.as_str())
    );
    assert_eq!(letter.header(dl::HEADER_ORIGINAL_PARTITION), Some("0"));
    assert_eq!(letter.header(dl::HEADER_ORIGINAL_OFFSET), Some("0"));
    assert_eq!(
        letter.header(dl::HEADER_CONSUMER_GROUP),
        config.group_id.as_deref()
    );
    assert_eq!(letter.header(dl::HEADER_CONSUMER), Some("Recorder"));
    assert_eq!(
        letter.header("ce_type"),
        Some("user_created"),
        "original headers are kept"
    );

    shutdown.cancel();
    runner.await.unwrap().unwrap();
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_record_goes_straight_to_the_dead_letter_topic() {
    // Proves: a record that is no event never reaches the handler, is dead-lettered once with the
    // decode reason, and the partition continues with the next record.
    let broker = TestBroker::start().await;
    let topic = unique("users");
    broker.create_topic(&topic, 1).await;
    let producer = broker.producer();
    produce_raw(&producer, &topic, 0, b"definitely not json").await;
    produce_user(&producer, &topic, 0, "good").await;

    let recorder = Arc::new(Recorder {
        topic: topic.clone(),
        ..Recorder::default()
    });
    let config = broker.consumer_config(&unique("g"));
    let shutdown = CancellationToken::new();
    let runner = tokio::spawn(
        Runner::new(config)
            .consumer(recorder.clone())
            .run(shutdown.clone()),
    );
    assert!(eventually(DEADLINE, || async { !recorder.names(0).is_empty() }).await);
    assert_eq!(recorder.names(0), vec!["good"]);

    let dead = read_topic(&broker.brokers(), &format!("{topic}.dlq"), 1, 1).await;
    let letter = &dead[0];
    assert_eq!(letter.payload, b"definitely not json");
    assert_eq!(letter.header(dl::HEADER_ERROR_KIND), Some("decode"));
    assert_eq!(letter.header(dl::HEADER_ATTEMPTS), Some("0"));
    assert_eq!(letter.header(dl::HEADER_ORIGINAL_OFFSET), Some("0"));
    assert!(
        letter
            .header(dl::HEADER_ERROR_REASON)
            .unwrap()
            .contains("JSON"),
        "{letter:?}"
    );
    assert_eq!(letter.header("x-test"), Some("1"));

    shutdown.cancel();
    runner.await.unwrap().unwrap();
    broker.stop().await;
}
