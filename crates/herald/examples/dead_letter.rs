//! Guarantee shown: NO MESSAGE IS LOST OR BLOCKS ITS PARTITION FOREVER — retries with backoff, then a
//! dead-letter topic.
//!
//! A message whose handler keeps failing is retried with exponential backoff; meanwhile only its own
//! partition waits (the others keep flowing). After `retry.max_attempts` attempts it is published to
//! `<topic>.dlq` with headers saying why (`herald-error-reason`, `herald-attempts`, the original
//! topic/partition/offset, the consumer and group), and only then is its offset committed. A record
//! that is not an event at all goes straight to the dead-letter topic.
//!
//! `cargo run -p herald --example dead_letter` (in-process broker unless `HERALD_BROKERS` is set).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use herald::consumer::{Consumer, ConsumerConfig, HandlerResult, Message, Runner};
use herald::envelope::Event;
use herald::middleware::retry::RetryPolicy;
use herald::producer::{Producer, ProducerConfig};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Headers, Message as _};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use tokio_util::sync::CancellationToken;

/// Refuses users called "mallory"; counts the good ones.
struct Welcomer {
    welcomed: AtomicUsize,
}

#[async_trait::async_trait]
impl Consumer for Welcomer {
    fn subscribes_to(&self) -> Vec<String> {
        vec!["signups".into()]
    }

    async fn process(&self, message: &Message) -> HandlerResult {
        let name = message.event.data["user"]["name"]
            .as_str()
            .unwrap_or_default();
        if name == "mallory" {
            println!("  attempt on {name} failed");
            return Err(format!("mail server rejected {name}").into());
        }
        println!("  welcomed {name}");
        self.welcomed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (brokers, _broker) = brokers().await?;
    let producer = Producer::new(ProducerConfig::new(brokers.clone()).source("signup-service"))?;
    for name in ["alice", "mallory", "bob"] {
        let event = Event::new(
            "user_created",
            &serde_json::json!({ "user": { "name": name } }),
        )?;
        producer.deliver("signups", &event).await?;
    }
    // Not an event at all: it never reaches the handler.
    let raw: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()?;
    raw.send(
        FutureRecord::<(), str>::to("signups").payload("<html>oops</html>"),
        Duration::from_secs(10),
    )
    .await
    .map_err(|(e, _)| e)?;

    let config = ConsumerConfig {
        brokers: brokers.clone(),
        group_id: Some("welcomer".into()),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff_ms: 200,
            max_backoff_ms: 2_000,
            multiplier: 2.0,
        },
        ..ConsumerConfig::default()
    };
    let welcomer = Arc::new(Welcomer {
        welcomed: AtomicUsize::new(0),
    });
    let stop = CancellationToken::new();
    let runner = tokio::spawn(
        Runner::new(config)
            .consumer(welcomer.clone())
            .run(stop.clone()),
    );

    // Read the two dead letters back.
    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "dead-letter-reader")
        .set("auto.offset.reset", "earliest")
        .create()?;
    reader.subscribe(&["signups.dlq"])?;
    let mut letters = 0;
    while letters < 2 {
        // The dead-letter topic is created by the first dead letter: until then reads fail.
        let Ok(letter) = tokio::time::timeout(Duration::from_secs(60), reader.recv()).await? else {
            continue;
        };
        letters += 1;
        println!("dead letter at signups.dlq offset {}:", letter.offset());
        for header in letter.headers().iter().flat_map(|h| h.iter()) {
            if header.key.starts_with("herald-") {
                println!(
                    "  {} = {}",
                    header.key,
                    String::from_utf8_lossy(header.value.unwrap_or_default())
                );
            }
        }
    }
    while welcomer.welcomed.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    runner.await??;
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
