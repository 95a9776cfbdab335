//! Log compaction through the broker with rdkafka: on a `cleanup.policy=compact` topic the broker's
//! cleaner thread keeps the latest value per key at its original offset (also after a restart), and a
//! record without a key is refused.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    consumer_config, create_topic, eventually, producer_config, watermarks, TestBroker, DEADLINE,
};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "entities";

/// Every (offset, key, value) from the log start to `high`.
async fn read_to(bootstrap: &str, high: i64) -> Vec<(i64, String, String)> {
    let consumer: StreamConsumer = consumer_config(bootstrap).create().unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut out = Vec::new();
    while out.last().is_none_or(|(o, _, _)| o + 1 < high) {
        let m = tokio::time::timeout(DEADLINE, consumer.recv())
            .await
            .expect("timed out consuming")
            .unwrap();
        let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
        out.push((m.offset(), text(m.key()), text(m.payload())));
    }
    out
}

fn latest(records: &[(i64, String, String)]) -> BTreeMap<String, (i64, String)> {
    records
        .iter()
        .map(|(o, k, v)| (k.clone(), (*o, v.clone())))
        .collect()
}

// the cleaner thread compacts a compact topic; reads return the latest value per key at its offset
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_topic_keeps_latest_value_per_key() {
    let mut broker = TestBroker::start_with(|c| {
        c.retention_check_interval = Duration::from_millis(50);
        c.cleaner.backoff = Duration::from_millis(50);
    })
    .await;
    let bootstrap = broker.bootstrap();
    let configs = [
        ("cleanup.policy", "compact"),
        ("segment.bytes", "1024"),
        ("min.cleanable.dirty.ratio", "0.01"),
        ("retention.ms", "1"),
    ];
    create_topic(&bootstrap, TOPIC, 1, &configs).await;
    let producer: FutureProducer = producer_config(&bootstrap)
        .set("linger.ms", "0")
        .create()
        .unwrap();
    let mut produced = Vec::new();
    for version in 0..20 {
        for key in 0..5 {
            let (k, v) = (format!("user-{key}"), format!("state-{key}-{version}"));
            let record = FutureRecord::to(TOPIC).partition(0).key(&k).payload(&v);
            let offset = producer
                .send(record, DEADLINE)
                .await
                .map_err(|(e, _)| e)
                .unwrap()
                .offset;
            produced.push((offset, k, v));
        }
    }
    let high = produced.len() as i64;
    let expected = latest(&produced);
    let read = eventually("the cleaner to compact the topic", || {
        let bootstrap = bootstrap.clone();
        async move {
            let read = read_to(&bootstrap, high).await;
            (read.len() < 40).then_some(read)
        }
    })
    .await;
    assert_eq!(latest(&read), expected);
    assert_eq!(
        watermarks(&bootstrap, TOPIC, 0).await,
        (0, high),
        "retention.ms ignored"
    );

    // a keyless record is refused on a compacted topic
    let refusing: FutureProducer = producer_config(&bootstrap)
        .set("linger.ms", "0")
        .set("message.timeout.ms", "3000")
        .create()
        .unwrap();
    let keyless = FutureRecord::<(), _>::to(TOPIC)
        .partition(0)
        .payload("no key");
    let refused = refusing.send(keyless, DEADLINE).await.unwrap_err().0;
    assert!(
        matches!(
            refused,
            rdkafka::error::KafkaError::MessageProduction(
                rdkafka::error::RDKafkaErrorCode::InvalidRecord
            )
        ),
        "Kafka answers INVALID_RECORD: {refused:?}"
    );

    // after a restart the compacted log reads the same and takes new records
    broker.restart().await;
    let bootstrap = broker.bootstrap();
    assert_eq!(latest(&read_to(&bootstrap, high).await), expected);
    let producer: FutureProducer = producer_config(&bootstrap).create().unwrap();
    let record = FutureRecord::to(TOPIC)
        .partition(0)
        .key("user-0")
        .payload("after restart");
    let offset = producer
        .send(record, DEADLINE)
        .await
        .map_err(|(e, _)| e)
        .unwrap()
        .offset;
    assert_eq!(offset, high);
    broker.stop().await;
}

// a tombstone hides its key's values at once and is itself gone after delete.retention.ms
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstones_expire_after_delete_retention() {
    let mut broker = TestBroker::start_with(|c| {
        c.retention_check_interval = Duration::from_millis(50);
        c.cleaner.backoff = Duration::from_millis(50);
    })
    .await;
    let bootstrap = broker.bootstrap();
    let configs = [
        ("cleanup.policy", "compact"),
        ("segment.bytes", "1024"),
        ("min.cleanable.dirty.ratio", "0.01"),
        ("delete.retention.ms", "100"),
    ];
    create_topic(&bootstrap, TOPIC, 1, &configs).await;
    let producer: FutureProducer = producer_config(&bootstrap)
        .set("linger.ms", "0")
        .create()
        .unwrap();
    let send = |key: String, value: Option<String>| {
        let producer = producer.clone();
        async move {
            let mut record = FutureRecord::to(TOPIC).partition(0).key(&key);
            if let Some(value) = value.as_ref() {
                record = record.payload(value);
            }
            producer
                .send(record, DEADLINE)
                .await
                .map_err(|(e, _)| e)
                .unwrap()
                .offset
        }
    };
    for version in 0..5 {
        send("user-0".into(), Some(format!("state-0-{version}"))).await;
    }
    send("user-0".into(), None).await;
    let mut high = 0;
    for version in 0..30 {
        high = send("user-1".into(), Some(format!("state-1-{version}"))).await + 1;
    }
    let read = eventually("the tombstone to expire", || {
        let bootstrap = bootstrap.clone();
        async move {
            let read = read_to(&bootstrap, high).await;
            read.iter().all(|(_, k, _)| k != "user-0").then_some(read)
        }
    })
    .await;
    assert_eq!(
        latest(&read).get("user-1").map(|(_, v)| v.as_str()),
        Some("state-1-29")
    );
    broker.stop().await;
}
