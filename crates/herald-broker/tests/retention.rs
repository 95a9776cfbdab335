//! Retention through the broker: with small segments and a short retention.ms, old segments are
//! deleted by the background task, the log start offset moves, and fetching below it answers
//! OFFSET_OUT_OF_RANGE.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{
    create_topic, eventually, raw_produce, record_batch, watermarks, RawClient, TestBroker,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

fn fetch_at(offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1024 * 1024)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("expiring")))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1024 * 1024)])])
}

// Old segments are deleted, log start moves up, and a fetch below it is OFFSET_OUT_OF_RANGE (1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_segments_expire() {
    let broker =
        TestBroker::start_with(|c| c.retention_check_interval = Duration::from_millis(50)).await;
    create_topic(
        &broker.bootstrap(),
        "expiring",
        1,
        &[("segment.bytes", "1024"), ("retention.ms", "60000")],
    )
    .await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let old = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 3_600_000;
    let value = "v".repeat(300);
    for _ in 0..20 {
        let response = raw_produce(
            &mut raw,
            "expiring",
            0,
            record_batch(-1, -1, -1, &[&value], old),
        )
        .await;
        assert_eq!(response.error_code, 0);
    }
    let bootstrap = broker.bootstrap();
    let log_start_offset = eventually("retention to delete old segments", || {
        let bootstrap = bootstrap.clone();
        async move {
            let (low, high) = watermarks(&bootstrap, "expiring", 0).await;
            assert_eq!(high, 20);
            (low > 0).then_some(low)
        }
    })
    .await;
    let response: FetchResponse = raw.request(ApiKey::Fetch, 12, &fetch_at(0)).await;
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 1);
    // Retention may have moved on since the watermarks were read, never back.
    let now_start = partition.log_start_offset;
    assert!(now_start >= log_start_offset);
    let response: FetchResponse = raw.request(ApiKey::Fetch, 12, &fetch_at(now_start)).await;
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    assert_eq!(partition.high_watermark, 20);
}
