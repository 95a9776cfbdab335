//! `compression.type` as Kafka enforces it: a topic whose type is a codec stores every produced batch
//! in that codec (the broker recompresses, keeping offsets, timestamps and producer sequences), under
//! `producer` it stores the producer's codec; idempotent producers keep working on a recompressing
//! topic; invalid values answer INVALID_CONFIG; a live change applies to the next produce.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{
    admin, consumer_config, create_topic, producer_config, RawClient, TestBroker, DEADLINE,
};
use futures::future::join_all;
use herald_log::batch::split_batches;
use herald_log::cleaner::records::Records;
use herald_log::codec::decompress;
use herald_log::RECORD_BATCH_HEADER_BYTES;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

/// librdkafka's `compression.codec` names and their attribute codec ids.
const PRODUCER_CODECS: [(&str, i16); 5] = [
    ("none", 0),
    ("gzip", 1),
    ("snappy", 2),
    ("lz4", 3),
    ("zstd", 4),
];
/// Kafka's `compression.type` values and the codec each stores (`None`: the producer's).
const TOPIC_TYPES: [(&str, Option<i16>); 6] = [
    ("uncompressed", Some(0)),
    ("gzip", Some(1)),
    ("snappy", Some(2)),
    ("lz4", Some(3)),
    ("zstd", Some(4)),
    ("producer", None),
];
const RECORDS_PER_PAIR: usize = 40;

/// A compressible value, so that librdkafka does not fall back to sending a batch uncompressed.
fn value(codec: &str, i: usize) -> String {
    format!("{codec}-{i:04}-{}", "payload ".repeat(20))
}

/// What one partition holds on the wire: (codec of each batch, every record's (key, value)).
type Stored = (Vec<i16>, Vec<(Vec<u8>, Vec<u8>)>);

/// Fetches every partition of `topic` from offset 0 over the raw protocol and decodes the batches
/// (CRC-checked) with herald-log's codecs.
async fn stored(raw: &mut RawClient, topic: &str, partitions: i32) -> BTreeMap<i32, Stored> {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(64 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(
                (0..partitions)
                    .map(|p| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(0)
                            .with_partition_max_bytes(16 << 20)
                    })
                    .collect(),
            )]);
    let response: FetchResponse = raw.request(ApiKey::Fetch, 11, &request).await;
    let mut out = BTreeMap::new();
    for partition in &response.responses[0].partitions {
        assert_eq!(
            partition.error_code, 0,
            "{topic}/{}",
            partition.partition_index
        );
        let bytes = partition.records.clone().unwrap_or_default();
        let mut codecs = Vec::new();
        let mut records = Vec::new();
        for (header, range) in split_batches(&bytes).unwrap() {
            codecs.push(header.compression());
            let section = &bytes[range.start + RECORD_BATCH_HEADER_BYTES..range.end];
            let (plain, _) = decompress(header.compression(), section).unwrap();
            for record in Records::new(&plain) {
                let record = record.unwrap();
                records.push((
                    record.key.unwrap_or_default().to_vec(),
                    record.value.unwrap_or_default().to_vec(),
                ));
            }
        }
        out.insert(partition.partition_index, (codecs, records));
    }
    out
}

/// Sends `RECORDS_PER_PAIR` keyed records to partition `partition` of each topic with a producer
/// using `codec`; waits for every acknowledgement.
async fn produce_codec(bootstrap: &str, codec: &str, partition: i32, topics: &[String]) {
    let producer: FutureProducer = producer_config(bootstrap)
        .set("compression.codec", codec)
        .set("linger.ms", "20")
        .create()
        .unwrap();
    let sends = topics.iter().flat_map(|topic| {
        let producer = &producer;
        (0..RECORDS_PER_PAIR).map(move |i| {
            let key = format!("k{i}");
            let value = value(codec, i);
            async move {
                let record = FutureRecord::to(topic)
                    .partition(partition)
                    .key(&key)
                    .payload(&value);
                producer.send(record, DEADLINE).await.map_err(|(e, _)| e)
            }
        })
    });
    for delivered in join_all(sends).await {
        delivered.unwrap();
    }
}

// For every (producer codec, topic compression.type) pair, the batches stored are in the topic's
// codec (the producer's under `producer`), CRC-valid, and hold exactly the records produced; a
// librdkafka consumer reads them all back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_pair_is_stored_in_the_topics_codec() {
    let broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    let partitions = PRODUCER_CODECS.len() as i32;
    let topics: Vec<String> = TOPIC_TYPES.iter().map(|(t, _)| format!("c-{t}")).collect();
    for (topic, (compression_type, _)) in topics.iter().zip(TOPIC_TYPES) {
        create_topic(
            &bootstrap,
            topic,
            partitions,
            &[("compression.type", compression_type)],
        )
        .await;
    }
    let producing = PRODUCER_CODECS
        .iter()
        .enumerate()
        .map(|(p, (codec, _))| produce_codec(&bootstrap, codec, p as i32, &topics));
    join_all(producing).await;

    let mut raw = RawClient::connect(broker.addr()).await;
    for (topic, (compression_type, target)) in topics.iter().zip(TOPIC_TYPES) {
        let stored = stored(&mut raw, topic, partitions).await;
        for (p, (codec_name, codec)) in PRODUCER_CODECS.iter().enumerate() {
            let (codecs, records) = &stored[&(p as i32)];
            let expected_codec = target.unwrap_or(*codec);
            assert!(!codecs.is_empty(), "{codec_name} -> {compression_type}");
            assert!(
                codecs.iter().all(|c| *c == expected_codec),
                "{codec_name} -> {compression_type}: stored codecs {codecs:?}"
            );
            let expected: Vec<(Vec<u8>, Vec<u8>)> = (0..RECORDS_PER_PAIR)
                .map(|i| {
                    (
                        format!("k{i}").into_bytes(),
                        value(codec_name, i).into_bytes(),
                    )
                })
                .collect();
            assert_eq!(records, &expected, "{codec_name} -> {compression_type}");
        }
    }

    let consumer: StreamConsumer = consumer_config(&bootstrap).create().unwrap();
    let mut assignment = TopicPartitionList::new();
    for topic in &topics {
        for p in 0..partitions {
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
    }
    consumer.assign(&assignment).unwrap();
    let mut read: BTreeMap<(String, i32), Vec<String>> = BTreeMap::new();
    let total = topics.len() * PRODUCER_CODECS.len() * RECORDS_PER_PAIR;
    for _ in 0..total {
        let message = tokio::time::timeout(DEADLINE, consumer.recv())
            .await
            .expect("timed out consuming")
            .unwrap();
        let payload = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
        read.entry((message.topic().to_string(), message.partition()))
            .or_default()
            .push(payload);
    }
    for topic in &topics {
        for (p, (codec_name, _)) in PRODUCER_CODECS.iter().enumerate() {
            let expected: Vec<String> = (0..RECORDS_PER_PAIR)
                .map(|i| value(codec_name, i))
                .collect();
            assert_eq!(read[&(topic.clone(), p as i32)], expected, "{topic}/{p}");
        }
    }
}

// An idempotent producer with five requests in flight and small batches keeps working on a topic
// that recompresses every batch: every send succeeds (no OUT_OF_ORDER_SEQUENCE), offsets are
// contiguous, and the stored batches are in the topic's codec.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_keeps_its_sequences_on_a_recompressing_topic() {
    let broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    create_topic(
        &bootstrap,
        "recompressed",
        1,
        &[("compression.type", "zstd")],
    )
    .await;
    let producer: FutureProducer = producer_config(&bootstrap)
        .set("compression.codec", "lz4")
        .set("max.in.flight.requests.per.connection", "5")
        .set("batch.num.messages", "7")
        .set("linger.ms", "1")
        .create()
        .unwrap();
    const SENDS: usize = 700;
    let sends = (0..SENDS).map(|i| {
        let producer = &producer;
        async move {
            let value = value("lz4", i);
            let record = FutureRecord::to("recompressed")
                .partition(0)
                .key("k")
                .payload(&value);
            producer.send(record, DEADLINE).await.map_err(|(e, _)| e)
        }
    });
    let mut offsets: Vec<i64> = join_all(sends)
        .await
        .into_iter()
        .map(|delivered| delivered.unwrap().offset)
        .collect();
    offsets.sort_unstable();
    assert_eq!(offsets, (0..SENDS as i64).collect::<Vec<_>>());

    let mut raw = RawClient::connect(broker.addr()).await;
    let (codecs, records) = stored(&mut raw, "recompressed", 1)
        .await
        .remove(&0)
        .unwrap();
    assert!(codecs.len() > 1, "several batches: {}", codecs.len());
    assert!(codecs.iter().all(|c| *c == 4), "{codecs:?}");
    assert_eq!(records.len(), SENDS);
}

// Invalid compression values are INVALID_CONFIG at CreateTopics and AlterConfigs; a valid change
// applies live (the next batch is stored in the new codec) and DescribeConfigs reports it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_configs_are_validated_and_apply_live() {
    let broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    let admin = admin(&bootstrap);
    for (name, value) in [
        ("compression.type", "brotli"),
        ("compression.zstd.level", "23"),
        ("compression.lz4.level", "0"),
        ("compression.gzip.level", "10"),
    ] {
        let topic = NewTopic::new("refused", 1, TopicReplication::Fixed(1)).set(name, value);
        let results = admin
            .create_topics([&topic], &AdminOptions::new())
            .await
            .unwrap();
        let error = results.into_iter().next().unwrap().unwrap_err();
        assert_eq!(error.1, RDKafkaErrorCode::InvalidConfig, "{name}={value}");
    }

    create_topic(&bootstrap, "live", 1, &[]).await;
    let produce = |codec: &'static str, value: &'static str| {
        let bootstrap = bootstrap.clone();
        async move {
            let producer: FutureProducer = producer_config(&bootstrap)
                .set("compression.codec", codec)
                .create()
                .unwrap();
            let padded = format!("{value}{}", "z".repeat(200));
            producer
                .send(FutureRecord::to("live").key("k").payload(&padded), DEADLINE)
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
    };
    produce("snappy", "before").await;
    // rust-rdkafka's alter_configs reports no per-resource error: ask IncrementalAlterConfigs raw.
    let mut raw = RawClient::connect(broker.addr()).await;
    let refused = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("live"))
            .with_configs(vec![AlterableConfig::default()
                .with_name(StrBytes::from_static_str("compression.type"))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_static_str("lz5")))]),
    ]);
    let response: IncrementalAlterConfigsResponse = raw
        .request(ApiKey::IncrementalAlterConfigs, 1, &refused)
        .await;
    assert_eq!(response.responses[0].error_code, 40, "INVALID_CONFIG");
    let alter = AlterConfig::new(ResourceSpecifier::Topic("live"))
        .set("compression.type", "GZIP")
        .set("compression.gzip.level", "9");
    let results = admin
        .alter_configs([&alter], &AdminOptions::new())
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    produce("snappy", "after").await;

    let (codecs, records) = stored(&mut raw, "live", 1).await.remove(&0).unwrap();
    assert_eq!(
        codecs,
        vec![2, 1],
        "snappy as produced, then gzip after the change"
    );
    assert!(records[1].1.starts_with(b"after"));

    let described = admin
        .describe_configs([&ResourceSpecifier::Topic("live")], &AdminOptions::new())
        .await
        .unwrap();
    let resource = described.into_iter().next().unwrap().unwrap();
    let entry = |name: &str| {
        resource
            .entries
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(entry("compression.type").as_deref(), Some("gzip"));
    assert_eq!(entry("compression.gzip.level").as_deref(), Some("9"));
}
