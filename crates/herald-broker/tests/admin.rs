//! Topic administration through rdkafka's AdminClient: create (with configs, duplicates, invalid
//! configs), describe configs, add partitions, delete.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{admin, create_topic, RawClient, TestBroker};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;

async fn partitions_of(broker: &TestBroker, topic: &str) -> (i16, usize) {
    let mut raw = RawClient::connect(broker.addr()).await;
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_string())),
        ))]))
        .with_allow_auto_topic_creation(false);
    let response: MetadataResponse = raw.request(ApiKey::Metadata, 12, &request).await;
    (
        response.topics[0].error_code,
        response.topics[0].partitions.len(),
    )
}

// Creating a topic twice fails with TOPIC_ALREADY_EXISTS; unknown configs fail with INVALID_CONFIG.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_topics_validates() {
    let broker = TestBroker::start().await;
    let admin = admin(&broker.bootstrap());
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    create_topic(&broker.bootstrap(), "once", 2, &[]).await;
    let again = admin
        .create_topics(
            [&NewTopic::new("once", 2, TopicReplication::Fixed(1))],
            &options,
        )
        .await
        .unwrap();
    assert_eq!(
        again[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::TopicAlreadyExists
    );
    let bad_config =
        NewTopic::new("bad", 1, TopicReplication::Fixed(1)).set("retention.ms", "soon");
    let bad = admin.create_topics([&bad_config], &options).await.unwrap();
    assert_eq!(
        bad[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::InvalidConfig
    );
    let bad_replication = NewTopic::new("replicated", 1, TopicReplication::Fixed(3));
    let bad = admin
        .create_topics([&bad_replication], &options)
        .await
        .unwrap();
    assert_eq!(
        bad[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::InvalidReplicationFactor
    );
    let validate_only = NewTopic::new("dry-run", 1, TopicReplication::Fixed(1));
    let dry = admin
        .create_topics([&validate_only], &AdminOptions::new().validate_only(true))
        .await
        .unwrap();
    assert!(dry[0].is_ok());
    assert_eq!(
        partitions_of(&broker, "dry-run").await.0,
        3,
        "validate_only must not create"
    );
}

// DescribeConfigs reports overrides as such and every other accepted config as a default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_configs_flags_defaults() {
    let broker = TestBroker::start().await;
    create_topic(
        &broker.bootstrap(),
        "configured",
        1,
        &[("segment.bytes", "4096"), ("retention.ms", "60000")],
    )
    .await;
    let results = admin(&broker.bootstrap())
        .describe_configs(
            [&ResourceSpecifier::Topic("configured")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    let resource = results[0].as_ref().unwrap();
    let entry = |name: &str| resource.entries.iter().find(|e| e.name == name).unwrap();
    assert_eq!(entry("segment.bytes").value.as_deref(), Some("4096"));
    assert!(!entry("segment.bytes").is_default);
    assert_eq!(entry("retention.ms").value.as_deref(), Some("60000"));
    assert_eq!(entry("cleanup.policy").value.as_deref(), Some("delete"));
    assert!(entry("cleanup.policy").is_default);
    assert!(entry("max.message.bytes").is_default);
}

// CreatePartitions grows a topic (never shrinks it) and DeleteTopics removes it and its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_partitions_and_delete_topics() {
    let broker = TestBroker::start().await;
    let admin = admin(&broker.bootstrap());
    let options = AdminOptions::new();
    create_topic(&broker.bootstrap(), "growing", 1, &[]).await;
    let grown = admin
        .create_partitions([&NewPartitions::new("growing", 3)], &options)
        .await
        .unwrap();
    assert!(grown[0].is_ok(), "{grown:?}");
    assert_eq!(partitions_of(&broker, "growing").await, (0, 3));
    let shrink = admin
        .create_partitions([&NewPartitions::new("growing", 2)], &options)
        .await
        .unwrap();
    assert_eq!(
        shrink[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::InvalidPartitions
    );
    assert!(broker.partition_dir("growing", 2).is_dir());

    let deleted = admin.delete_topics(&["growing"], &options).await.unwrap();
    assert!(deleted[0].is_ok(), "{deleted:?}");
    assert_eq!(partitions_of(&broker, "growing").await.0, 3);
    assert!(!broker.dir.path().join("topics").join("growing").exists());
    let missing = admin.delete_topics(&["growing"], &options).await.unwrap();
    assert_eq!(
        missing[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::UnknownTopicOrPartition
    );
}
