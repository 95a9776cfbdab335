//! `Producer::deliver_async` never blocks: it buffers while the broker is away, reports BufferFull,
//! and the buffer is delivered once the broker is back.
#![allow(clippy::unwrap_used)]

mod producer_common;
use producer_common as common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald::envelope::Event;
use herald::producer::{Producer, ProducerConfig};
use uuid::Uuid;

/// A generous bound on one deliver_async call; real figures come from the deliver example.
const CALL_LATENCY_MS_MAX: u128 = 5;

fn event(n: usize) -> Event {
    Event::new("user_created", &serde_json::json!({ "n": n }))
        .unwrap()
        .key(format!("user-{}", n % 7))
}

// While the broker is stopped deliver_async returns at once, BufferFull comes when the buffer is
// full, and everything buffered is delivered, once each and in order, after the broker restarts on
// the same address and data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffers_while_broker_down_then_delivers_everything() {
    const CAPACITY: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    let broker = common::start_broker_any_port(dir.path()).await;
    let address = broker.local_addr();
    broker.shutdown().await.unwrap();

    let producer = Producer::new(
        ProducerConfig::new(address.to_string())
            .buffer_capacity(CAPACITY)
            // Reconnect quickly once the broker is back, so the test does not wait on backoff.
            .set("reconnect.backoff.ms", "50")
            .set("reconnect.backoff.max.ms", "200"),
    )
    .unwrap();

    let mut ids = Vec::with_capacity(CAPACITY);
    let mut latencies = Vec::with_capacity(CAPACITY + 1);
    for n in 0..CAPACITY {
        let event = event(n);
        let started = Instant::now();
        producer.deliver_async("outage", &event).unwrap();
        latencies.push(started.elapsed());
        ids.push(event.event_id());
    }
    let started = Instant::now();
    let full = producer.deliver_async("outage", &event(CAPACITY));
    latencies.push(started.elapsed());
    assert!(
        matches!(full, Err(herald::Error::BufferFull { capacity: CAPACITY })),
        "{full:?}"
    );
    assert!(full.unwrap_err().is_retriable());
    // The 99th percentile, not the maximum: on a loaded 2-core machine any single call can be
    // preempted, while a call that waited on the network would be slow in every sample.
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    assert!(
        p99.as_millis() < CALL_LATENCY_MS_MAX,
        "p99 call latency {p99:?}"
    );
    // At least the messages: librdkafka also counts its pending connection-error events.
    assert!(producer.buffered() >= CAPACITY, "{}", producer.buffered());
    assert_eq!(producer.stats().buffer_full, 1);
    assert_eq!(producer.stats().delivered, 0);

    let broker = common::start_broker(dir.path(), address).await;
    producer.flush(Duration::from_secs(30)).await.unwrap();
    assert_eq!(producer.stats().delivered, CAPACITY as u64);
    assert_eq!(producer.stats().failed, 0);
    assert!(
        common::eventually(Duration::from_secs(5), || producer.buffered() == 0).await,
        "buffer drained"
    );

    let received = common::read_events(
        &broker.bootstrap_servers(),
        "outage",
        CAPACITY + 1,
        Duration::from_secs(3),
    )
    .await;
    let received: Vec<Uuid> = received.iter().map(|event| event.id).collect();
    assert_eq!(received, ids, "every event once, in the order sent");
    producer.close().await.unwrap();
    broker.shutdown().await.unwrap();
}

// Messages that outlive message.timeout.ms are counted as failed and handed to the handler with
// their event id and payload.
#[tokio::test]
async fn failures_reach_the_handler() {
    let dir = tempfile::tempdir().unwrap();
    let broker = common::start_broker_any_port(dir.path()).await;
    let address = broker.local_addr();
    broker.shutdown().await.unwrap();

    let failures = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&failures);
    let producer = Producer::new(
        ProducerConfig::new(address.to_string())
            .message_timeout(Duration::from_millis(300))
            .on_delivery_failure(move |failure| {
                seen.lock()
                    .unwrap()
                    .push((failure.event_id, failure.payload.clone()));
            }),
    )
    .unwrap();
    let events: Vec<Event> = (0..5).map(event).collect();
    for event in &events {
        producer.deliver_async("lost", event).unwrap();
    }
    let all_reported = common::eventually(Duration::from_secs(10), || {
        failures.lock().unwrap().len() == 5
    })
    .await;
    assert!(all_reported, "failures: {:?}", failures.lock().unwrap());
    assert_eq!(producer.stats().failed, 5);
    let reported: Vec<Option<Uuid>> = failures.lock().unwrap().iter().map(|f| f.0).collect();
    for event in &events {
        assert!(reported.contains(&Some(event.event_id())));
    }
    let payload = failures.lock().unwrap()[0].1.clone().unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&payload).is_ok());
}

// deliver (awaited) reports a delivery failure as an error instead of going to the handler.
#[tokio::test]
async fn deliver_returns_the_failure() {
    let producer = Producer::new(
        ProducerConfig::new("127.0.0.1:1").message_timeout(Duration::from_millis(200)),
    )
    .unwrap();
    let result = producer.deliver("nowhere", &event(0)).await;
    match result {
        Err(error @ herald::Error::Delivery { .. }) => assert!(error.is_retriable()),
        other => panic!("expected a Delivery error, got {other:?}"),
    }
    assert_eq!(producer.stats().failed, 1);
}

// Dropping the producer delivers what deliver_async buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_delivers_the_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let broker = common::start_broker_any_port(dir.path()).await;
    let producer = Producer::new(
        ProducerConfig::new(broker.bootstrap_servers()).linger(Duration::from_millis(50)),
    )
    .unwrap();
    let ids: Vec<Uuid> = (0..200)
        .map(|n| {
            let event = event(n);
            producer.deliver_async("dropped", &event).unwrap();
            event.event_id()
        })
        .collect();
    drop(producer);
    let received = common::read_events(
        &broker.bootstrap_servers(),
        "dropped",
        200,
        Duration::from_secs(20),
    )
    .await;
    let received: Vec<Uuid> = received.iter().map(|event| event.id).collect();
    assert_eq!(received, ids);
    broker.shutdown().await.unwrap();
}
