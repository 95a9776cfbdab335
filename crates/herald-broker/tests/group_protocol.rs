//! The group APIs at the protocol level, with requests encoded by kafka-protocol: versions and error
//! codes that rdkafka hides (batched FindCoordinator/LeaveGroup/OffsetFetch, MEMBER_ID_REQUIRED, admin
//! commits, DeleteGroups and OffsetDelete rules), and admin commits surviving a restart.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::{BufMut, BytesMut};
use common::{create_topic, RawClient, TestBroker};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

fn subscription(topic: &str) -> bytes::Bytes {
    let body = ConsumerProtocolSubscription::default().with_topics(vec![s(topic)]);
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    body.encode(&mut buf, 0).unwrap();
    buf.freeze()
}

fn join_request(group: &str, member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(s(group).into())
        .with_member_id(s(member_id))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(subscription("events"))])
}

fn commit_request(
    group: &str,
    generation: i32,
    member_id: &str,
    topic: &str,
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(s(group).into())
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(s(topic).into())
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(7)
                .with_committed_metadata(Some(s("note")))])])
}

/// Joins `group` as a single member (v4: MEMBER_ID_REQUIRED first) and syncs; returns (member id,
/// generation).
async fn join_and_sync(raw: &mut RawClient, group: &str) -> (StrBytes, i32) {
    let first: JoinGroupResponse = raw
        .request(ApiKey::JoinGroup, 4, &join_request(group, ""))
        .await;
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    let joined: JoinGroupResponse = raw
        .request(ApiKey::JoinGroup, 4, &join_request(group, &first.member_id))
        .await;
    assert_eq!((joined.error_code, joined.generation_id), (NONE, 1));
    assert_eq!(joined.leader, joined.member_id);
    assert_eq!(joined.members.len(), 1);
    let sync = SyncGroupRequest::default()
        .with_group_id(s(group).into())
        .with_generation_id(1)
        .with_member_id(joined.member_id.clone());
    let synced: SyncGroupResponse = raw.request(ApiKey::SyncGroup, 3, &sync).await;
    assert_eq!(synced.error_code, NONE);
    (joined.member_id, 1)
}

// FindCoordinator names this broker for every group, single-key (v0) and batched (v4).
#[tokio::test]
async fn find_coordinator_names_this_broker() {
    let broker = TestBroker::start().await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let port = i32::from(broker.addr().port());
    let v0: FindCoordinatorResponse = raw
        .request(
            ApiKey::FindCoordinator,
            0,
            &FindCoordinatorRequest::default().with_key(s("g")),
        )
        .await;
    assert_eq!(
        (v0.error_code, v0.node_id.0, v0.port),
        (NONE, broker.config.node_id, port)
    );
    let request = FindCoordinatorRequest::default().with_coordinator_keys(vec![s("a"), s("b")]);
    let v4: FindCoordinatorResponse = raw.request(ApiKey::FindCoordinator, 4, &request).await;
    assert_eq!(v4.coordinators.len(), 2);
    assert!(v4
        .coordinators
        .iter()
        .all(|c| c.error_code == NONE && c.port == port));
}

// JoinGroup v4 asks for a member id first; bad session timeouts and stale generations are refused;
// a tool's commit (generation -1) is refused while the group has members; unknown topics are reported.
#[tokio::test]
async fn membership_errors_and_commit_rules() {
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "events", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let bad = join_request("g", "").with_session_timeout_ms(10);
    let refused: JoinGroupResponse = raw.request(ApiKey::JoinGroup, 4, &bad).await;
    assert_eq!(refused.error_code, INVALID_SESSION_TIMEOUT);
    let (member_id, generation) = join_and_sync(&mut raw, "g").await;
    let stale = HeartbeatRequest::default()
        .with_group_id(s("g").into())
        .with_generation_id(generation + 1)
        .with_member_id(member_id.clone());
    let beat: HeartbeatResponse = raw.request(ApiKey::Heartbeat, 3, &stale).await;
    assert_eq!(beat.error_code, ILLEGAL_GENERATION);

    let admin: OffsetCommitResponse = raw
        .request(
            ApiKey::OffsetCommit,
            8,
            &commit_request("g", -1, "", "events"),
        )
        .await;
    assert_eq!(admin.topics[0].partitions[0].error_code, UNKNOWN_MEMBER_ID);
    let member: OffsetCommitResponse = raw
        .request(
            ApiKey::OffsetCommit,
            8,
            &commit_request("g", generation, &member_id, "events"),
        )
        .await;
    assert_eq!(member.topics[0].partitions[0].error_code, NONE);
    let unknown: OffsetCommitResponse = raw
        .request(
            ApiKey::OffsetCommit,
            8,
            &commit_request("g", generation, &member_id, "nope"),
        )
        .await;
    assert_eq!(
        unknown.topics[0].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
}

// LeaveGroup v3 batches members with an error each; DeleteGroups refuses a live group, deletes an
// Empty one, and reports unknown ones; OffsetDelete protects subscribed topics of a live group.
#[tokio::test]
async fn leave_delete_groups_and_offset_delete() {
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "events", 1, &[]).await;
    create_topic(&broker.bootstrap(), "other", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let (member_id, generation) = join_and_sync(&mut raw, "g").await;
    for topic in ["events", "other"] {
        let commit: OffsetCommitResponse = raw
            .request(
                ApiKey::OffsetCommit,
                8,
                &commit_request("g", generation, &member_id, topic),
            )
            .await;
        assert_eq!(commit.topics[0].partitions[0].error_code, NONE);
    }
    let delete = |topic: &str| {
        OffsetDeleteRequest::default()
            .with_group_id(s("g").into())
            .with_topics(vec![OffsetDeleteRequestTopic::default()
                .with_name(s(topic).into())
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(0)
                ])])
    };
    let protected: OffsetDeleteResponse = raw
        .request(ApiKey::OffsetDelete, 0, &delete("events"))
        .await;
    assert_eq!(
        protected.topics[0].partitions[0].error_code,
        GROUP_SUBSCRIBED_TO_TOPIC
    );
    let deleted: OffsetDeleteResponse =
        raw.request(ApiKey::OffsetDelete, 0, &delete("other")).await;
    assert_eq!(
        (
            deleted.error_code,
            deleted.topics[0].partitions[0].error_code
        ),
        (NONE, NONE)
    );

    let groups =
        DeleteGroupsRequest::default().with_groups_names(vec![s("g").into(), s("missing").into()]);
    let refused: DeleteGroupsResponse = raw.request(ApiKey::DeleteGroups, 2, &groups).await;
    let codes: Vec<i16> = refused.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, vec![NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND]);

    let leave = LeaveGroupRequest::default()
        .with_group_id(s("g").into())
        .with_members(vec![
            MemberIdentity::default().with_member_id(member_id),
            MemberIdentity::default().with_member_id(s("stranger")),
        ]);
    let left: LeaveGroupResponse = raw.request(ApiKey::LeaveGroup, 3, &leave).await;
    let codes: Vec<i16> = left.members.iter().map(|m| m.error_code).collect();
    assert_eq!(
        (left.error_code, codes),
        (NONE, vec![NONE, UNKNOWN_MEMBER_ID])
    );

    let deleted: DeleteGroupsResponse = raw.request(ApiKey::DeleteGroups, 2, &groups).await;
    assert_eq!(deleted.results[0].error_code, NONE);
    let described: DescribeGroupsResponse = raw
        .request(
            ApiKey::DescribeGroups,
            5,
            &DescribeGroupsRequest::default().with_groups(vec![s("g").into()]),
        )
        .await;
    assert_eq!(described.groups[0].group_state.as_str(), "Dead");
}

// A tool's commit to an Empty group (generation -1) is durable: after a restart OffsetFetch (v1 and
// batched v8 with all partitions) returns it, and ListGroups shows the group as Empty.
#[tokio::test]
async fn admin_commit_survives_restart() {
    let mut broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "events", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let commit: OffsetCommitResponse = raw
        .request(
            ApiKey::OffsetCommit,
            2,
            &commit_request("tools", -1, "", "events"),
        )
        .await;
    assert_eq!(commit.topics[0].partitions[0].error_code, NONE);
    drop(raw);
    broker.restart().await;

    let mut raw = RawClient::connect(broker.addr()).await;
    let v1 = OffsetFetchRequest::default()
        .with_group_id(s("tools").into())
        .with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(s("events").into())
                .with_partition_indexes(vec![0, 1]),
        ]));
    let fetched: OffsetFetchResponse = raw.request(ApiKey::OffsetFetch, 1, &v1).await;
    let offsets: Vec<i64> = fetched.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(offsets, vec![7, -1]);
    let v8 = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(s("tools").into())
            .with_topics(None),
        OffsetFetchRequestGroup::default()
            .with_group_id(s("nobody").into())
            .with_topics(None),
    ]);
    let batched: OffsetFetchResponse = raw.request(ApiKey::OffsetFetch, 8, &v8).await;
    let tools = &batched.groups[0];
    assert_eq!(tools.topics[0].partitions[0].committed_offset, 7);
    assert_eq!(
        tools.topics[0].partitions[0].metadata.as_deref(),
        Some("note")
    );
    assert!(batched.groups[1].topics.is_empty());
    let listed: ListGroupsResponse = raw
        .request(
            ApiKey::ListGroups,
            4,
            &ListGroupsRequest::default().with_states_filter(vec![s("Empty")]),
        )
        .await;
    let names: Vec<&str> = listed.groups.iter().map(|g| g.group_id.as_str()).collect();
    assert_eq!(names, vec!["tools"]);
}

// Every membership API answers at every version ApiVersions advertises (a response that fails to
// encode would close the connection and fail the decode here), on success paths where it has them.
#[tokio::test]
async fn membership_apis_answer_at_every_advertised_version() {
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "events", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    for version in 0..=4 {
        let request = if version >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g")])
        } else {
            FindCoordinatorRequest::default().with_key(s("g"))
        };
        let _: FindCoordinatorResponse = raw
            .request(ApiKey::FindCoordinator, version, &request)
            .await;
    }
    for version in 0..=5 {
        let group = format!("joined-v{version}");
        let mut join = join_request(&group, "");
        if version == 0 {
            join.rebalance_timeout_ms = -1;
        }
        let mut joined: JoinGroupResponse = raw.request(ApiKey::JoinGroup, version, &join).await;
        if joined.error_code == MEMBER_ID_REQUIRED {
            join.member_id = joined.member_id.clone();
            joined = raw.request(ApiKey::JoinGroup, version, &join).await;
        }
        assert_eq!(
            (joined.error_code, joined.members.len()),
            (NONE, 1),
            "JoinGroup v{version}"
        );
        let described: DescribeGroupsResponse = raw
            .request(
                ApiKey::DescribeGroups,
                version,
                &DescribeGroupsRequest::default().with_groups(vec![s(&group).into()]),
            )
            .await;
        assert_eq!(
            described.groups[0].members.len(),
            1,
            "DescribeGroups v{version}"
        );
    }
    for version in 0..=4 {
        let sync = SyncGroupRequest::default()
            .with_group_id(s("joined-v5").into())
            .with_member_id(s("x"));
        let synced: SyncGroupResponse = raw.request(ApiKey::SyncGroup, version, &sync).await;
        assert_eq!(synced.error_code, UNKNOWN_MEMBER_ID);
        let beat = HeartbeatRequest::default()
            .with_group_id(s("joined-v5").into())
            .with_member_id(s("x"));
        let beat: HeartbeatResponse = raw.request(ApiKey::Heartbeat, version, &beat).await;
        assert_eq!(beat.error_code, UNKNOWN_MEMBER_ID);
        let leave = if version >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(s("joined-v5").into())
                .with_members(vec![MemberIdentity::default().with_member_id(s("x"))])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(s("joined-v5").into())
                .with_member_id(s("x"))
        };
        let _: LeaveGroupResponse = raw.request(ApiKey::LeaveGroup, version, &leave).await;
        let listed: ListGroupsResponse = raw
            .request(ApiKey::ListGroups, version, &ListGroupsRequest::default())
            .await;
        assert!(listed.groups.len() >= 6, "ListGroups v{version}");
    }
}

// The offset APIs answer at every advertised version too: OffsetCommit 2-9, OffsetFetch 1-9 (batched
// from v8), DeleteGroups 0-2.
#[tokio::test]
async fn offset_apis_answer_at_every_advertised_version() {
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "events", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    for version in 2..=9 {
        let commit: OffsetCommitResponse = raw
            .request(
                ApiKey::OffsetCommit,
                version,
                &commit_request("tools", -1, "", "events"),
            )
            .await;
        assert_eq!(
            commit.topics[0].partitions[0].error_code, NONE,
            "OffsetCommit v{version}"
        );
    }
    for version in 1..=9 {
        let request = if version >= 8 {
            OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(s("tools").into())
                .with_topics(None)])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(s("tools").into())
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(s("events").into())
                        .with_partition_indexes(vec![0]),
                ]))
        };
        let fetched: OffsetFetchResponse =
            raw.request(ApiKey::OffsetFetch, version, &request).await;
        let offset = if version >= 8 {
            fetched.groups[0].topics[0].partitions[0].committed_offset
        } else {
            fetched.topics[0].partitions[0].committed_offset
        };
        assert_eq!(offset, 7, "OffsetFetch v{version}");
    }
    for version in 0..=2 {
        let request = DeleteGroupsRequest::default().with_groups_names(vec![s("nobody").into()]);
        let deleted: DeleteGroupsResponse =
            raw.request(ApiKey::DeleteGroups, version, &request).await;
        assert_eq!(deleted.results[0].error_code, GROUP_ID_NOT_FOUND);
    }
}

// DescribeGroups reports each member's client id and host as Kafka does ("/" and the peer's IP), not
// a placeholder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_groups_shows_client_id_and_host() {
    let broker = TestBroker::start().await;
    let mut raw = RawClient::connect(broker.addr()).await;
    join_and_sync(&mut raw, "hosted").await;
    let described: DescribeGroupsResponse = raw
        .request(
            ApiKey::DescribeGroups,
            5,
            &DescribeGroupsRequest::default().with_groups(vec![s("hosted").into()]),
        )
        .await;
    let member = &described.groups[0].members[0];
    assert_eq!(member.client_host.as_str(), "/127.0.0.1");
    assert_eq!(member.client_id.as_str(), "raw-test");
}

// ListGroups v5 filters by group type (KIP-848): every group here is "classic", so a "consumer"
// filter lists none and a "classic" filter lists the group with its type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_groups_v5_filters_by_type() {
    let broker = TestBroker::start().await;
    let mut raw = RawClient::connect(broker.addr()).await;
    join_and_sync(&mut raw, "typed").await;
    let list = |types: &[&str]| {
        ListGroupsRequest::default().with_types_filter(types.iter().map(|t| s(t)).collect())
    };
    let classic: ListGroupsResponse = raw
        .request(ApiKey::ListGroups, 5, &list(&["classic"]))
        .await;
    assert_eq!(classic.groups.len(), 1);
    assert_eq!(classic.groups[0].group_type.as_str(), "classic");
    let consumer: ListGroupsResponse = raw
        .request(ApiKey::ListGroups, 5, &list(&["consumer"]))
        .await;
    assert!(consumer.groups.is_empty());
    let all: ListGroupsResponse = raw.request(ApiKey::ListGroups, 5, &list(&[])).await;
    assert_eq!(all.groups.len(), 1);
}
