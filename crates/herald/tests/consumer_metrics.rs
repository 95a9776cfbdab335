//! Metrics against a real broker, read through herald's Prometheus endpoint: processed, failed,
//! retried and dead-lettered counters, and the per-partition lag gauge.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use herald::consumer::{Consumer, HandlerResult, Message, Runner};
use support::{eventually, produce_raw, produce_user, unique, TestBroker, DEADLINE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Fails "flaky" once; blocks on "block" until released.
struct Handler {
    topic: String,
    flaked: AtomicBool,
    release: Notify,
}

#[async_trait]
impl Consumer for Handler {
    fn subscribes_to(&self) -> Vec<String> {
        vec![self.topic.clone()]
    }

    async fn process(&self, message: &Message) -> HandlerResult {
        match message.event.data["user"]["name"].as_str() {
            Some("flaky") if !self.flaked.swap(true, Ordering::SeqCst) => {
                Err("first time fails".into())
            }
            Some("block") => {
                self.release.notified().await;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

async fn scrape(address: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// The value of the first sample of `name` whose labels mention `topic`.
fn sample(text: &str, name: &str, topic: &str) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(topic))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_and_lag_are_exported() {
    // Proves: each outcome is counted under its herald_consumer_* name, and the lag gauge shows the
    // records behind the committed offset while a message is stuck, then drops to zero.
    let handle = herald::metrics::install_prometheus().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let stop_metrics = CancellationToken::new();
    let exporter = tokio::spawn(herald::metrics::serve_prometheus(
        listener,
        handle,
        stop_metrics.clone(),
    ));

    let broker = TestBroker::start().await;
    let topic = unique("users");
    broker.create_topic(&topic, 1).await;
    let producer = broker.producer();
    produce_user(&producer, &topic, 0, "flaky").await;
    produce_raw(&producer, &topic, 0, b"poison").await;
    produce_user(&producer, &topic, 0, "block").await;
    produce_user(&producer, &topic, 0, "after").await;
    produce_user(&producer, &topic, 0, "after2").await;

    let mut config = broker.consumer_config(&unique("g"));
    config
        .kafka
        .insert("statistics.interval.ms".into(), "200".into());
    let handler = Arc::new(Handler {
        topic: topic.clone(),
        flaked: AtomicBool::new(false),
        release: Notify::new(),
    });
    let stop = CancellationToken::new();
    let run = tokio::spawn(
        Runner::new(config)
            .consumer(handler.clone())
            .run(stop.clone()),
    );

    // Offsets 0 (flaky) and 1 (poison) are done, 2 (block) is stuck: 3 records behind.
    let lag_while_stuck = eventually(DEADLINE, || async {
        sample(&scrape(address).await, "herald_consumer_lag", &topic) == Some(3.0)
    })
    .await;
    assert!(lag_while_stuck, "{}", scrape(address).await);
    handler.release.notify_one();
    let drained = eventually(DEADLINE, || async {
        let text = scrape(address).await;
        sample(&text, "herald_consumer_lag", &topic) == Some(0.0)
            && sample(&text, "herald_consumer_processed_total", &topic) == Some(4.0)
    })
    .await;
    let text = scrape(address).await;
    assert!(drained, "{text}");
    assert_eq!(
        sample(&text, "herald_consumer_failed_total", &topic),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "herald_consumer_retried_total", &topic),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "herald_consumer_dead_lettered_total", &topic),
        Some(1.0),
        "{text}"
    );

    stop.cancel();
    run.await.unwrap().unwrap();
    stop_metrics.cancel();
    exporter.await.unwrap().unwrap();
    broker.stop().await;
}
