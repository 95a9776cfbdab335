//! Committed offsets in the internal `__consumer_offsets` topic: Metadata marks it internal, clients
//! cannot produce to it, delete it or grow it, kcat reads the commits in Kafka's key format, a failed
//! write answers an error and leaves the previous commit in force, and a data dir with the old
//! `offsets.log` starts with its commits (migrated, also after a crash in the middle of migrating).
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{create_topic, eventually, raw_produce, record_batch, RawClient, TestBroker};
use herald_broker::coordinator::legacy_offsets::{encode_frame, LOG_FILE_NAME, OFFSETS_DIR_NAME};
use herald_broker::coordinator::{CommittedOffset, OffsetRecord};
use herald_broker::{Broker, BrokerConfig};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const OFFSETS: &str = "__consumer_offsets";
const NONE: i16 = 0;
const NOT_COORDINATOR: i16 = 16;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const TOPIC_ALREADY_EXISTS: i16 = 36;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

/// An admin commit (generation -1) of `offset` for `group` on `topic` partition 0.
async fn commit(raw: &mut RawClient, group: &str, topic: &str, offset: i64) -> i16 {
    let request = OffsetCommitRequest::default()
        .with_group_id(s(group).into())
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(s(topic).into())
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)
                .with_committed_metadata(Some(s("note")))])]);
    let response: OffsetCommitResponse = raw.request(ApiKey::OffsetCommit, 8, &request).await;
    response.topics[0].partitions[0].error_code
}

/// The committed offset of `group` on `topic` partition 0 (-1 if none).
async fn fetch(raw: &mut RawClient, group: &str, topic: &str) -> i64 {
    let request = OffsetFetchRequest::default()
        .with_group_id(s(group).into())
        .with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(s(topic).into())
                .with_partition_indexes(vec![0]),
        ]));
    let response: OffsetFetchResponse = raw.request(ApiKey::OffsetFetch, 5, &request).await;
    response.topics[0].partitions[0].committed_offset
}

// Metadata lists __consumer_offsets (created at start) with is_internal set, and other topics without;
// asking for it by name (auto-create allowed) returns the internal topic, not a new ordinary one.
#[tokio::test]
async fn metadata_marks_consumer_offsets_internal() {
    let broker = TestBroker::start_with(|c| c.offsets_topic_partitions = 3).await;
    create_topic(&broker.bootstrap(), "events", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let all: MetadataResponse = raw
        .request(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    let listed: Vec<(String, bool, usize)> = all
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().unwrap().to_string(),
                t.is_internal,
                t.partitions.len(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (OFFSETS.to_string(), true, 3),
            ("events".to_string(), false, 1)
        ]
    );
    let named: MetadataResponse = raw
        .request(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default()
                .with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(s(OFFSETS).into()))
                ]))
                .with_allow_auto_topic_creation(true),
        )
        .await;
    assert_eq!(named.topics[0].error_code, NONE);
    assert!(named.topics[0].is_internal);
    assert_eq!(named.topics[0].partitions.len(), 3);
}

// A client produce to __consumer_offsets answers INVALID_TOPIC_EXCEPTION (Kafka's "Cannot append to
// internal topic") and writes nothing; CreateTopics answers TOPIC_ALREADY_EXISTS; DeleteTopics and
// CreatePartitions are refused with INVALID_TOPIC_EXCEPTION and the topic stays.
#[tokio::test]
async fn clients_cannot_write_delete_or_grow_internal_topics() {
    let broker = TestBroker::start().await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let produced = raw_produce(&mut raw, OFFSETS, 0, record_batch(-1, -1, -1, &["x"], 1)).await;
    assert_eq!(produced.error_code, INVALID_TOPIC_EXCEPTION);
    let topic = broker
        .handle
        .as_ref()
        .unwrap()
        .state()
        .topics
        .get(OFFSETS)
        .unwrap();
    assert_eq!(topic.partition(0).unwrap().log_end_offset(), 0);

    let created: CreateTopicsResponse = raw
        .request(
            ApiKey::CreateTopics,
            5,
            &CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
                .with_name(s(OFFSETS).into())
                .with_num_partitions(1)
                .with_replication_factor(1)]),
        )
        .await;
    assert_eq!(created.topics[0].error_code, TOPIC_ALREADY_EXISTS);
    let deleted: DeleteTopicsResponse = raw
        .request(
            ApiKey::DeleteTopics,
            4,
            &DeleteTopicsRequest::default().with_topic_names(vec![s(OFFSETS).into()]),
        )
        .await;
    assert_eq!(deleted.responses[0].error_code, INVALID_TOPIC_EXCEPTION);
    let grown: CreatePartitionsResponse = raw
        .request(
            ApiKey::CreatePartitions,
            1,
            &CreatePartitionsRequest::default().with_topics(vec![CreatePartitionsTopic::default()
                .with_name(s(OFFSETS).into())
                .with_count(4)]),
        )
        .await;
    assert_eq!(grown.results[0].error_code, INVALID_TOPIC_EXCEPTION);
    assert!(broker
        .handle
        .as_ref()
        .unwrap()
        .state()
        .topics
        .get(OFFSETS)
        .is_some());
}

/// Splits kcat output written with `-f '%K %k\n'` into keys.
fn kcat_keys(mut out: &[u8]) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    while let Some(space) = out.iter().position(|&b| b == b' ') {
        let length: usize = std::str::from_utf8(&out[..space]).unwrap().parse().unwrap();
        keys.push(out[space + 1..space + 1 + length].to_vec());
        out = &out[space + 1 + length + 1..];
    }
    keys
}

/// (version, group, topic, partition) of an OffsetCommitKey.
fn decode_key(key: &[u8]) -> (i16, String, String, i32) {
    let version = i16::from_be_bytes([key[0], key[1]]);
    let group_len = i16::from_be_bytes([key[2], key[3]]) as usize;
    let group = String::from_utf8(key[4..4 + group_len].to_vec()).unwrap();
    let at = 4 + group_len;
    let topic_len = i16::from_be_bytes([key[at], key[at + 1]]) as usize;
    let topic = String::from_utf8(key[at + 2..at + 2 + topic_len].to_vec()).unwrap();
    let at = at + 2 + topic_len;
    let partition = i32::from_be_bytes(key[at..at + 4].try_into().unwrap());
    (version, group, topic, partition)
}

// `kcat -C -t __consumer_offsets -e` shows a commit, its key in Kafka's OffsetCommitKey layout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_reads_commits_from_consumer_offsets() {
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "events", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    assert_eq!(commit(&mut raw, "billing", "events", 41).await, NONE);
    let bootstrap = broker.bootstrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("kcat")
            .args([
                "-C", "-b", &bootstrap, "-t", OFFSETS, "-e", "-q", "-f", "%K %k\n",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "kcat failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let keys = kcat_keys(&output.stdout);
    assert_eq!(
        keys.iter().map(|k| decode_key(k)).collect::<Vec<_>>(),
        vec![(1, "billing".to_string(), "events".to_string(), 0)]
    );
}

// With fsyncs of the offsets partition failing (fault hook), an OffsetCommit answers NOT_COORDINATOR
// (Kafka's code for a storage error) and OffsetFetch still returns the previous commit; DeleteGroups and
// OffsetDelete answer the same error and delete nothing. Once the disk works again commits succeed.
#[tokio::test]
async fn failed_offsets_write_answers_error_and_keeps_previous_commit() {
    let broker = TestBroker::start().await; // --flush always
    create_topic(&broker.bootstrap(), "events", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    assert_eq!(commit(&mut raw, "g", "events", 5).await, NONE);
    assert_eq!(fetch(&mut raw, "g", "events").await, 5);

    let state = broker.handle.as_ref().unwrap().state().clone();
    let partition = state.topics.get(OFFSETS).unwrap().partition(0).unwrap();
    partition.fail_fsyncs(true);
    assert_eq!(commit(&mut raw, "g", "events", 9).await, NOT_COORDINATOR);
    assert_eq!(fetch(&mut raw, "g", "events").await, 5);

    let deleted: DeleteGroupsResponse = raw
        .request(
            ApiKey::DeleteGroups,
            2,
            &DeleteGroupsRequest::default().with_groups_names(vec![s("g").into()]),
        )
        .await;
    assert_eq!(deleted.results[0].error_code, NOT_COORDINATOR);
    assert_eq!(fetch(&mut raw, "g", "events").await, 5);
    let offset_delete: OffsetDeleteResponse = raw
        .request(
            ApiKey::OffsetDelete,
            0,
            &OffsetDeleteRequest::default()
                .with_group_id(s("g").into())
                .with_topics(vec![OffsetDeleteRequestTopic::default()
                    .with_name(s("events").into())
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(0)
                    ])]),
        )
        .await;
    assert_eq!(offset_delete.error_code, NOT_COORDINATOR);
    assert_eq!(fetch(&mut raw, "g", "events").await, 5);

    partition.fail_fsyncs(false);
    assert_eq!(commit(&mut raw, "g", "events", 11).await, NONE);
    assert_eq!(fetch(&mut raw, "g", "events").await, 11);
}

// Under --flush always a commit is not in memory before its fsync: while the offsets partition's fsyncs
// are held, OffsetFetch from another connection returns the previous commit, and concurrent commits of
// several groups wait; once released, one group-commit fsync (shared as with produces) answers them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_apply_after_their_shared_fsync() {
    const GROUPS: usize = 6;
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "events", 1, &[]).await;
    let addr = broker.addr();
    let mut reader = RawClient::connect(addr).await;
    assert_eq!(commit(&mut reader, "g0", "events", 5).await, NONE);
    let state = broker.handle.as_ref().unwrap().state().clone();
    let partition = state.topics.get(OFFSETS).unwrap().partition(0).unwrap();
    let (end_before, fsyncs_before) = (partition.log_end_offset(), partition.fsync_count());

    let held = partition.hold_fsyncs().await;
    let commits: Vec<_> = (0..GROUPS)
        .map(|i| {
            tokio::spawn(async move {
                let mut raw = RawClient::connect(addr).await;
                commit(&mut raw, &format!("g{i}"), "events", 9).await
            })
        })
        .collect();
    let appended = || {
        let partition = partition.clone();
        async move { (partition.log_end_offset() == end_before + GROUPS as i64).then_some(()) }
    };
    eventually("every commit appended", appended).await;
    assert_eq!(
        fetch(&mut reader, "g0", "events").await,
        5,
        "not durable yet"
    );
    drop(held);
    for commit in commits {
        assert_eq!(commit.await.unwrap(), NONE);
    }
    assert_eq!(fetch(&mut reader, "g0", "events").await, 9);
    assert_eq!(
        fetch(&mut reader, &format!("g{}", GROUPS - 1), "events").await,
        9
    );
    assert_eq!(
        partition.fsync_count() - fsyncs_before,
        1,
        "one fsync for all"
    );
}

fn old_commit(group: &str, offset: i64) -> OffsetRecord {
    OffsetRecord::Commit {
        group_id: group.to_owned(),
        topic: "events".to_owned(),
        partition: 0,
        value: CommittedOffset {
            offset,
            leader_epoch: 0,
            metadata: None,
            commit_timestamp_ms: 1,
        },
    }
}

/// Writes an `offsets.log` of the old layout under `data_dir`.
fn write_old_log(data_dir: &std::path::Path, records: &[OffsetRecord]) {
    let mut bytes = Vec::new();
    for record in records {
        encode_frame(record, &mut bytes).unwrap();
    }
    std::fs::create_dir_all(data_dir.join(OFFSETS_DIR_NAME)).unwrap();
    std::fs::write(data_dir.join(OFFSETS_DIR_NAME).join(LOG_FILE_NAME), bytes).unwrap();
}

// A data dir of the old layout (offsets.log written in the old framing) starts with its commits, the
// later commit of a key and the tombstone in force; the old directory is renamed. If the old file is
// still there at the next start (a crash before the rename), it is migrated again and nothing changes.
#[tokio::test]
async fn old_offsets_log_is_migrated_on_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = vec![
        old_commit("a", 3),
        old_commit("b", 8),
        old_commit("a", 4),
        OffsetRecord::Tombstone {
            group_id: "b".to_owned(),
            topic: "events".to_owned(),
            partition: 0,
        },
        old_commit("c", 12),
    ];
    // Commits with metadata of the largest size accepted (4096 bytes): more than max.message.bytes in
    // all, so the migration must split them into several batches.
    old.extend((0..300).map(|offset| match old_commit("big", offset) {
        OffsetRecord::Commit {
            group_id,
            topic,
            partition,
            mut value,
        } => {
            value.metadata = Some("m".repeat(4096));
            OffsetRecord::Commit {
                group_id,
                topic,
                partition,
                value,
            }
        }
        tombstone => tombstone,
    }));
    write_old_log(dir.path(), &old);
    let config = BrokerConfig {
        offsets_topic_partitions: 2,
        ..BrokerConfig::for_tests(dir.path())
    };
    for start in 0..2 {
        let handle = Broker::start(config.clone()).await.unwrap();
        let mut raw = RawClient::connect(handle.local_addr()).await;
        let offsets = (
            fetch(&mut raw, "a", "events").await,
            fetch(&mut raw, "b", "events").await,
            fetch(&mut raw, "c", "events").await,
        );
        assert_eq!(offsets, (4, -1, 12), "start {start}");
        assert_eq!(fetch(&mut raw, "big", "events").await, 299, "start {start}");
        assert!(!dir.path().join(OFFSETS_DIR_NAME).exists(), "start {start}");
        assert!(dir.path().join("__consumer_offsets.migrated").exists());
        drop(raw);
        handle.shutdown().await.unwrap();
        // As if the broker had crashed after writing the topic but before renaming the old file.
        write_old_log(dir.path(), &old);
    }
}
