//! Fetch size limits as Kafka applies them (KIP-74), seen by real clients: the response stays within
//! `fetch.max.bytes` except for the first batch of the first partition with data, and each partition
//! within `max.partition.fetch.bytes` except for that same batch. librdkafka discards a response larger
//! than it allowed ("Invalid response size"), so a broker that overshoots leaves consumers stuck.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{create_topic, producer_config, RawClient, TestBroker, DEADLINE};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

/// As in librdkafka's test 0082: records just under 1 MB, so that one batch holds one record.
const LARGE_RECORD_BYTES: usize = 900 * 1024;
const FETCH_MAX_BYTES: usize = 1_000_000;
const PARTITIONS: i32 = 3;
const RECORDS_PER_PARTITION: usize = 2;

/// Produces `count` records of `size` bytes to each partition, one batch per record (each send is
/// awaited before the next, linger 0).
async fn produce_sized(bootstrap: &str, topic: &str, partitions: i32, count: usize, size: usize) {
    let producer: FutureProducer = producer_config(bootstrap)
        .set("linger.ms", "0")
        .set("message.max.bytes", "2000000")
        .create()
        .unwrap();
    let payload = vec![b'x'; size];
    for partition in 0..partitions {
        for _ in 0..count {
            let record = FutureRecord::<(), _>::to(topic)
                .partition(partition)
                .payload(&payload);
            producer
                .send(record, Duration::from_secs(20))
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
    }
}

// librdkafka's 0082 scenario: three partitions of ~900 KiB records, fetch.max.bytes 1 MB and a 20 MB
// per-partition limit; the consumer gets every record (each response holds one large batch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_with_small_fetch_max_bytes_reads_large_records_of_every_partition() {
    let broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "large", PARTITIONS, &[]).await;
    produce_sized(
        &bootstrap,
        "large",
        PARTITIONS,
        RECORDS_PER_PARTITION,
        LARGE_RECORD_BYTES,
    )
    .await;

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "fetch-limits")
        .set("enable.auto.commit", "false")
        .set("max.partition.fetch.bytes", "20000000")
        .set("fetch.max.bytes", FETCH_MAX_BYTES.to_string())
        // What librdkafka accepts as the smallest frame for this fetch.max.bytes.
        .set(
            "receive.message.max.bytes",
            (FETCH_MAX_BYTES + 512).to_string(),
        )
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset("large", partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut per_partition: BTreeMap<i32, usize> = BTreeMap::new();
    let wanted = PARTITIONS as usize * RECORDS_PER_PARTITION;
    for _ in 0..wanted {
        let message = tokio::time::timeout(DEADLINE, consumer.recv())
            .await
            .expect("consumer made no progress: responses too large for fetch.max.bytes?")
            .unwrap();
        assert_eq!(message.payload().map(<[u8]>::len), Some(LARGE_RECORD_BYTES));
        *per_partition.entry(message.partition()).or_default() += 1;
    }
    let expected: BTreeMap<i32, usize> = (0..PARTITIONS)
        .map(|p| (p, RECORDS_PER_PARTITION))
        .collect();
    assert_eq!(per_partition, expected);
}

fn fetch_request(topic: &str, partitions: i32, max_bytes: i32, partition_max: i32) -> FetchRequest {
    let partitions = (0..partitions)
        .map(|p| {
            FetchPartition::default()
                .with_partition(p)
                .with_fetch_offset(0)
                .with_partition_max_bytes(partition_max)
        })
        .collect();
    FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(partitions)])
}

/// Record bytes returned per partition.
fn sizes(response: &FetchResponse) -> Vec<usize> {
    response.responses[0]
        .partitions
        .iter()
        .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
        .collect()
}

// Exact sizes on the wire: with both limits below one batch only the first partition gets a batch;
// with room for several small batches every partition stays within its own limit and the response
// within max_bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_answers_within_max_bytes_and_partition_max_bytes() {
    let broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "small", 4, &[]).await;
    // 10 batches of ~1 KB per partition.
    produce_sized(&bootstrap, "small", 4, 10, 1000).await;
    let mut raw = RawClient::connect(broker.addr()).await;

    let tiny: FetchResponse = raw
        .request(ApiKey::Fetch, 11, &fetch_request("small", 4, 10, 10))
        .await;
    let tiny = sizes(&tiny);
    assert!(
        tiny[0] > 1000 && tiny[0] < 2000,
        "one whole batch: {tiny:?}"
    );
    assert_eq!(&tiny[1..], &[0, 0, 0], "only the first partition exceeds");

    let bounded: FetchResponse = raw
        .request(ApiKey::Fetch, 11, &fetch_request("small", 4, 5000, 2500))
        .await;
    let bounded = sizes(&bounded);
    assert!(
        bounded.iter().all(|&s| s <= 2500),
        "per partition: {bounded:?}"
    );
    assert!(
        bounded.iter().sum::<usize>() <= 5000,
        "in total: {bounded:?}"
    );
    assert!(bounded[0] > 1000 && bounded[1] > 1000, "{bounded:?}");
}
