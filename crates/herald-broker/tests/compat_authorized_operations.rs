//! `include_authorized_operations` (KIP-430) as a Kafka broker without an authorizer answers it:
//! every operation the resource type supports, as a bitfield of AclOperation codes, and INT32_MIN
//! where the client did not ask. librdkafka's DescribeTopics, DescribeCluster and
//! DescribeConsumerGroups read these fields (rdkafka's Rust API does not expose them, hence the raw
//! requests here).
#![allow(clippy::unwrap_used)]

mod common;

use common::{create_topic, RawClient, TestBroker};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, GroupId, MetadataRequest,
    MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

/// READ WRITE CREATE DELETE ALTER DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS (codes 3-8, 10, 11).
const TOPIC_OPERATIONS: i32 = 3576;
/// READ DELETE DESCRIBE (codes 3, 6, 8).
const GROUP_OPERATIONS: i32 = 328;
/// CREATE ALTER DESCRIBE CLUSTER_ACTION DESCRIBE_CONFIGS ALTER_CONFIGS IDEMPOTENT_WRITE (5, 7-12).
const CLUSTER_OPERATIONS: i32 = 8096;
const NOT_PROVIDED: i32 = i32::MIN;

fn metadata(include: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("ops"))))]))
        .with_include_topic_authorized_operations(include)
        .with_include_cluster_authorized_operations(include)
}

// Metadata answers the topic's and (v8-10) the cluster's operations when asked, INT32_MIN otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_answers_authorized_operations_when_asked() {
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "ops", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;

    let asked: MetadataResponse = raw.request(ApiKey::Metadata, 10, &metadata(true)).await;
    assert_eq!(
        asked.topics[0].topic_authorized_operations,
        TOPIC_OPERATIONS
    );
    assert_eq!(asked.cluster_authorized_operations, CLUSTER_OPERATIONS);

    // v11+ has no cluster field (clients ask DescribeCluster).
    let latest = metadata(true).with_include_cluster_authorized_operations(false);
    let latest: MetadataResponse = raw.request(ApiKey::Metadata, 12, &latest).await;
    assert_eq!(
        latest.topics[0].topic_authorized_operations,
        TOPIC_OPERATIONS
    );

    let not_asked: MetadataResponse = raw.request(ApiKey::Metadata, 10, &metadata(false)).await;
    assert_eq!(
        not_asked.topics[0].topic_authorized_operations,
        NOT_PROVIDED
    );
    assert_eq!(not_asked.cluster_authorized_operations, NOT_PROVIDED);
}

// DescribeGroups (v3+) answers the group's operations when asked, INT32_MIN otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_groups_answers_authorized_operations_when_asked() {
    let broker = TestBroker::start().await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let request = |include| {
        DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_static_str("some-group"))])
            .with_include_authorized_operations(include)
    };
    let asked: DescribeGroupsResponse =
        raw.request(ApiKey::DescribeGroups, 5, &request(true)).await;
    assert_eq!(asked.groups[0].authorized_operations, GROUP_OPERATIONS);
    let not_asked: DescribeGroupsResponse = raw
        .request(ApiKey::DescribeGroups, 5, &request(false))
        .await;
    assert_eq!(not_asked.groups[0].authorized_operations, NOT_PROVIDED);
}
