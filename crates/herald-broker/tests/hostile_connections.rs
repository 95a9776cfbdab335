//! Hostile connections: a slowloris frame that never completes is closed after the request read
//! timeout while a merely idle connection stays open, idle connections go after
//! `connections_max_idle`, oversized or negative size prefixes close before anything is allocated for
//! them (memory stays bounded with hundreds of huge declared frames), and a flood of raw connections
//! far above `max_connections` neither stops an established rdkafka client nor keeps new clients out
//! once it ends. Not here: malformed frame contents (`bad_frames.rs`).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{consume, create_topic, produce_each, producer_config, RawClient, TestBroker};
use futures::stream::{FuturesUnordered, StreamExt};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Short timeouts so that the tests run in well under a second each.
const READ_TIMEOUT: Duration = Duration::from_millis(300);
const FLOOD_CONNECTIONS: usize = 2_000;
const FLOOD_CONNECTIONS_MAX: usize = 32;
/// A connect to a listener whose backlog is full hangs in SYN retries; give up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A complete ApiVersions v3 request answers: the connection is open and served.
async fn assert_served(raw: &mut RawClient) {
    let response: ApiVersionsResponse = tokio::time::timeout(
        Duration::from_secs(10),
        raw.request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()),
    )
    .await
    .expect("no ApiVersions response");
    assert_eq!(response.error_code, 0);
}

/// Resident memory of this process (the broker runs in it), from /proc.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

// A size prefix that never completes, and a frame trickled a byte at a time, are both closed after the
// request read timeout; a connection that sends nothing at all stays open and is served afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_frames_time_out_but_idle_connections_do_not() {
    let broker = TestBroker::start_with(|c| c.request_read_timeout = READ_TIMEOUT).await;
    let mut idle = RawClient::connect(broker.addr()).await;
    let idle_since = Instant::now();

    let mut half_prefix = RawClient::connect(broker.addr()).await;
    let started = Instant::now();
    half_prefix.stream.write_all(&[0, 0]).await.unwrap();
    half_prefix.assert_closed().await;
    assert!(started.elapsed() >= READ_TIMEOUT - Duration::from_millis(50));

    // Bytes keep arriving, but the frame as a whole misses its deadline.
    let mut trickle = RawClient::connect(broker.addr()).await;
    trickle
        .stream
        .write_all(&100i32.to_be_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let closed_after = loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if trickle.stream.write_all(&[0]).await.is_err() {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "trickled frame never closed"
        );
    };
    assert!(
        closed_after >= READ_TIMEOUT,
        "closed after {closed_after:?}"
    );

    // Longer than the read timeout without a byte: idle is normal for Kafka clients.
    assert!(idle_since.elapsed() > READ_TIMEOUT + Duration::from_millis(100));
    assert_served(&mut idle).await;
}

// A connection idle for connections_max_idle is closed by the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_close_after_connections_max_idle() {
    let broker = TestBroker::start_with(|c| c.connections_max_idle = READ_TIMEOUT).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    assert_served(&mut raw).await;
    let started = Instant::now();
    raw.assert_closed().await;
    assert!(started.elapsed() >= READ_TIMEOUT - Duration::from_millis(50));
}

// Size prefixes above max_request_bytes (and negative ones) close at once; hundreds of connections
// declaring maximum-size frames they never send keep memory bounded (nothing is allocated up front).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_never_allocate() {
    const DECLARED_BYTES: i32 = 64 * 1024 * 1024;
    const CONNECTIONS: usize = 200;
    let broker = TestBroker::start_with(|c| c.max_request_bytes = DECLARED_BYTES as usize).await;
    for size in [DECLARED_BYTES + 1, i32::MAX, -1, i32::MIN] {
        let mut raw = RawClient::connect(broker.addr()).await;
        raw.stream.write_all(&size.to_be_bytes()).await.unwrap();
        raw.assert_closed().await;
    }

    let before = resident_bytes();
    let mut held = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut raw = RawClient::connect(broker.addr()).await;
        raw.stream
            .write_all(&DECLARED_BYTES.to_be_bytes())
            .await
            .unwrap();
        raw.stream.write_all(&[7u8; 1024]).await.unwrap();
        held.push(raw);
    }
    // The last connection is served (so every earlier one was read), and memory stayed small.
    let mut probe = RawClient::connect(broker.addr()).await;
    assert_served(&mut probe).await;
    let grown = resident_bytes().saturating_sub(before);
    let declared = CONNECTIONS as u64 * DECLARED_BYTES as u64;
    println!(
        "{CONNECTIONS} connections declared {declared} bytes; resident memory grew {grown} bytes"
    );
    assert!(
        grown < 128 * 1024 * 1024,
        "resident memory grew by {grown} bytes"
    );
}

// 2,000 raw connections against max_connections = 32: the established rdkafka producer keeps getting
// acknowledgements during the flood, and once the flood ends a new client connects and reads it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_flood_does_not_starve_a_served_client() {
    let broker = TestBroker::start_with(|c| c.max_connections = FLOOD_CONNECTIONS_MAX).await;
    create_topic(&broker.bootstrap(), "flood", 1, &[]).await;
    let producer: FutureProducer = producer_config(&broker.bootstrap())
        .set("linger.ms", "0")
        .create()
        .unwrap();
    let send = |value: String| {
        let producer = producer.clone();
        async move {
            let record = FutureRecord::<(), _>::to("flood")
                .partition(0)
                .payload(&value);
            producer
                .send(record, Duration::from_secs(20))
                .await
                .map_err(|(e, _)| e)
                .unwrap()
                .offset
        }
    };
    assert_eq!(send("before".to_string()).await, 0);

    let addr = broker.addr();
    let mut connects: FuturesUnordered<_> = (0..FLOOD_CONNECTIONS)
        .map(|_| tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)))
        .collect();
    let mut flood = Vec::new();
    while let Some(connected) = connects.next().await {
        if let Ok(Ok(stream)) = connected {
            flood.push(stream);
        }
    }
    println!(
        "flood: {} of {FLOOD_CONNECTIONS} connections established",
        flood.len()
    );
    // The rest wait in the kernel's queues or time out connecting; either way far above the cap.
    assert!(flood.len() > FLOOD_CONNECTIONS_MAX * 2, "flood too small");
    for i in 1..=20 {
        assert_eq!(send(format!("during-{i}")).await, i);
    }

    drop(flood);
    let read = consume(&broker.bootstrap(), "flood", 0, 21).await;
    assert_eq!(read[0], (0, "before".to_string()));
    assert_eq!(read[20], (20, "during-20".to_string()));
}

// Slowloris connections far above max_connections are each closed by the read timeout, freeing their
// permits, so a new client gets in while they keep coming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_flood_is_reaped() {
    const SLOW_CONNECTIONS: usize = 100;
    let broker = TestBroker::start_with(|c| {
        c.max_connections = 16;
        c.request_read_timeout = READ_TIMEOUT;
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..SLOW_CONNECTIONS {
        let mut raw = RawClient::connect(broker.addr()).await;
        raw.stream.write_all(&[0, 0, 0]).await.unwrap();
        slow.push(raw);
    }
    for raw in &mut slow {
        raw.assert_closed().await;
    }
    create_topic(&broker.bootstrap(), "after-slowloris", 1, &[]).await;
    let offsets = produce_each(&broker.bootstrap(), "after-slowloris", ["ok".to_string()]).await;
    assert_eq!(offsets, vec![0]);
}
