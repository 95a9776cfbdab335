//! DeleteRecords through rdkafka's admin API and kcat: the log start offset moves (ListOffsets
//! EARLIEST answers it, Fetch below it answers OFFSET_OUT_OF_RANGE, `kcat -o beginning` starts there),
//! segments wholly below it are deleted, it survives a restart; -1 means the high watermark, an
//! offset past it is OFFSET_OUT_OF_RANGE, unknown partitions and compact-only topics are refused.
#![allow(clippy::unwrap_used)]

mod common;

use common::{admin, create_topic, produce_each, watermarks, RawClient, TestBroker};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, FetchRequest, FetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::AdminOptions;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};

/// DeleteRecords of one partition; the low watermark, or the partition's error code.
async fn delete_records(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    offset: Offset,
) -> Result<i64, RDKafkaErrorCode> {
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, partition, offset)
        .unwrap();
    let result = admin(bootstrap)
        .delete_records(&offsets, &AdminOptions::new())
        .await
        .unwrap();
    let element = result.elements_for_topic(topic).pop().unwrap();
    match element.error() {
        Ok(()) => Ok(element.offset().to_raw().unwrap()),
        Err(KafkaError::OffsetFetch(code)) => Err(code),
        Err(e) => Err(e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail)),
    }
}

/// Base offsets of the partition's segment files.
fn segment_bases(broker: &TestBroker, topic: &str) -> Vec<i64> {
    let mut bases: Vec<i64> = std::fs::read_dir(broker.partition_dir(topic, 0))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".log").and_then(|b| b.parse().ok())
        })
        .collect();
    bases.sort_unstable();
    bases
}

/// The error code of a raw Fetch of partition 0 at `offset`.
async fn fetch_error(raw: &mut RawClient, topic: &str, offset: i64) -> i16 {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let response: FetchResponse = raw.request(ApiKey::Fetch, 11, &request).await;
    response.responses[0].partitions[0].error_code
}

/// The offsets `kcat -C -o beginning -e` prints for partition 0.
async fn kcat_offsets(bootstrap: &str, topic: &str) -> Vec<i64> {
    let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("kcat")
            .args(["-b", &bootstrap, "-C", "-t", &topic, "-p", "0"])
            .args(["-o", "beginning", "-e", "-q", "-f", "%o\\n"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

// The log start offset moves inside a segment, wholly deleted segments are gone, every reader sees
// the new start, and it survives a restart; -1 then empties the partition up to the high watermark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_moves_the_log_start_offset() {
    let mut broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "purged", 1, &[("segment.bytes", "1000")]).await;
    let values = (0..30).map(|i| format!("value-{i:03}-{}", "x".repeat(60)));
    produce_each(&bootstrap, "purged", values).await;
    let before = segment_bases(&broker, "purged");
    assert!(before.len() > 3, "{before:?}");
    let target = before[2] + 1;

    assert_eq!(
        delete_records(&bootstrap, "purged", 0, Offset::Offset(target)).await,
        Ok(target)
    );
    let after = segment_bases(&broker, "purged");
    assert_eq!(
        after,
        before[2..].to_vec(),
        "the two segments below the start are gone"
    );
    assert_eq!(watermarks(&bootstrap, "purged", 0).await, (target, 30));
    let mut raw = RawClient::connect(broker.addr()).await;
    assert_eq!(
        fetch_error(&mut raw, "purged", target - 1).await,
        1,
        "OFFSET_OUT_OF_RANGE"
    );
    assert_eq!(fetch_error(&mut raw, "purged", target).await, 0);
    let read = kcat_offsets(&bootstrap, "purged").await;
    assert_eq!(read, (target..30).collect::<Vec<_>>());
    assert_eq!(
        delete_records(&bootstrap, "purged", 0, Offset::Offset(2)).await,
        Ok(target),
        "an offset below the start changes nothing"
    );
    assert_eq!(
        delete_records(&bootstrap, "purged", 0, Offset::Offset(31)).await,
        Err(RDKafkaErrorCode::OffsetOutOfRange)
    );

    broker.restart().await;
    let bootstrap = broker.bootstrap();
    assert_eq!(watermarks(&bootstrap, "purged", 0).await, (target, 30));
    assert_eq!(
        delete_records(&bootstrap, "purged", 0, Offset::End).await,
        Ok(30),
        "-1 is the high watermark"
    );
    assert_eq!(watermarks(&bootstrap, "purged", 0).await, (30, 30));
    assert_eq!(segment_bases(&broker, "purged").len(), 1);
    assert!(kcat_offsets(&bootstrap, "purged").await.is_empty());
}

// Unknown partitions answer UNKNOWN_TOPIC_OR_PARTITION and a compact-only topic POLICY_VIOLATION, as
// Kafka does; a compact,delete topic may be purged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_refusals() {
    let broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "plain", 1, &[]).await;
    create_topic(&bootstrap, "compacted", 1, &[("cleanup.policy", "compact")]).await;
    create_topic(
        &bootstrap,
        "both",
        1,
        &[("cleanup.policy", "compact,delete")],
    )
    .await;
    // librdkafka refuses an unknown partition itself: ask the broker raw.
    let mut raw = RawClient::connect(broker.addr()).await;
    for (topic, partition) in [("plain", 3), ("missing", 0)] {
        let request = DeleteRecordsRequest::default()
            .with_timeout_ms(5_000)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(topic)))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(partition)
                    .with_offset(0)])]);
        let response: DeleteRecordsResponse = raw.request(ApiKey::DeleteRecords, 2, &request).await;
        let result = &response.topics[0].partitions[0];
        assert_eq!(
            (result.error_code, result.low_watermark),
            (3, -1),
            "{topic}/{partition}"
        );
    }
    assert_eq!(
        delete_records(&bootstrap, "compacted", 0, Offset::End).await,
        Err(RDKafkaErrorCode::PolicyViolation)
    );
    assert_eq!(
        delete_records(&bootstrap, "both", 0, Offset::End).await,
        Ok(0)
    );
}
