//! Produce and fetch round trips through librdkafka: an idempotent acks=all producer in every
//! compression codec, read back by a manually assigned consumer with keys, values, headers and
//! timestamps intact and in order.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{consumer_config, create_topic, producer_config, TestBroker};
use futures::future::join_all;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const RECORDS: i64 = 300;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Produces `RECORDS` keyed records with headers and explicit timestamps; returns their offsets.
pub async fn produce_records(
    bootstrap: &str,
    topic: &str,
    codec: &str,
    base_timestamp: i64,
) -> Vec<i64> {
    let producer: FutureProducer = producer_config(bootstrap)
        .set("compression.type", codec)
        .create()
        .unwrap();
    let sends = (0..RECORDS).map(|i| {
        let (key, value, header) = (
            format!("key-{i}"),
            format!("value-{i}-{codec}"),
            format!("h-{i}"),
        );
        let producer = producer.clone();
        let topic = topic.to_string();
        async move {
            let record = FutureRecord::to(&topic)
                .partition(0)
                .key(&key)
                .payload(&value)
                .timestamp(base_timestamp + i)
                .headers(OwnedHeaders::new().insert(Header {
                    key: "trace",
                    value: Some(&header),
                }));
            producer.send(record, Duration::from_secs(20)).await
        }
    });
    join_all(sends)
        .await
        .into_iter()
        .map(|r| r.map_err(|(e, _)| e).unwrap().offset)
        .collect()
}

/// Reads `count` records of partition 0 from offset 0 and checks each one.
pub async fn consume_and_check(bootstrap: &str, topic: &str, codec: &str, base_timestamp: i64) {
    let consumer: StreamConsumer = consumer_config(bootstrap).create().unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    for i in 0..RECORDS {
        let message = tokio::time::timeout(common::DEADLINE, consumer.recv())
            .await
            .expect("timed out consuming")
            .unwrap();
        assert_eq!(message.offset(), i);
        assert_eq!(message.key(), Some(format!("key-{i}").as_bytes()));
        assert_eq!(
            message.payload(),
            Some(format!("value-{i}-{codec}").as_bytes())
        );
        assert_eq!(message.timestamp().to_millis(), Some(base_timestamp + i));
        let headers = message.headers().unwrap();
        let header = headers.get(0);
        assert_eq!(header.key, "trace");
        assert_eq!(header.value, Some(format!("h-{i}").as_bytes()));
    }
}

async fn round_trip(codec: &str) {
    let broker = TestBroker::start().await;
    let topic = format!("round-trip-{codec}");
    create_topic(&broker.bootstrap(), &topic, 1, &[]).await;
    let base_timestamp = now_ms() - 60_000;
    let mut offsets = produce_records(&broker.bootstrap(), &topic, codec, base_timestamp).await;
    offsets.sort_unstable();
    assert_eq!(offsets, (0..RECORDS).collect::<Vec<_>>());
    consume_and_check(&broker.bootstrap(), &topic, codec, base_timestamp).await;
}

// Uncompressed batches round-trip with keys, values, headers and timestamps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_uncompressed() {
    round_trip("none").await;
}

// gzip batches are stored verbatim and decompressed by the consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_gzip() {
    round_trip("gzip").await;
}

// snappy batches round-trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_snappy() {
    round_trip("snappy").await;
}

// lz4 batches round-trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_lz4() {
    round_trip("lz4").await;
}

// zstd batches round-trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_zstd() {
    round_trip("zstd").await;
}

// A fetch at the log end waits (long poll) and returns as soon as a record is appended, well before
// its max_wait_ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_returns_when_data_arrives() {
    use common::{raw_produce, record_batch, RawClient};
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;

    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "late", 1, &[]).await;
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(20_000)
        .with_min_bytes(1)
        .with_max_bytes(1024 * 1024)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("late")))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1024 * 1024)])]);
    let mut fetcher = RawClient::connect(broker.addr()).await;
    let started = std::time::Instant::now();
    fetcher.send(ApiKey::Fetch, 12, &request).await;
    let mut producer = RawClient::connect(broker.addr()).await;
    let appended = raw_produce(
        &mut producer,
        "late",
        0,
        record_batch(-1, -1, -1, &["arrived"], 1_000),
    )
    .await;
    assert_eq!(appended.error_code, 0);
    let response: FetchResponse = fetcher.receive(ApiKey::Fetch, 12).await;
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.high_watermark, 1);
    assert!(
        partition.records.as_ref().is_some_and(|r| !r.is_empty()),
        "woke with the new batch"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "answered on append, not at the deadline"
    );
}
