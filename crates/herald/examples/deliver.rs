//! Guarantee shown: `deliver` returns only once the broker has stored the event (acks=all,
//! idempotent producer), with its partition and offset; `deliver_async` never blocks the caller,
//! not even while the broker is down: it buffers (bounded) and fails fast with `BufferFull`
//! instead of waiting, and what it buffered is delivered once the broker is back.
//!
//! Run: `cargo run -p herald --release --example deliver` (starts an in-process herald-broker), or
//! against a running broker: `HERALD_BROKERS=127.0.0.1:9092 cargo run -p herald --release --example
//! deliver` (the outage part is skipped then). Prints deliver_async call latencies and throughput.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use herald::envelope::Event;
use herald::producer::{Producer, ProducerConfig};
use herald_broker::{Broker, BrokerConfig, BrokerHandle};
use serde::Serialize;

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Events in the latency run.
const EVENTS: usize = 100_000;
/// Events buffered during the simulated outage.
const OUTAGE_EVENTS: usize = 1_000;

#[derive(Serialize)]
struct UserCreated {
    id: u64,
    email: String,
}

fn user_created(id: u64) -> AnyResult<Event> {
    let user = UserCreated {
        id,
        email: format!("user{id}@example.com"),
    };
    Ok(Event::new("user_created", &user)?.key(user.id))
}

async fn start_broker(dir: &std::path::Path, listen: SocketAddr) -> AnyResult<BrokerHandle> {
    let mut config = BrokerConfig::for_tests(dir);
    config.listen = listen;
    Ok(Broker::start(config).await?)
}

/// Percentile of sorted samples.
fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    sorted
        .get((sorted.len() * pct / 100).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// Times `EVENTS` deliver_async calls, then how long until the broker acknowledged them all.
async fn measure_deliver_async(producer: &Producer) -> AnyResult<()> {
    let mut latencies = Vec::with_capacity(EVENTS);
    let started = Instant::now();
    for id in 1..=EVENTS as u64 {
        let event = user_created(id)?;
        let call = Instant::now();
        match producer.deliver_async("user_activity", &event) {
            Ok(()) => {}
            // The buffer is full: back off briefly instead of blocking inside herald.
            Err(herald::Error::BufferFull { .. }) => {
                producer.flush(Duration::from_millis(10)).await.ok();
                producer.deliver_async("user_activity", &event)?;
            }
            Err(error) => return Err(error.into()),
        }
        latencies.push(call.elapsed());
    }
    let enqueued = started.elapsed();
    producer.flush(Duration::from_secs(60)).await?;
    let delivered = started.elapsed();
    latencies.sort();
    println!(
        "deliver_async x{EVENTS}: p50 {:?}, p99 {:?}, max {:?} per call; all enqueued in {:?}, \
         all acknowledged in {:?} ({:.0} events/s)",
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies.last().copied().unwrap_or_default(),
        enqueued,
        delivered,
        EVENTS as f64 / delivered.as_secs_f64()
    );
    Ok(())
}

/// Stops the broker, keeps calling deliver_async, restarts it and waits for the backlog.
async fn survive_outage(
    producer: &Producer,
    running: BrokerHandle,
    dir: &std::path::Path,
) -> AnyResult<BrokerHandle> {
    let address = running.local_addr();
    running.shutdown().await?;
    let mut slowest = Duration::ZERO;
    for id in 0..OUTAGE_EVENTS as u64 {
        let event = user_created(1_000_000 + id)?;
        let call = Instant::now();
        producer.deliver_async("user_activity", &event)?;
        slowest = slowest.max(call.elapsed());
    }
    println!("broker down: {OUTAGE_EVENTS} deliver_async calls, slowest {slowest:?}");
    let restarted = Instant::now();
    let broker = start_broker(dir, address).await?;
    producer.flush(Duration::from_secs(60)).await?;
    println!(
        "broker back: buffered events delivered {:?} after restart",
        restarted.elapsed()
    );
    Ok(broker)
}

#[tokio::main]
async fn main() -> AnyResult<()> {
    let dir = tempfile::tempdir()?;
    let (mut broker, brokers) = match std::env::var("HERALD_BROKERS") {
        Ok(brokers) => (None, brokers),
        Err(_) => {
            let broker = start_broker(dir.path(), SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            let brokers = broker.bootstrap_servers();
            (Some(broker), brokers)
        }
    };
    let producer = Producer::new(
        ProducerConfig::new(&brokers)
            .source("users-service")
            .set("reconnect.backoff.max.ms", "200"),
    )?;

    // 1. deliver: awaited, returns where the broker stored the event.
    let delivery = producer.deliver("user_activity", &user_created(0)?).await?;
    println!(
        "deliver: stored at partition {} offset {}",
        delivery.partition, delivery.offset
    );
    // 2. deliver_async: each call only copies the event into librdkafka's buffer.
    measure_deliver_async(&producer).await?;
    // 3. An outage (in-process broker only): deliver_async keeps returning at once.
    if let Some(running) = broker.take() {
        broker = Some(survive_outage(&producer, running, dir.path()).await?);
    }

    let stats = producer.stats();
    println!(
        "delivered {}, failed {}, refused (buffer full) {}",
        stats.delivered, stats.failed, stats.buffer_full
    );
    producer.close().await?;
    if let Some(broker) = broker {
        broker.shutdown().await?;
    }
    Ok(())
}
