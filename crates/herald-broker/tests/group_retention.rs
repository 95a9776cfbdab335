//! Offsets retention with the real clock: a group that stays Empty loses its committed offsets after
//! `offsets_retention`, and the deletion is persisted (a restart does not bring them back).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{create_topic, RawClient, TestBroker};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
};
use kafka_protocol::protocol::StrBytes;

async fn committed(raw: &mut RawClient) -> i64 {
    let request = OffsetFetchRequest::default()
        .with_group_id(StrBytes::from_static_str("idle").into())
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(StrBytes::from_static_str("events").into())
            .with_partition_indexes(vec![0])]));
    let response: OffsetFetchResponse = raw.request(ApiKey::OffsetFetch, 6, &request).await;
    response.topics[0].partitions[0].committed_offset
}

// An Empty group's offsets expire after the configured retention and stay deleted across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_group_offsets_expire_after_retention() {
    let mut broker = TestBroker::start_with(|config| {
        config.offsets_retention = Duration::from_millis(500);
        config.retention_check_interval = Duration::from_millis(100);
    })
    .await;
    create_topic(&broker.bootstrap(), "events", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let commit = OffsetCommitRequest::default()
        .with_group_id(StrBytes::from_static_str("idle").into())
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(StrBytes::from_static_str("events").into())
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(11)])]);
    let response: OffsetCommitResponse = raw.request(ApiKey::OffsetCommit, 6, &commit).await;
    assert_eq!(response.topics[0].partitions[0].error_code, 0);
    assert_eq!(committed(&mut raw).await, 11);
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    while committed(&mut raw).await != -1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the committed offset never expired"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(raw);
    broker.restart().await;
    let mut raw = RawClient::connect(broker.addr()).await;
    assert_eq!(
        committed(&mut raw).await,
        -1,
        "the expired offset came back after a restart"
    );
}
