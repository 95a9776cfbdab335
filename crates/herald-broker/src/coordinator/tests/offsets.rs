//! Committed offsets: who may commit when, fetch, retention of Empty groups, OffsetDelete, list/describe.

use kafka_protocol::error::ResponseError;

use super::*;
use crate::coordinator::{CommitRequest, OffsetRecord, PartitionCommit};

/// A commit of `offset` for partition 0 of topic "events".
pub fn commit_request(member_id: &str, generation_id: i32, offset: i64) -> CommitRequest {
    CommitRequest {
        group_id: GROUP.to_owned(),
        generation_id,
        member_id: member_id.to_owned(),
        group_instance_id: None,
        topics: vec![(
            "events".to_owned(),
            vec![PartitionCommit {
                partition: 0,
                offset,
                leader_epoch: -1,
                metadata: Some(String::new()),
            }],
        )],
    }
}

fn commit(h: &mut Harness, request: &CommitRequest) -> Option<ResponseError> {
    let outcome = h.machine.commit_offsets(request, h.now_ms);
    h.machine.apply_records(&outcome.records);
    outcome.errors[0].1[0].1
}

fn committed(h: &Harness) -> Option<i64> {
    let fetched = h
        .machine
        .fetch_offsets(GROUP, Some(&[("events".to_owned(), vec![0])]));
    fetched[0].1[0].1.as_ref().map(|c| c.offset)
}

// A member with the current generation commits; the offset is visible only after apply_records.
#[test]
fn member_commit_is_applied_after_persisting() {
    let mut h = Harness::new();
    let members = h.stable_group(1);
    let outcome = h
        .machine
        .commit_offsets(&commit_request(&members[0].member_id, 1, 42), h.now_ms);
    assert_eq!(outcome.errors[0].1[0].1, None);
    assert_eq!(outcome.records.len(), 1);
    assert_eq!(committed(&h), None, "applied before it was durable");
    h.machine.apply_records(&outcome.records);
    assert_eq!(committed(&h), Some(42));
}

// Admin commits (generation -1, no member id) are accepted while the group is Empty or unknown, and
// refused with UNKNOWN_MEMBER_ID while it has members, as Kafka does.
#[test]
fn admin_commit_only_while_empty() {
    let mut h = Harness::new();
    assert_eq!(commit(&mut h, &commit_request("", -1, 7)), None);
    assert_eq!(committed(&h), Some(7));
    assert_eq!(h.state(), GroupState::Empty);
    let members = h.stable_group(1);
    assert_eq!(
        commit(&mut h, &commit_request("", -1, 9)),
        Some(ResponseError::UnknownMemberId)
    );
    assert_eq!(committed(&h), Some(7));
    h.leave(&[LeavingMember {
        member_id: members[0].member_id.clone(),
        group_instance_id: None,
    }]);
    assert_eq!(commit(&mut h, &commit_request("", -1, 9)), None);
    assert_eq!(committed(&h), Some(9));
}

// A member commit to a group that does not exist is ILLEGAL_GENERATION (a stale member).
#[test]
fn member_commit_to_unknown_group_is_illegal_generation() {
    let mut h = Harness::new();
    assert_eq!(
        commit(&mut h, &commit_request("someone", 3, 1)),
        Some(ResponseError::IllegalGeneration)
    );
}

// Commits are allowed during PreparingRebalance (the heartbeat tells the member to rejoin).
#[test]
fn commit_during_preparing_rebalance_is_accepted() {
    let mut h = Harness::new();
    let members = h.stable_group(2);
    h.join(join_request(""));
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert_eq!(
        commit(&mut h, &commit_request(&members[0].member_id, 1, 3)),
        None
    );
}

// OFFSET_METADATA_TOO_LARGE for metadata over the limit; other partitions of the request still commit.
#[test]
fn oversized_metadata_is_rejected_per_partition() {
    let mut h = Harness::new();
    let mut request = commit_request("", -1, 1);
    let big = "x".repeat(crate::coordinator::offsets::OFFSET_METADATA_BYTES_MAX + 1);
    request.topics[0].1.push(PartitionCommit {
        partition: 1,
        offset: 2,
        leader_epoch: -1,
        metadata: Some(big),
    });
    let outcome = h.machine.commit_offsets(&request, h.now_ms);
    assert_eq!(
        outcome.errors[0].1,
        vec![(0, None), (1, Some(ResponseError::OffsetMetadataTooLarge))]
    );
    assert_eq!(outcome.records.len(), 1);
}

// OffsetFetch with no topics returns every committed partition; unknown groups return nothing committed.
#[test]
fn fetch_all_partitions_and_unknown_group() {
    let mut h = Harness::new();
    let mut request = commit_request("", -1, 1);
    request.topics.push((
        "audit".to_owned(),
        vec![PartitionCommit {
            partition: 3,
            offset: 8,
            leader_epoch: 0,
            metadata: None,
        }],
    ));
    commit(&mut h, &request);
    let all = h.machine.fetch_offsets(GROUP, None);
    let flat: Vec<(String, i32, i64)> = all
        .iter()
        .flat_map(|(t, ps)| {
            ps.iter()
                .map(move |(p, c)| (t.clone(), *p, c.as_ref().unwrap().offset))
        })
        .collect();
    assert_eq!(
        flat,
        vec![("audit".to_owned(), 3, 8), ("events".to_owned(), 0, 1)]
    );
    let unknown = h
        .machine
        .fetch_offsets("nobody", Some(&[("events".to_owned(), vec![0])]));
    assert_eq!(unknown[0].1[0].1, None);
    assert!(h.machine.fetch_offsets("nobody", None).is_empty());
}

// Offsets of an Empty group expire after the retention, counted from when it became Empty; a Stable
// group's offsets do not expire.
#[test]
fn offsets_expire_only_for_empty_groups() {
    let mut h = Harness::new();
    let members = h.stable_group(1);
    assert_eq!(
        commit(&mut h, &commit_request(&members[0].member_id, 1, 5)),
        None
    );
    h.now_ms += RETENTION_MS * 2;
    assert_eq!(h.heartbeat(&members[0]), None);
    assert!(h.machine.expire_offsets(h.now_ms).is_empty());
    h.leave(&[LeavingMember {
        member_id: members[0].member_id.clone(),
        group_instance_id: None,
    }]);
    assert_eq!(h.state(), GroupState::Empty);
    h.now_ms += RETENTION_MS - 1;
    assert!(h.machine.expire_offsets(h.now_ms).is_empty());
    h.now_ms += 1;
    let tombstones = h.machine.expire_offsets(h.now_ms);
    assert_eq!(
        tombstones,
        vec![OffsetRecord::Tombstone {
            group_id: GROUP.to_owned(),
            topic: "events".to_owned(),
            partition: 0
        }]
    );
    assert_eq!(committed(&h), None);
    assert!(
        h.machine.group(GROUP).is_none(),
        "an Empty group without offsets is forgotten"
    );
}

// OffsetDelete: a live consumer group keeps offsets of subscribed topics (GROUP_SUBSCRIBED_TO_TOPIC) but
// may delete others; an unknown group is GROUP_ID_NOT_FOUND; a live non-consumer group NON_EMPTY_GROUP.
#[test]
fn offset_delete_rules() {
    let mut h = Harness::new();
    let members = h.stable_group(1);
    let mut request = commit_request(&members[0].member_id, 1, 5);
    request.topics.push((
        "other".to_owned(),
        vec![PartitionCommit {
            partition: 0,
            offset: 1,
            leader_epoch: -1,
            metadata: None,
        }],
    ));
    commit(&mut h, &request);
    let targets = vec![
        ("events".to_owned(), vec![0]),
        ("other".to_owned(), vec![0]),
    ];
    let outcome = h.machine.delete_offsets(GROUP, &targets);
    assert_eq!(outcome.error, None);
    assert_eq!(
        outcome.errors[0].1,
        vec![(0, Some(ResponseError::GroupSubscribedToTopic))]
    );
    assert_eq!(outcome.errors[1].1, vec![(0, None)]);
    assert_eq!(outcome.records.len(), 1);
    assert_eq!(committed(&h), Some(5));
    assert_eq!(
        h.machine.delete_offsets("nobody", &targets).error,
        Some(ResponseError::GroupIdNotFound)
    );

    let mut other = Harness::new();
    let mut connect = join_request("");
    connect.protocol_type = "connect".to_owned();
    other.join(connect);
    assert_eq!(
        other.machine.delete_offsets(GROUP, &targets).error,
        Some(ResponseError::NonEmptyGroup)
    );
}

// ListGroups filters by state (v4); DescribeGroups shows metadata and assignments only when Stable.
#[test]
fn list_and_describe() {
    let mut h = Harness::new();
    let members = h.stable_group(2);
    let mut simple = commit_request("", -1, 1);
    simple.group_id = "simple".to_owned();
    commit(&mut h, &simple);
    let all = h.machine.list_groups(&[]).unwrap();
    assert_eq!(
        all.iter()
            .map(|g| (g.group_id.as_str(), g.state))
            .collect::<Vec<_>>(),
        vec![(GROUP, "Stable"), ("simple", "Empty")]
    );
    let stable = h.machine.list_groups(&["stable".to_owned()]).unwrap();
    assert_eq!(stable.len(), 1);
    let summary = h.machine.describe_group(GROUP).unwrap();
    assert_eq!(
        (
            summary.state,
            summary.protocol_name.as_str(),
            summary.members.len()
        ),
        ("Stable", "range", 2)
    );
    assert!(summary
        .members
        .iter()
        .all(|m| !m.assignment.is_empty() && !m.metadata.is_empty()));
    h.join(join_request(""));
    let summary = h.machine.describe_group(GROUP).unwrap();
    assert_eq!(
        (summary.state, summary.protocol_name.as_str()),
        ("PreparingRebalance", "")
    );
    assert!(summary.members.iter().all(|m| m.assignment.is_empty()));
    let _ = members;
}
