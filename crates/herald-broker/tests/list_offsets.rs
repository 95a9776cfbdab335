//! ListOffsets: earliest, latest, max timestamp and lookups by time (rdkafka's offsets_for_times).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{consumer_config, create_topic, raw_produce, record_batch, RawClient, TestBroker};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

const T0: i64 = 1_700_000_000_000;

async fn list_offset(raw: &mut RawClient, timestamp: i64) -> (i64, i64) {
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("timed")))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(timestamp)])]);
    let response: ListOffsetsResponse = raw.request(ApiKey::ListOffsets, 7, &request).await;
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    (partition.offset, partition.timestamp)
}

// Offsets by timestamp find the first record at or after the time; -2/-1/-3 give earliest, latest
// and the record with the largest timestamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_by_time() {
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "timed", 1, &[("retention.ms", "-1")]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    for (i, value) in ["a", "b", "c"].iter().enumerate() {
        let response = raw_produce(
            &mut raw,
            "timed",
            0,
            record_batch(-1, -1, -1, &[value], T0 + 1_000 * i as i64),
        )
        .await;
        assert_eq!(response.error_code, 0);
    }
    assert_eq!(list_offset(&mut raw, -2).await.0, 0);
    assert_eq!(list_offset(&mut raw, -1).await.0, 3);
    assert_eq!(list_offset(&mut raw, -3).await, (2, T0 + 2_000));

    let consumer: BaseConsumer = consumer_config(&broker.bootstrap()).create().unwrap();
    let found = tokio::task::spawn_blocking(move || {
        let mut query = TopicPartitionList::new();
        query
            .add_partition_offset("timed", 0, Offset::Offset(T0 + 500))
            .unwrap();
        let middle = consumer
            .offsets_for_times(query, Duration::from_secs(10))
            .unwrap();
        let mut late = TopicPartitionList::new();
        late.add_partition_offset("timed", 0, Offset::Offset(T0 + 60_000))
            .unwrap();
        let after_all = consumer
            .offsets_for_times(late, Duration::from_secs(10))
            .unwrap();
        (
            middle.find_partition("timed", 0).unwrap().offset(),
            after_all.find_partition("timed", 0).unwrap().offset(),
        )
    })
    .await
    .unwrap();
    assert_eq!(found.0, Offset::Offset(1));
    assert_eq!(found.1, Offset::End, "no record at or after the time: -1");
}
