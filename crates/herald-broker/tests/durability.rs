//! Flush policies and shutdown: pipelined produces share fsyncs (group commit) and are answered in
//! order; data produced under `never` survives a clean restart (shutdown flushes); shutdown does not
//! wait for a long-polling fetch's max_wait.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{
    consume, create_topic, produce_each, record_batch, watermarks, RawClient, TestBroker,
};
use herald_broker::FlushPolicy;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, FetchRequest, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

const PIPELINED: usize = 20;

fn produce_request(value: &str) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("pipelined")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(record_batch(-1, -1, -1, &[value], 1_000)))])])
}

// Produce requests sent back to back on one connection are answered in order with consecutive
// offsets, and fewer fsyncs than requests cover them (group commit under the default policy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_produces_share_fsyncs() {
    let broker = TestBroker::start().await;
    assert_eq!(broker.config.flush, FlushPolicy::Always);
    create_topic(&broker.bootstrap(), "pipelined", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    for i in 0..PIPELINED {
        raw.send(ApiKey::Produce, 9, &produce_request(&format!("v{i}")))
            .await;
    }
    for i in 0..PIPELINED {
        let response: ProduceResponse =
            raw.receive_in_order(ApiKey::Produce, 9, i as i32 + 1).await;
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!((partition.error_code, partition.base_offset), (0, i as i64));
    }
    let state = broker.handle.as_ref().unwrap().state();
    let partition = state.topics.get("pipelined").unwrap().partition(0).unwrap();
    let fsyncs = partition.fsync_count();
    assert!(
        fsyncs >= 1 && fsyncs < PIPELINED as u64,
        "{fsyncs} fsyncs for {PIPELINED} produces"
    );
}

// With flush=never nothing is fsynced per produce, but a clean shutdown flushes every log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_policy_data_survives_clean_restart() {
    let mut broker = TestBroker::start_with(|c| c.flush = FlushPolicy::Never).await;
    create_topic(&broker.bootstrap(), "lazy", 1, &[]).await;
    produce_each(
        &broker.bootstrap(),
        "lazy",
        (0..5).map(|i| format!("lazy-{i}")),
    )
    .await;
    broker.restart().await;
    assert_eq!(watermarks(&broker.bootstrap(), "lazy", 0).await, (0, 5));
    assert_eq!(
        consume(&broker.bootstrap(), "lazy", 4, 1).await,
        vec![(4, "lazy-4".to_string())]
    );
}

// The interval policy acknowledges produces and its background flusher keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_policy_round_trips() {
    let broker =
        TestBroker::start_with(|c| c.flush = FlushPolicy::Interval(Duration::from_millis(20)))
            .await;
    create_topic(&broker.bootstrap(), "periodic", 1, &[]).await;
    let offsets = produce_each(
        &broker.bootstrap(),
        "periodic",
        (0..3).map(|i| format!("p{i}")),
    )
    .await;
    assert_eq!(offsets, vec![0, 1, 2]);
    assert_eq!(
        consume(&broker.bootstrap(), "periodic", 0, 3).await[2],
        (2, "p2".to_string())
    );
}

// Shutdown answers a fetch that is long-polling with a 60 s max_wait instead of waiting for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_long_polls() {
    let mut broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "quiet", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(60_000)
        .with_min_bytes(1)
        .with_max_bytes(1024)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("quiet")))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1024)])]);
    raw.send(ApiKey::Fetch, 12, &request).await;
    // The fetch is parked once the broker has read it; any later request on another connection
    // proves the broker is past accepting it, and the parked fetch must not delay shutdown.
    let _ = watermarks(&broker.bootstrap(), "quiet", 0).await;
    let started = Instant::now();
    broker.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "shutdown took {:?}",
        started.elapsed()
    );
    // The in-flight fetch was finished (answered, empty), not dropped.
    assert!(
        raw.read_frame().await.is_some(),
        "the parked fetch got its response"
    );
}
