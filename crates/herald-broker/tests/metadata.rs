//! ApiVersions, Metadata and CreateTopics as real clients see them.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{create_topic, producer_config, RawClient, TestBroker};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use rdkafka::producer::{BaseProducer, Producer};

fn topic_request(name: &str) -> MetadataRequestTopic {
    MetadataRequestTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
}

// An rdkafka admin client creates a topic and a client's metadata shows its partitions led by us.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_sees_created_topic_in_metadata() {
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "orders", 3, &[]).await;
    let producer: BaseProducer = producer_config(&broker.bootstrap()).create().unwrap();
    let metadata = tokio::task::spawn_blocking(move || {
        producer
            .client()
            .fetch_metadata(Some("orders"), Duration::from_secs(10))
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(metadata.brokers().len(), 1);
    assert_eq!(
        metadata.brokers()[0].port(),
        i32::from(broker.addr().port())
    );
    let topic = &metadata.topics()[0];
    assert_eq!(topic.name(), "orders");
    assert!(topic.error().is_none(), "{:?}", topic.error());
    assert_eq!(topic.partitions().len(), 3);
    assert!(topic.partitions().iter().all(|p| p.leader() == 0));
}

// Metadata auto-creates a requested topic with the default partitions when allowed, and answers
// UNKNOWN_TOPIC_OR_PARTITION when the request forbids it.
#[tokio::test]
async fn metadata_auto_creates_only_when_allowed() {
    let broker = TestBroker::start_with(|c| c.default_partitions = 2).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let forbidden = MetadataRequest::default()
        .with_topics(Some(vec![topic_request("not-created")]))
        .with_allow_auto_topic_creation(false);
    let response: MetadataResponse = raw.request(ApiKey::Metadata, 12, &forbidden).await;
    assert_eq!(response.topics[0].error_code, 3);
    assert_eq!(response.controller_id.0, 0);

    let allowed = MetadataRequest::default()
        .with_topics(Some(vec![topic_request("created")]))
        .with_allow_auto_topic_creation(true);
    let response: MetadataResponse = raw.request(ApiKey::Metadata, 12, &allowed).await;
    let topic = &response.topics[0];
    assert_eq!(topic.error_code, 0);
    assert_eq!(topic.partitions.len(), 2);
    assert!(!topic.topic_id.is_nil());

    let all: MetadataResponse = raw
        .request(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    let names: Vec<_> = all
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    // Internal topics are listed too, as Kafka does (clients filter them by `is_internal`).
    assert_eq!(
        names,
        vec!["__consumer_offsets".to_string(), "created".to_string()]
    );
}

// ApiVersions with a version we do not know answers error 35 and our supported list in a v0 body.
#[tokio::test]
async fn unknown_api_versions_version_gets_error_35() {
    let broker = TestBroker::start().await;
    let mut raw = RawClient::connect(broker.addr()).await;
    raw.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let _: ApiVersionsResponse = raw.receive(ApiKey::ApiVersions, 3).await;
    // Version 9 does not exist; the request body is irrelevant to the answer.
    let mut frame = bytes::BytesMut::new();
    use bytes::BufMut;
    frame.put_i32(10);
    frame.put_i16(ApiKey::ApiVersions as i16);
    frame.put_i16(9);
    frame.put_i32(77);
    frame.put_i16(-1);
    tokio::io::AsyncWriteExt::write_all(&mut raw.stream, &frame)
        .await
        .unwrap();
    let mut response = raw.read_frame().await.unwrap();
    let correlation_id = bytes::Buf::get_i32(&mut response);
    assert_eq!(correlation_id, 77);
    let body = ApiVersionsResponse::decode(&mut response, 0).unwrap();
    assert_eq!(body.error_code, 35);
    let produce = body
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Produce as i16)
        .unwrap();
    assert_eq!((produce.min_version, produce.max_version), (0, 11));
    assert!(body
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::JoinGroup as i16));
}
