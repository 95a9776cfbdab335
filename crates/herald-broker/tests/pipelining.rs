//! Requests of every API pipeline on one connection: each is dispatched in order as soon as it is
//! read, what waits (a fetch's long poll, a produce's fsync) waits in its own task, and responses come
//! back in request order.
#![allow(clippy::unwrap_used)]

mod common;

use common::{create_topic, record_batch, RawClient, TestBroker};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    FetchRequest, FetchResponse, FindCoordinatorResponse, GroupId, MetadataRequest,
    MetadataResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn produce_request(topic: &str, values: &[&str]) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(record_batch(-1, -1, -1, values, 1_000)))])])
}

fn long_poll_fetch(topic: &str, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])])
}

// A produce sent behind a long-polling fetch on the same connection is served while the fetch waits:
// the fetch wakes with the produced record instead of timing out empty, and answers first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_behind_a_long_poll_wakes_it() {
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "piped", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    // Long enough that a fetch served alone would make the test time out, not pass.
    raw.send(ApiKey::Fetch, 12, &long_poll_fetch("piped", 120_000))
        .await;
    raw.send(ApiKey::Produce, 9, &produce_request("piped", &["one"]))
        .await;
    let fetch: FetchResponse = raw.receive_in_order(ApiKey::Fetch, 12, 1).await;
    let partition = &fetch.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    assert_eq!(partition.high_watermark, 1);
    assert!(
        partition.records.as_ref().is_some_and(|r| !r.is_empty()),
        "the fetch must carry the record produced behind it"
    );
    let produce: ProduceResponse = raw.receive_in_order(ApiKey::Produce, 9, 2).await;
    let result = &produce.responses[0].partition_responses[0];
    assert_eq!((result.error_code, result.base_offset), (0, 0));
}

// Six different APIs written in one go are all answered, each under its own correlation id, in the
// order they were sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_answers_in_request_order() {
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "ordered", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    raw.send(ApiKey::Produce, 9, &produce_request("ordered", &["a", "b"]))
        .await;
    raw.send(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    )
    .await;
    raw.send(ApiKey::Fetch, 12, &long_poll_fetch("ordered", 1_000))
        .await;
    raw.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let find = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![StrBytes::from_static_str("g")]);
    raw.send(ApiKey::FindCoordinator, 4, &find).await;
    let describe =
        DescribeGroupsRequest::default().with_groups(vec![GroupId(StrBytes::from_static_str("g"))]);
    raw.send(ApiKey::DescribeGroups, 5, &describe).await;
    let produce: ProduceResponse = raw.receive_in_order(ApiKey::Produce, 9, 1).await;
    assert_eq!(produce.responses[0].partition_responses[0].base_offset, 0);
    let metadata: MetadataResponse = raw.receive_in_order(ApiKey::Metadata, 12, 2).await;
    assert!(metadata
        .topics
        .iter()
        .any(|t| t.name == Some(topic_name("ordered"))));
    let fetch: FetchResponse = raw.receive_in_order(ApiKey::Fetch, 12, 3).await;
    assert_eq!(fetch.responses[0].partitions[0].high_watermark, 2);
    // ApiVersions' response header is v0 whatever the request version.
    let mut frame = raw.read_frame().await.unwrap();
    let header =
        <kafka_protocol::messages::ResponseHeader as kafka_protocol::protocol::Decodable>::decode(
            &mut frame, 0,
        )
        .unwrap();
    assert_eq!(header.correlation_id, 4);
    let versions =
        <ApiVersionsResponse as kafka_protocol::protocol::Decodable>::decode(&mut frame, 3)
            .unwrap();
    assert_eq!(versions.error_code, 0);
    let coordinator: FindCoordinatorResponse =
        raw.receive_in_order(ApiKey::FindCoordinator, 4, 5).await;
    assert_eq!(coordinator.coordinators[0].error_code, 0);
    let groups: DescribeGroupsResponse = raw.receive_in_order(ApiKey::DescribeGroups, 5, 6).await;
    assert_eq!(groups.groups[0].group_id.0.as_str(), "g");
}
