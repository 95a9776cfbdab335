//! ACLs per principal with real clients: write needs write (read-only gets TOPIC_AUTHORIZATION_FAILED
//! from rdkafka), a group needs read (else GROUP_AUTHORIZATION_FAILED), Metadata lists only topics the
//! principal may describe. Without an ACL file every authenticated user may do everything
//! (security_sasl.rs produces and consumes that way).
#![allow(clippy::unwrap_used)]

mod common;
mod security;

use common::{producer_config, TestBroker, DEADLINE};
use kafka_protocol::messages::{
    create_partitions_request, describe_configs_request, offset_delete_request,
    offset_for_leader_epoch_request, ApiKey, CreatePartitionsRequest, CreatePartitionsResponse,
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    GroupId, InitProducerIdRequest, InitProducerIdResponse, JoinGroupRequest, JoinGroupResponse,
    ListGroupsRequest, ListGroupsResponse, MetadataRequest, MetadataResponse, OffsetDeleteRequest,
    OffsetDeleteResponse, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use security::{raw_login, sasl, write_users, PASSWORD};

const ACLS: &str = "
# alice administers everything
alice  topic  *              all
alice  group  *              read
# bob reads one topic, sees another, and uses one group
bob    topic  readable       read
bob    topic  readable       describe-configs
bob    topic  visible.*      describe
bob    group  allowed-group  read
";

/// A broker with users and ACLs, and topics `readable`, `visible.one` and `secret` made by alice.
async fn acl_broker() -> TestBroker {
    let files = tempfile::tempdir().unwrap();
    let users = write_users(files.path());
    let acl = files.path().join("acl.txt");
    std::fs::write(&acl, ACLS).unwrap();
    let broker = TestBroker::start_with(|c| {
        c.sasl_users = Some(users);
        c.acl = Some(acl);
    })
    .await;
    let mut config = producer_config(&broker.bootstrap());
    sasl(&mut config, "SASL_PLAINTEXT", "PLAIN", "alice", PASSWORD);
    let producer: FutureProducer = config.create().unwrap();
    for topic in ["readable", "visible.one", "secret"] {
        producer
            .send(FutureRecord::to(topic).key("k").payload("v"), DEADLINE)
            .await
            .unwrap();
    }
    broker
}

// A principal with read but not write on a topic gets TOPIC_AUTHORIZATION_FAILED on produce.
#[tokio::test]
async fn produce_without_write_is_refused() {
    let broker = acl_broker().await;
    let mut config = producer_config(&broker.bootstrap());
    // Not idempotent: bob may write no topic at all, so InitProducerId would fail first (see below).
    config.set("enable.idempotence", "false");
    sasl(&mut config, "SASL_PLAINTEXT", "PLAIN", "bob", "bob-secret");
    let producer: FutureProducer = config.create().unwrap();
    let (error, _) = producer
        .send(FutureRecord::to("readable").key("k").payload("v"), DEADLINE)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        KafkaError::MessageProduction(RDKafkaErrorCode::TopicAuthorizationFailed)
    );
}

// JoinGroup on a group without read answers GROUP_AUTHORIZATION_FAILED; the allowed group joins.
#[tokio::test]
async fn group_without_read_is_refused() {
    let broker = acl_broker().await;
    let mut client = raw_login(broker.addr(), "bob", "bob-secret").await;
    let join = |group: &'static str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str(group)))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(StrBytes::from_static_str("consumer"))
    };
    let denied: JoinGroupResponse = client
        .request(ApiKey::JoinGroup, 5, &join("denied-group"))
        .await;
    assert_eq!(denied.error_code, 30, "GROUP_AUTHORIZATION_FAILED");
    let allowed: JoinGroupResponse = client
        .request(ApiKey::JoinGroup, 5, &join("allowed-group"))
        .await;
    assert_ne!(allowed.error_code, 30);
}

// Metadata for all topics lists only what bob may describe; naming a hidden topic answers 29;
// describe without create does not auto-create.
#[tokio::test]
async fn metadata_hides_undescribable_topics() {
    let broker = acl_broker().await;
    let mut client = raw_login(broker.addr(), "bob", "bob-secret").await;
    let all: MetadataResponse = client
        .request(
            ApiKey::Metadata,
            9,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    let mut names: Vec<String> = all
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    names.sort();
    assert_eq!(names, ["readable", "visible.one"]);
    let named: MetadataResponse = client
        .request(
            ApiKey::Metadata,
            9,
            &MetadataRequest::default().with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(kafka_protocol::messages::TopicName(
                        StrBytes::from_static_str("secret"),
                    ))),
            ])),
        )
        .await;
    assert_eq!(named.topics.len(), 1);
    assert_eq!(named.topics[0].error_code, 29, "TOPIC_AUTHORIZATION_FAILED");
    // Describe without create does not auto-create a topic.
    let missing: MetadataResponse = client
        .request(
            ApiKey::Metadata,
            9,
            &MetadataRequest::default()
                .with_allow_auto_topic_creation(true)
                .with_topics(Some(vec![
                    kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(kafka_protocol::messages::TopicName(
                            StrBytes::from_static_str("visible.new"),
                        ))),
                ])),
        )
        .await;
    assert_eq!(
        missing.topics[0].error_code, 3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert!(broker
        .handle
        .as_ref()
        .unwrap()
        .state()
        .topics
        .get("visible.new")
        .is_none());
}

fn group(name: &'static str) -> GroupId {
    GroupId(StrBytes::from_static_str(name))
}

fn topic_name(name: &'static str) -> TopicName {
    TopicName(StrBytes::from_static_str(name))
}

/// Joins `name` as a new member so the group exists.
async fn join(client: &mut common::RawClient, name: &'static str) {
    let joined: JoinGroupResponse = client
        .request(
            ApiKey::JoinGroup,
            5,
            &JoinGroupRequest::default()
                .with_group_id(group(name))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_protocol_type(StrBytes::from_static_str("consumer")),
        )
        .await;
    assert_ne!(joined.error_code, 30, "{name}: GROUP_AUTHORIZATION_FAILED");
}

// An idempotent producer needs write on some topic (KIP-679): bob, who may write none, gets
// CLUSTER_AUTHORIZATION_FAILED from InitProducerId; alice gets a producer id.
#[tokio::test]
async fn init_producer_id_needs_write_on_some_topic() {
    let broker = acl_broker().await;
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    let mut bob = raw_login(broker.addr(), "bob", "bob-secret").await;
    let denied: InitProducerIdResponse = bob.request(ApiKey::InitProducerId, 4, &request).await;
    assert_eq!(denied.error_code, 31, "CLUSTER_AUTHORIZATION_FAILED");
    assert_eq!(denied.producer_id.0, -1);
    let mut alice = raw_login(broker.addr(), "alice", PASSWORD).await;
    let allowed: InitProducerIdResponse = alice.request(ApiKey::InitProducerId, 4, &request).await;
    assert_eq!(allowed.error_code, 0);
    assert!(allowed.producer_id.0 >= 0);
}

// FindCoordinator and DescribeGroups need describe on the group (read implies it); ListGroups shows
// only describable groups; DeleteGroups and OffsetDelete need delete, which read does not give.
#[tokio::test]
async fn group_admin_apis_respect_group_acls() {
    let broker = acl_broker().await;
    let mut alice = raw_login(broker.addr(), "alice", PASSWORD).await;
    join(&mut alice, "alice-group").await;
    let mut bob = raw_login(broker.addr(), "bob", "bob-secret").await;
    join(&mut bob, "allowed-group").await;

    let find = |version: i16, keys: &[&'static str]| {
        let request = FindCoordinatorRequest::default().with_key_type(0);
        if version < 4 {
            request.with_key(StrBytes::from_static_str(keys[0]))
        } else {
            request
                .with_coordinator_keys(keys.iter().map(|k| StrBytes::from_static_str(k)).collect())
        }
    };
    let v3: FindCoordinatorResponse = bob
        .request(ApiKey::FindCoordinator, 3, &find(3, &["alice-group"]))
        .await;
    assert_eq!(v3.error_code, 30);
    let v3: FindCoordinatorResponse = bob
        .request(ApiKey::FindCoordinator, 3, &find(3, &["allowed-group"]))
        .await;
    assert_eq!(v3.error_code, 0);
    let v4: FindCoordinatorResponse = bob
        .request(
            ApiKey::FindCoordinator,
            4,
            &find(4, &["allowed-group", "alice-group"]),
        )
        .await;
    let mut codes: Vec<(String, i16)> = v4
        .coordinators
        .iter()
        .map(|c| (c.key.to_string(), c.error_code))
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            ("alice-group".to_string(), 30),
            ("allowed-group".to_string(), 0)
        ]
    );

    let described: DescribeGroupsResponse = bob
        .request(
            ApiKey::DescribeGroups,
            5,
            &DescribeGroupsRequest::default()
                .with_groups(vec![group("allowed-group"), group("alice-group")]),
        )
        .await;
    for described in &described.groups {
        let expected = if &*described.group_id == "alice-group" {
            30
        } else {
            0
        };
        assert_eq!(described.error_code, expected, "{:?}", described.group_id);
    }
    assert_eq!(described.groups.len(), 2);

    let listed = |response: ListGroupsResponse| {
        let mut names: Vec<String> = response
            .groups
            .iter()
            .map(|g| g.group_id.to_string())
            .collect();
        names.sort();
        names
    };
    let bobs: ListGroupsResponse = bob
        .request(ApiKey::ListGroups, 4, &ListGroupsRequest::default())
        .await;
    assert_eq!(listed(bobs), ["allowed-group"]);
    let alices: ListGroupsResponse = alice
        .request(ApiKey::ListGroups, 4, &ListGroupsRequest::default())
        .await;
    assert_eq!(listed(alices), ["alice-group", "allowed-group"]);

    let deleted: DeleteGroupsResponse = bob
        .request(
            ApiKey::DeleteGroups,
            2,
            &DeleteGroupsRequest::default().with_groups_names(vec![group("allowed-group")]),
        )
        .await;
    assert_eq!(deleted.results.len(), 1);
    assert_eq!(deleted.results[0].error_code, 30);
    let offsets: OffsetDeleteResponse = bob
        .request(
            ApiKey::OffsetDelete,
            0,
            &OffsetDeleteRequest::default()
                .with_group_id(group("allowed-group"))
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(topic_name("readable"))
                        .with_partitions(vec![
                            offset_delete_request::OffsetDeleteRequestPartition::default(),
                        ]),
                ]),
        )
        .await;
    assert_eq!(offsets.error_code, 30);
}

// CreatePartitions needs alter; OffsetForLeaderEpoch needs describe on the topic; DescribeConfigs
// needs describe-configs on the topic (describe or read is not enough), or on the cluster for a broker.
#[tokio::test]
async fn topic_admin_apis_respect_topic_acls() {
    let broker = acl_broker().await;
    let grow = |name: &'static str| {
        CreatePartitionsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(topic_name(name))
                    .with_count(2),
            ])
    };
    let mut bob = raw_login(broker.addr(), "bob", "bob-secret").await;
    let denied: CreatePartitionsResponse = bob
        .request(ApiKey::CreatePartitions, 1, &grow("readable"))
        .await;
    assert_eq!(denied.results[0].error_code, 29);
    let mut alice = raw_login(broker.addr(), "alice", PASSWORD).await;
    let grown: CreatePartitionsResponse = alice
        .request(ApiKey::CreatePartitions, 1, &grow("readable"))
        .await;
    assert_eq!(
        grown.results[0].error_code, 0,
        "{:?}",
        grown.results[0].error_message
    );

    let configs: DescribeConfigsResponse = bob
        .request(
            ApiKey::DescribeConfigs,
            4,
            &DescribeConfigsRequest::default().with_resources(
                [(2, "readable"), (2, "secret"), (2, "visible.one"), (4, "1")]
                    .into_iter()
                    .map(|(resource_type, name)| {
                        describe_configs_request::DescribeConfigsResource::default()
                            .with_resource_type(resource_type)
                            .with_resource_name(StrBytes::from_static_str(name))
                    })
                    .collect(),
            ),
        )
        .await;
    let mut codes: Vec<(String, i16)> = configs
        .results
        .iter()
        .map(|r| (r.resource_name.to_string(), r.error_code))
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            ("1".to_string(), 31),
            ("readable".to_string(), 0),
            ("secret".to_string(), 29),
            ("visible.one".to_string(), 29)
        ]
    );

    let epochs: OffsetForLeaderEpochResponse = bob
        .request(
            ApiKey::OffsetForLeaderEpoch,
            3,
            &OffsetForLeaderEpochRequest::default()
                .with_replica_id((-1).into())
                .with_topics(vec![
                    offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                        .with_topic(topic_name("secret"))
                        .with_partitions(vec![
                            offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                                .with_current_leader_epoch(-1),
                        ]),
                ]),
        )
        .await;
    assert_eq!(epochs.topics[0].partitions[0].error_code, 29);
}

// DeleteRecords needs DELETE on the topic: bob (read only) gets TOPIC_AUTHORIZATION_FAILED and the
// log start stays; alice (all) moves it to the high watermark.
#[tokio::test]
async fn delete_records_needs_delete_on_the_topic() {
    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
    let broker = acl_broker().await;
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("readable")))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(-1)])]);
    let mut bob = raw_login(broker.addr(), "bob", "bob-secret").await;
    let denied: DeleteRecordsResponse = bob.request(ApiKey::DeleteRecords, 2, &request).await;
    let result = &denied.topics[0].partitions[0];
    assert_eq!((result.error_code, result.low_watermark), (29, -1));
    let mut alice = raw_login(broker.addr(), "alice", PASSWORD).await;
    let allowed: DeleteRecordsResponse = alice.request(ApiKey::DeleteRecords, 2, &request).await;
    let result = &allowed.topics[0].partitions[0];
    assert_eq!(
        (result.error_code, result.low_watermark),
        (0, 1),
        "one record, all deleted"
    );
}
