//! Kafka's topic configs through the admin API and real clients: AlterConfigs (rdkafka) and
//! IncrementalAlterConfigs (SET, DELETE, APPEND, SUBTRACT, validate_only) change a topic live and
//! persist; DescribeConfigs shows sources, synonyms and documentation; each enforced config is seen
//! doing its job (LogAppendTime, timestamp bounds, min.insync.replicas), and values herald cannot
//! honour are refused with INVALID_CONFIG.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    admin, consumer_config, create_topic, producer_config, raw_produce, record_batch, RawClient,
    TestBroker, DEADLINE,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    ApiKey, DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{
    AdminOptions, AlterConfig, ConfigSource, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Timestamp;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

fn change(name: &str, operation: i8, value: Option<&str>) -> AlterableConfig {
    AlterableConfig::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_config_operation(operation)
        .with_value(value.map(|v| StrBytes::from_string(v.to_string())))
}

async fn incremental(
    raw: &mut RawClient,
    resource_type: i8,
    name: &str,
    changes: Vec<AlterableConfig>,
    validate_only: bool,
) -> (i16, Option<String>) {
    let request = IncrementalAlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configs(changes)]);
    let response: IncrementalAlterConfigsResponse = raw
        .request(ApiKey::IncrementalAlterConfigs, 1, &request)
        .await;
    let result = &response.responses[0];
    (
        result.error_code,
        result.error_message.as_ref().map(|m| m.to_string()),
    )
}

async fn described(
    bootstrap: &str,
    topic: &str,
) -> std::collections::HashMap<String, (Option<String>, ConfigSource)> {
    let results = admin(bootstrap)
        .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .unwrap();
    let resource = results.into_iter().next().unwrap().unwrap();
    resource
        .entries
        .into_iter()
        .map(|e| (e.name, (e.value, e.source)))
        .collect()
}

// rdkafka's AlterConfigs sets LogAppendTime: DescribeConfigs reports it as a topic override, a record
// produced with an old timestamp is read back stamped with the broker's clock, and the setting
// survives a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alter_configs_applies_live_and_persists() {
    let mut broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "stamped", 1, &[]).await;
    let alter = AlterConfig::new(ResourceSpecifier::Topic("stamped"))
        .set("message.timestamp.type", "LogAppendTime")
        .set("retention.ms", "-1");
    let results = admin(&broker.bootstrap())
        .alter_configs([&alter], &AdminOptions::new())
        .await
        .unwrap();
    results.into_iter().next().unwrap().unwrap();
    let configs = described(&broker.bootstrap(), "stamped").await;
    let (value, source) = &configs["message.timestamp.type"];
    assert_eq!(value.as_deref(), Some("LogAppendTime"));
    assert_eq!(*source, ConfigSource::DynamicTopic);

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let producer: FutureProducer = producer_config(&broker.bootstrap()).create().unwrap();
    producer
        .send(
            FutureRecord::to("stamped")
                .key("k")
                .payload("v")
                .timestamp(1_000),
            DEADLINE,
        )
        .await
        .unwrap();
    let consumer: StreamConsumer = consumer_config(&broker.bootstrap()).create().unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("stamped", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let message = tokio::time::timeout(DEADLINE, consumer.recv())
        .await
        .unwrap()
        .unwrap();
    match message.timestamp() {
        Timestamp::LogAppendTime(ts) => assert!(ts >= before, "{ts} < {before}"),
        other => panic!("expected a log-append time, got {other:?}"),
    }

    broker.restart().await;
    let configs = described(&broker.bootstrap(), "stamped").await;
    assert_eq!(
        configs["message.timestamp.type"].0.as_deref(),
        Some("LogAppendTime")
    );
    assert_eq!(configs["retention.ms"].0.as_deref(), Some("-1"));
}

// IncrementalAlterConfigs: APPEND and SUBTRACT edit a list, DELETE restores the default,
// validate_only changes nothing, and bad requests get INVALID_CONFIG or INVALID_REQUEST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_alter_configs_operations() {
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "edited", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let throttled = "leader.replication.throttled.replicas";
    let value = |configs: &std::collections::HashMap<String, (Option<String>, ConfigSource)>| {
        configs[throttled].0.clone().unwrap_or_default()
    };
    let edit = |operation, items| vec![change(throttled, operation, items)];
    assert_eq!(
        incremental(&mut raw, 2, "edited", edit(APPEND, Some("0:0")), false)
            .await
            .0,
        0
    );
    assert_eq!(
        incremental(&mut raw, 2, "edited", edit(APPEND, Some("0:1,0:0")), false)
            .await
            .0,
        0
    );
    assert_eq!(
        value(&described(&broker.bootstrap(), "edited").await),
        "0:0,0:1"
    );
    assert_eq!(
        incremental(&mut raw, 2, "edited", edit(SUBTRACT, Some("0:0")), false)
            .await
            .0,
        0
    );
    assert_eq!(
        value(&described(&broker.bootstrap(), "edited").await),
        "0:1"
    );
    assert_eq!(
        incremental(&mut raw, 2, "edited", edit(DELETE, None), false)
            .await
            .0,
        0
    );
    let configs = described(&broker.bootstrap(), "edited").await;
    assert_eq!(value(&configs), "");
    assert_ne!(configs[throttled].1, ConfigSource::DynamicTopic);

    let (code, _) = incremental(
        &mut raw,
        2,
        "edited",
        vec![change("retention.ms", SET, Some("5"))],
        true,
    )
    .await;
    assert_eq!(code, 0);
    assert_ne!(
        described(&broker.bootstrap(), "edited").await["retention.ms"]
            .0
            .as_deref(),
        Some("5"),
        "validate_only"
    );

    for (changes, expected) in [
        (vec![change("retention.ms", APPEND, Some("5"))], 40),
        (vec![change("no.such.config", SET, Some("1"))], 40),
        (vec![change("flush.ms", SET, Some("1000"))], 40),
        (
            vec![change("min.cleanable.dirty.ratio", SET, Some("2"))],
            40,
        ),
        (
            vec![
                change("retention.ms", SET, Some("1")),
                change("retention.ms", DELETE, None),
            ],
            42,
        ),
    ] {
        let (code, message) = incremental(&mut raw, 2, "edited", changes.clone(), false).await;
        assert_eq!(code, expected, "{changes:?}: {message:?}");
        assert!(message.is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(
        incremental(
            &mut raw,
            4,
            "0",
            vec![change("log.retention.ms", SET, Some("1"))],
            false
        )
        .await
        .0,
        42
    );
    assert_eq!(
        incremental(
            &mut raw,
            2,
            "missing",
            vec![change("retention.ms", SET, Some("1"))],
            false
        )
        .await
        .0,
        3
    );
}

// DescribeConfigs v4 with synonyms and documentation: an override lists itself then the broker
// config it falls back to (DEFAULT_CONFIG while the broker keeps Kafka's default); a config without
// effect on one node says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_configs_shows_synonyms_and_documentation() {
    let broker = TestBroker::start().await;
    create_topic(
        &broker.bootstrap(),
        "documented",
        1,
        &[("segment.bytes", "1048576")],
    )
    .await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_include_documentation(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("documented"))
            .with_configuration_keys(None)]);
    let response: DescribeConfigsResponse = raw.request(ApiKey::DescribeConfigs, 4, &request).await;
    let configs = &response.results[0].configs;
    assert!(
        configs.len() >= 30,
        "every Kafka topic config is listed: {}",
        configs.len()
    );
    let segment = configs
        .iter()
        .find(|c| c.name.as_str() == "segment.bytes")
        .unwrap();
    assert_eq!(segment.config_source, 1);
    let synonyms: Vec<(&str, i8)> = segment
        .synonyms
        .iter()
        .map(|s| (s.name.as_str(), s.source))
        .collect();
    assert_eq!(
        synonyms,
        vec![("segment.bytes", 1), ("log.segment.bytes", 5)]
    );
    assert_eq!(segment.config_type, 3, "INT");
    let preallocate = configs
        .iter()
        .find(|c| c.name.as_str() == "preallocate")
        .unwrap();
    assert!(preallocate
        .documentation
        .as_deref()
        .unwrap()
        .contains("no effect"));
}

// min.insync.replicas=2 cannot be met by one node: acks=all gets NOT_ENOUGH_REPLICAS while acks=1 is
// served; a CreateTime timestamp an hour ahead is refused when message.timestamp.after.max.ms is a
// minute; a config herald cannot honour fails topic creation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforced_configs_refuse_what_they_must() {
    let broker = TestBroker::start().await;
    create_topic(
        &broker.bootstrap(),
        "replicated",
        1,
        &[("min.insync.replicas", "2")],
    )
    .await;
    create_topic(
        &broker.bootstrap(),
        "bounded",
        1,
        &[("message.timestamp.after.max.ms", "60000")],
    )
    .await;
    // librdkafka retries NOT_ENOUGH_REPLICAS (it is retriable) until its timeout: look at the code
    // itself with a raw acks=all Produce.
    let mut raw = RawClient::connect(broker.addr()).await;
    let result = raw_produce(
        &mut raw,
        "replicated",
        0,
        record_batch(-1, -1, -1, &["v"], 1_000),
    )
    .await;
    assert_eq!(
        result.error_code, 19,
        "NOT_ENOUGH_REPLICAS: {:?}",
        result.error_message
    );
    let mut one = producer_config(&broker.bootstrap());
    one.set("acks", "1").set("enable.idempotence", "false");
    let one: FutureProducer = one.create().unwrap();
    one.send(
        FutureRecord::to("replicated").key("k").payload("v"),
        DEADLINE,
    )
    .await
    .unwrap();

    let future = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 3_600_000;
    let refused = one
        .send(
            FutureRecord::to("bounded")
                .key("k")
                .payload("v")
                .timestamp(future),
            DEADLINE,
        )
        .await
        .unwrap_err()
        .0;
    assert!(
        matches!(
            refused,
            KafkaError::MessageProduction(RDKafkaErrorCode::InvalidTimestamp)
        ),
        "{refused:?}"
    );

    let topic = NewTopic::new("flushed", 1, TopicReplication::Fixed(1)).set("flush.ms", "1000");
    let results = admin(&broker.bootstrap())
        .create_topics([&topic], &AdminOptions::new())
        .await
        .unwrap();
    let error = results.into_iter().next().unwrap().unwrap_err();
    assert_eq!(error.1, RDKafkaErrorCode::InvalidConfig, "{error:?}");
}
