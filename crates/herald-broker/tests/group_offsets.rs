//! Committed offsets as rdkafka consumers see them: they survive a broker restart (the group resumes
//! where it committed, nothing skipped), and a group's lag is visible through OffsetFetch + ListOffsets
//! (committed_offsets, fetch_watermarks) and DescribeGroups (fetch_group_list).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{create_topic, eventually, producer_config, TestBroker};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

const TOPIC: &str = "payments";
const GROUP: &str = "ledger";
const PARTITIONS: i32 = 6;
const PER_PARTITION: i64 = 40;
const COMMITTED: i64 = 15;
const TIMEOUT: Duration = Duration::from_secs(10);

fn consumer(bootstrap: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .set("session.timeout.ms", "3000")
        .set("heartbeat.interval.ms", "100")
        // The test commits explicitly, so what is committed is exactly what it asserts.
        .set("enable.auto.commit", "false")
        // If committed offsets were lost, the consumer would restart from 0 and the test would see it.
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "50")
        .create()
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    consumer
}

async fn produce(bootstrap: &str) {
    let producer: FutureProducer = producer_config(bootstrap).create().unwrap();
    for partition in 0..PARTITIONS {
        for i in 0..PER_PARTITION {
            let payload = format!("{partition}-{i}");
            let record = FutureRecord::<(), _>::to(TOPIC)
                .payload(&payload)
                .partition(partition);
            producer.send(record, TIMEOUT).await.unwrap();
        }
    }
}

/// Receives until `count` records arrived; returns offsets per partition in arrival order.
async fn receive(consumer: &StreamConsumer, count: usize) -> BTreeMap<i32, Vec<i64>> {
    let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let mut received = 0;
    while received < count {
        let message = tokio::time::timeout(common::DEADLINE, consumer.recv())
            .await
            .expect("records stopped arriving")
            .unwrap();
        offsets
            .entry(message.partition())
            .or_default()
            .push(message.offset());
        received += 1;
    }
    offsets
}

fn every_partition(offset: Offset) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        list.add_partition_offset(TOPIC, partition, offset).unwrap();
    }
    list
}

/// Committed offset per partition as OffsetFetch reports it.
async fn committed(consumer: StreamConsumer) -> (StreamConsumer, BTreeMap<i32, Offset>) {
    tokio::task::spawn_blocking(move || {
        let list = consumer
            .committed_offsets(every_partition(Offset::Invalid), TIMEOUT)
            .unwrap();
        let offsets = list
            .elements()
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect();
        (consumer, offsets)
    })
    .await
    .unwrap()
}

// Stop and restart the broker: the group's committed offsets are still there, and a new member resumes
// exactly from them (first record = committed offset, no gap up to the end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_resumes_from_committed_offsets_after_restart() {
    let mut broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), TOPIC, PARTITIONS, &[]).await;
    produce(&broker.bootstrap()).await;
    let first = consumer(&broker.bootstrap());
    receive(&first, (PER_PARTITION * PARTITIONS as i64) as usize).await;
    first
        .commit(
            &every_partition(Offset::Offset(COMMITTED)),
            CommitMode::Sync,
        )
        .unwrap();
    tokio::task::spawn_blocking(move || drop(first))
        .await
        .unwrap();

    broker.restart().await;

    let second = consumer(&broker.bootstrap());
    let (second, offsets) = committed(second).await;
    assert!(
        offsets.values().all(|o| *o == Offset::Offset(COMMITTED)),
        "{offsets:?}"
    );
    let remaining = ((PER_PARTITION - COMMITTED) * PARTITIONS as i64) as usize;
    let resumed = receive(&second, remaining).await;
    assert_eq!(resumed.len(), PARTITIONS as usize);
    for (partition, offsets) in &resumed {
        let expected: Vec<i64> = (COMMITTED..PER_PARTITION).collect();
        assert_eq!(
            offsets, &expected,
            "partition {partition} skipped or repeated records"
        );
    }
    tokio::task::spawn_blocking(move || drop(second))
        .await
        .unwrap();
}

// A group's lag is visible: committed offsets (OffsetFetch) against the log end (ListOffsets), and the
// group's state, members and assignments (DescribeGroups).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_is_visible_through_offset_fetch_list_offsets_and_describe_groups() {
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), TOPIC, PARTITIONS, &[]).await;
    produce(&broker.bootstrap()).await;
    let member = consumer(&broker.bootstrap());
    receive(&member, PARTITIONS as usize).await;
    member
        .commit(
            &every_partition(Offset::Offset(COMMITTED)),
            CommitMode::Sync,
        )
        .unwrap();
    let (member, offsets) = committed(member).await;
    let member = std::sync::Arc::new(member);
    for partition in 0..PARTITIONS {
        let probe = member.clone();
        let (low, high) = tokio::task::spawn_blocking(move || {
            probe.fetch_watermarks(TOPIC, partition, TIMEOUT).unwrap()
        })
        .await
        .unwrap();
        assert_eq!((low, high), (0, PER_PARTITION));
        let lag = high - offsets[&partition].to_raw().unwrap();
        assert_eq!(lag, PER_PARTITION - COMMITTED);
    }
    let probe = member.clone();
    let group = eventually("the group described as Stable", || {
        let probe = probe.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let groups = probe.fetch_group_list(Some(GROUP), TIMEOUT).unwrap();
                let group = groups.groups().first()?;
                let assigned = group
                    .members()
                    .first()?
                    .assignment()
                    .is_some_and(|a| !a.is_empty());
                let described = (
                    group.state().to_owned(),
                    group.protocol().to_owned(),
                    group.members().len(),
                );
                (described.0 == "Stable" && assigned).then_some(described)
            })
            .await
            .unwrap()
        }
    })
    .await;
    assert_eq!(group, ("Stable".to_owned(), "range".to_owned(), 1));
    drop(probe);
    let member = std::sync::Arc::try_unwrap(member).ok().unwrap();
    tokio::task::spawn_blocking(move || drop(member))
        .await
        .unwrap();
}
