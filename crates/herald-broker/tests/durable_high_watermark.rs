//! Under `--flush always` consumers are served only what is fsynced (the durable high watermark):
//! while an fsync is held back, a fetch sees neither the record nor a high watermark above it, and
//! ListOffsets(latest) stays below it; once the fsync completes, both move. Under `--flush never`
//! records are served at append.
#![allow(clippy::unwrap_used)]

mod common;

use common::{create_topic, raw_produce, record_batch, RawClient, TestBroker};
use herald_broker::FlushPolicy;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// Fetches partition 0 of `topic` from 0: (high watermark, whether records came back).
async fn fetch(raw: &mut RawClient, topic: &str, max_wait_ms: i32) -> (i64, bool) {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let response: FetchResponse = raw.request(ApiKey::Fetch, 12, &request).await;
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    let has_records = partition.records.as_ref().is_some_and(|r| !r.is_empty());
    (partition.high_watermark, has_records)
}

async fn latest(raw: &mut RawClient, topic: &str) -> i64 {
    list_offset(raw, topic, -1).await
}

async fn earliest(raw: &mut RawClient, topic: &str) -> i64 {
    list_offset(raw, topic, -2).await
}

async fn list_offset(raw: &mut RawClient, topic: &str, timestamp: i64) -> i64 {
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(timestamp)])]);
    let response: ListOffsetsResponse = raw.request(ApiKey::ListOffsets, 7, &request).await;
    response.topics[0].partitions[0].offset
}

// With its fsync held back, an appended record is not served and not counted in the high
// watermark; the producer's ack waits too. Releasing the fsync serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_unsynced_is_served_under_flush_always() {
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "durable", 1, &[]).await;
    let partition = broker
        .handle
        .as_ref()
        .unwrap()
        .state()
        .topics
        .get("durable")
        .unwrap()
        .partition(0)
        .unwrap();
    let held = partition.hold_fsyncs().await;
    let addr = broker.addr();
    let producer = tokio::spawn(async move {
        let mut raw = RawClient::connect(addr).await;
        raw_produce(
            &mut raw,
            "durable",
            0,
            record_batch(-1, -1, -1, &["a"], 1_000),
        )
        .await
    });
    let mut consumer = RawClient::connect(broker.addr()).await;
    common::eventually("the record is appended", || {
        let partition = partition.clone();
        async move { (partition.log_end_offset() == 1).then_some(()) }
    })
    .await;
    assert_eq!(fetch(&mut consumer, "durable", 200).await, (0, false));
    assert_eq!(latest(&mut consumer, "durable").await, 0);
    // The earliest offset is the log start, high watermark or not (a consumer starting from the
    // beginning of an empty partition must get 0, not -1).
    assert_eq!(earliest(&mut consumer, "durable").await, 0);
    assert!(!producer.is_finished(), "the ack waits for the fsync");

    drop(held);
    let acked = producer.await.unwrap();
    assert_eq!((acked.error_code, acked.base_offset), (0, 0));
    assert_eq!(fetch(&mut consumer, "durable", 5_000).await, (1, true));
    assert_eq!(latest(&mut consumer, "durable").await, 1);
}

// Under --flush never the high watermark is the log end: a record is served at append.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_served_at_append_under_flush_never() {
    let broker = TestBroker::start_with(|c| c.flush = FlushPolicy::Never).await;
    create_topic(&broker.bootstrap(), "fast", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    raw_produce(&mut raw, "fast", 0, record_batch(-1, -1, -1, &["a"], 1_000)).await;
    assert_eq!(fetch(&mut raw, "fast", 5_000).await, (1, true));
}
