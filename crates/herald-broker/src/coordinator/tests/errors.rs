//! Every error code the classic protocol's clients expect, each from the request and state that causes it.

use kafka_protocol::error::ResponseError;

use super::*;

fn join_error(h: &mut Harness, request: JoinRequest) -> Option<ResponseError> {
    let token = h.join(request);
    h.join_answer(token).unwrap().error
}

// INVALID_SESSION_TIMEOUT below the minimum and above the maximum.
#[test]
fn invalid_session_timeout() {
    let mut h = Harness::new();
    let mut request = join_request("");
    request.session_timeout_ms = crate::coordinator::state_machine::SESSION_TIMEOUT_MS_MIN - 1;
    assert_eq!(
        join_error(&mut h, request.clone()),
        Some(ResponseError::InvalidSessionTimeout)
    );
    request.session_timeout_ms = crate::coordinator::state_machine::SESSION_TIMEOUT_MS_MAX + 1;
    assert_eq!(
        join_error(&mut h, request),
        Some(ResponseError::InvalidSessionTimeout)
    );
    assert!(
        h.machine.group(GROUP).is_none(),
        "a rejected join must not create the group"
    );
}

// INVALID_GROUP_ID for an empty group id.
#[test]
fn invalid_group_id() {
    let mut h = Harness::new();
    let mut request = join_request("");
    request.group_id = String::new();
    assert_eq!(
        join_error(&mut h, request),
        Some(ResponseError::InvalidGroupId)
    );
}

// INCONSISTENT_GROUP_PROTOCOL: another protocol type, no protocol in common, or no protocols at all.
#[test]
fn inconsistent_group_protocol() {
    let mut h = Harness::new();
    h.stable_group(1);
    let mut other_type = join_request("");
    other_type.protocol_type = "connect".to_owned();
    assert_eq!(
        join_error(&mut h, other_type),
        Some(ResponseError::InconsistentGroupProtocol)
    );
    let mut no_common = join_request("");
    no_common.protocols = vec![("roundrobin".to_owned(), subscription(&["events"]))];
    assert_eq!(
        join_error(&mut h, no_common),
        Some(ResponseError::InconsistentGroupProtocol)
    );
    let mut fresh = Harness::new();
    let mut none = join_request("");
    none.protocols.clear();
    assert_eq!(
        join_error(&mut fresh, none),
        Some(ResponseError::InconsistentGroupProtocol)
    );
}

// UNKNOWN_MEMBER_ID: joining an unknown group with a member id, syncing or heartbeating as a stranger.
#[test]
fn unknown_member_id() {
    let mut h = Harness::new();
    assert_eq!(
        join_error(&mut h, join_request("ghost")),
        Some(ResponseError::UnknownMemberId)
    );
    let token = h.sync(sync_request("ghost", 1, Vec::new()));
    assert_eq!(
        h.sync_answer(token).unwrap().error,
        Some(ResponseError::UnknownMemberId)
    );
    h.stable_group(1);
    assert_eq!(
        join_error(&mut h, join_request("ghost")),
        Some(ResponseError::UnknownMemberId)
    );
    let ghost = Joined {
        member_id: "ghost".to_owned(),
        generation_id: 1,
    };
    assert_eq!(h.heartbeat(&ghost), Some(ResponseError::UnknownMemberId));
}

// ILLEGAL_GENERATION: heartbeat, sync and commit with a stale generation.
#[test]
fn illegal_generation() {
    let mut h = Harness::new();
    let members = h.stable_group(1);
    let stale = Joined {
        member_id: members[0].member_id.clone(),
        generation_id: 0,
    };
    assert_eq!(h.heartbeat(&stale), Some(ResponseError::IllegalGeneration));
    let token = h.sync(sync_request(&stale.member_id, 0, Vec::new()));
    assert_eq!(
        h.sync_answer(token).unwrap().error,
        Some(ResponseError::IllegalGeneration)
    );
    let commit = super::offsets::commit_request(&stale.member_id, 0, 5);
    let outcome = h.machine.commit_offsets(&commit, h.now_ms);
    assert_eq!(
        outcome.errors[0].1[0].1,
        Some(ResponseError::IllegalGeneration)
    );
    assert!(outcome.records.is_empty());
}

// REBALANCE_IN_PROGRESS: commit after JoinGroup but before SyncGroup (CompletingRebalance).
#[test]
fn commit_during_completing_rebalance_is_rebalance_in_progress() {
    let mut h = Harness::new();
    let token = h.join(join_request(""));
    h.finish_initial_delay();
    let answer = h.join_answer(token).unwrap();
    let commit = super::offsets::commit_request(&answer.member_id, answer.generation_id, 5);
    let outcome = h.machine.commit_offsets(&commit, h.now_ms);
    assert_eq!(
        outcome.errors[0].1[0].1,
        Some(ResponseError::RebalanceInProgress)
    );
}

// NON_EMPTY_GROUP and GROUP_ID_NOT_FOUND from DeleteGroups; an Empty group is deleted (Dead).
#[test]
fn delete_groups_errors_and_success() {
    let mut h = Harness::new();
    let members = h.stable_group(1);
    let ids = vec![GROUP.to_owned(), "missing".to_owned()];
    let (results, _) = h.machine.delete_groups(&ids);
    assert_eq!(results[0].1, Some(ResponseError::NonEmptyGroup));
    assert_eq!(results[1].1, Some(ResponseError::GroupIdNotFound));
    h.leave(&[LeavingMember {
        member_id: members[0].member_id.clone(),
        group_instance_id: None,
    }]);
    let (results, _) = h.machine.delete_groups(&ids[..1]);
    assert_eq!(results[0].1, None);
    assert_eq!(h.state(), GroupState::Dead);
    assert_eq!(h.machine.describe_group(GROUP).unwrap().state, "Dead");
}

// GROUP_MAX_SIZE_REACHED once a group has its maximum number of members.
#[test]
fn group_max_size_reached() {
    let mut h = Harness::new();
    for _ in 0..crate::coordinator::state_machine::GROUP_MEMBERS_MAX {
        h.join(join_request(""));
    }
    assert_eq!(
        join_error(&mut h, join_request("")),
        Some(ResponseError::GroupMaxSizeReached)
    );
}

// COORDINATOR_NOT_AVAILABLE after shutdown, for parked and for new requests.
#[test]
fn shutdown_answers_parked_requests_with_coordinator_not_available() {
    let mut h = Harness::new();
    let members = h.stable_group(1);
    let parked = h.join(join_request(""));
    let replies = h.machine.shutdown();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].token(), parked);
    assert_eq!(
        h.heartbeat(&members[0]),
        Some(ResponseError::CoordinatorNotAvailable)
    );
    assert_eq!(
        join_error(&mut h, join_request("")),
        Some(ResponseError::CoordinatorNotAvailable)
    );
    assert_eq!(
        h.machine.list_groups(&[]),
        Err(ResponseError::CoordinatorNotAvailable)
    );
}

// MEMBER_ID_REQUIRED ids count towards the limit: a client looping on JoinGroup v4 cannot grow a group
// without bound.
#[test]
fn pending_member_ids_count_towards_group_max_size() {
    let mut h = Harness::new();
    let mut request = join_request("");
    request.require_known_member_id = true;
    for _ in 0..crate::coordinator::state_machine::GROUP_MEMBERS_MAX {
        assert_eq!(
            join_error(&mut h, request.clone()),
            Some(ResponseError::MemberIdRequired)
        );
    }
    assert_eq!(
        join_error(&mut h, request),
        Some(ResponseError::GroupMaxSizeReached)
    );
}
