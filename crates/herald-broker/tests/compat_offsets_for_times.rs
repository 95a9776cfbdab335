//! ListOffsets at record granularity, as Kafka answers it: a lookup by time gives the offset of the
//! first *record* at or after the time even inside a batch, and -3 (KIP-734) the first record that
//! carries the largest timestamp, for batches in every compression codec.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::{consumer_config, create_topic, producer_config, raw_produce, RawClient, TestBroker};
use futures::future::join_all;
use herald_log::batch::split_batches;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

/// librdkafka's test 0054 timestamps: one old record and one far in the future, in one batch.
const OLD_MS: i64 = 1234;
const FUTURE_MS: i64 = 999_999_999_999;
const T0: i64 = 1_700_000_000_000;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// Record batches of partition 0 from offset 0, as (base offset, record count).
async fn stored_batches(raw: &mut RawClient, topic: &str) -> Vec<(i64, i32)> {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])]);
    let response: FetchResponse = raw.request(ApiKey::Fetch, 11, &request).await;
    let records = response.responses[0].partitions[0].records.clone().unwrap();
    split_batches(&records)
        .unwrap()
        .into_iter()
        .map(|(h, _)| (h.base_offset, h.records_count))
        .collect()
}

/// (offset, timestamp) ListOffsets v7 answers for `timestamp` on partition 0.
async fn list_offset(raw: &mut RawClient, topic: &str, timestamp: i64) -> (i64, i64) {
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(timestamp)])]);
    let response: ListOffsetsResponse = raw.request(ApiKey::ListOffsets, 7, &request).await;
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    (partition.offset, partition.timestamp)
}

/// rdkafka's offsets_for_times for one timestamp on partition 0.
async fn offset_for_time(bootstrap: &str, topic: &str, timestamp: i64) -> Offset {
    let consumer: BaseConsumer = consumer_config(bootstrap).create().unwrap();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let mut query = TopicPartitionList::new();
        query
            .add_partition_offset(&topic, 0, Offset::Offset(timestamp))
            .unwrap();
        let found = consumer
            .offsets_for_times(query, Duration::from_secs(10))
            .unwrap();
        found.find_partition(&topic, 0).unwrap().offset()
    })
    .await
    .unwrap()
}

/// Produces one record per timestamp with librdkafka in `codec`, all in one batch (sent together,
/// lingering long enough to be batched).
async fn produce_one_batch(bootstrap: &str, topic: &str, codec: &str, timestamps: &[i64]) {
    let producer: FutureProducer = producer_config(bootstrap)
        .set("compression.type", codec)
        .set("linger.ms", "200")
        .create()
        .unwrap();
    let sends = timestamps.iter().enumerate().map(|(i, ts)| {
        let value = format!("record-{i} compressible compressible compressible");
        let producer = producer.clone();
        async move {
            let record = FutureRecord::<(), _>::to(topic)
                .partition(0)
                .payload(&value)
                .timestamp(*ts);
            producer.send(record, Duration::from_secs(20)).await
        }
    });
    for sent in join_all(sends).await {
        sent.map_err(|(e, _)| e).unwrap();
    }
}

// librdkafka's 0054 case in every codec librdkafka writes: records at 1234 and 999999999999 in one
// batch; asking for 999999999999 (or anything after 1234) answers offset 1, not the batch's 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_for_times_answers_the_record_inside_a_batch_in_every_codec() {
    let broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    let mut raw = RawClient::connect(broker.addr()).await;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("times-{codec}");
        create_topic(&bootstrap, &topic, 1, &[]).await;
        produce_one_batch(&bootstrap, &topic, codec, &[OLD_MS, FUTURE_MS]).await;
        assert_eq!(
            stored_batches(&mut raw, &topic).await,
            vec![(0, 2)],
            "{codec}"
        );

        assert_eq!(
            offset_for_time(&bootstrap, &topic, OLD_MS).await,
            Offset::Offset(0)
        );
        for target in [OLD_MS + 1, FUTURE_MS] {
            let found = offset_for_time(&bootstrap, &topic, target).await;
            assert_eq!(found, Offset::Offset(1), "{codec}, target {target}");
        }
        assert_eq!(
            offset_for_time(&bootstrap, &topic, FUTURE_MS + 1).await,
            Offset::End
        );
        assert_eq!(list_offset(&mut raw, &topic, -3).await, (1, FUTURE_MS));
    }
}

/// One batch whose records have these timestamps, in `compression` (kafka-protocol's encoders: the
/// Java client's framings, e.g. xerial snappy).
fn batch_with_timestamps(timestamps: &[i64], compression: Compression) -> Bytes {
    let records: Vec<Record> = timestamps
        .iter()
        .enumerate()
        .map(|(i, timestamp)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder batches only records whose offset - sequence agree.
            sequence: i as i32,
            timestamp: *timestamp,
            key: None,
            value: Some(Bytes::from(format!("value-{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.freeze()
}

// KIP-734's example: records at offsets 0, 1, 2 with timestamps +100, +400, +250 in one batch; -3
// answers offset 1 with +400, and a tie on the largest timestamp goes to the first record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_timestamp_answers_the_first_record_with_the_largest_timestamp() {
    let broker = TestBroker::start().await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let codecs = [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ];
    for (name, compression) in codecs {
        let topic = format!("max-{name}");
        create_topic(&broker.bootstrap(), &topic, 1, &[]).await;
        let timestamps = [T0 + 100, T0 + 400, T0 + 250];
        let batch = batch_with_timestamps(&timestamps, compression);
        assert_eq!(raw_produce(&mut raw, &topic, 0, batch).await.error_code, 0);
        assert_eq!(
            stored_batches(&mut raw, &topic).await,
            vec![(0, 3)],
            "{name}"
        );
        assert_eq!(
            list_offset(&mut raw, &topic, -3).await,
            (1, T0 + 400),
            "{name}"
        );
        assert_eq!(list_offset(&mut raw, &topic, T0 + 300).await, (1, T0 + 400));
        assert_eq!(list_offset(&mut raw, &topic, T0 + 101).await, (1, T0 + 400));

        let tie = batch_with_timestamps(&[T0 + 50, T0 + 400], compression);
        assert_eq!(raw_produce(&mut raw, &topic, 0, tie).await.error_code, 0);
        assert_eq!(
            list_offset(&mut raw, &topic, -3).await,
            (1, T0 + 400),
            "{name}"
        );
        assert_eq!(list_offset(&mut raw, &topic, T0 + 401).await, (-1, -1));
    }
}
