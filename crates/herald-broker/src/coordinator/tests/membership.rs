//! SyncGroup, Heartbeat and LeaveGroup answers in each state.

use kafka_protocol::error::ResponseError;

use super::*;

// Heartbeats: NONE when Stable and while awaiting the sync, REBALANCE_IN_PROGRESS while preparing.
#[test]
fn heartbeat_answer_follows_the_group_state() {
    let mut h = Harness::new();
    let a = h.join(join_request(""));
    h.finish_initial_delay();
    let answer = h.join_answer(a).unwrap();
    let member = Joined {
        member_id: answer.member_id.clone(),
        generation_id: answer.generation_id,
    };
    assert_eq!(h.state(), GroupState::CompletingRebalance);
    assert_eq!(h.heartbeat(&member), None);
    h.sync_all(&[answer]);
    assert_eq!(h.heartbeat(&member), None);
    h.join(join_request(""));
    assert_eq!(
        h.heartbeat(&member),
        Some(ResponseError::RebalanceInProgress)
    );
}

// Heartbeats keep a member alive past its session timeout.
#[test]
fn heartbeats_keep_the_session_alive() {
    let mut h = Harness::new();
    let members = h.stable_group(1);
    for _ in 0..10 {
        h.advance(i64::from(SESSION_MS) - 1);
        assert_eq!(h.heartbeat(&members[0]), None);
    }
    assert_eq!(h.state(), GroupState::Stable);
}

// SyncGroup during PreparingRebalance gets REBALANCE_IN_PROGRESS.
#[test]
fn sync_during_preparing_rebalance_is_rejected() {
    let mut h = Harness::new();
    let members = h.stable_group(2);
    h.join(join_request(""));
    let token = h.sync(sync_request(&members[0].member_id, 1, Vec::new()));
    assert_eq!(
        h.sync_answer(token).unwrap().error,
        Some(ResponseError::RebalanceInProgress)
    );
}

// SyncGroup v5 names the protocol; a different one is INCONSISTENT_GROUP_PROTOCOL.
#[test]
fn sync_with_other_protocol_is_inconsistent() {
    let mut h = Harness::new();
    let members = h.stable_group(1);
    let mut request = sync_request(&members[0].member_id, 1, Vec::new());
    request.protocol_name = Some("roundrobin".to_owned());
    let token = h.sync(request);
    assert_eq!(
        h.sync_answer(token).unwrap().error,
        Some(ResponseError::InconsistentGroupProtocol)
    );
}

// A member that leaves cleanly is removed at once and the others rebalance without it (no timeout).
#[test]
fn clean_leave_hands_over_immediately() {
    let mut h = Harness::new();
    let members = h.stable_group(3);
    h.leave(&[LeavingMember {
        member_id: members[2].member_id.clone(),
        group_instance_id: None,
    }]);
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    let a = h.join(rejoin_request(&members[0]));
    let b = h.join(rejoin_request(&members[1]));
    assert_eq!(
        h.state(),
        GroupState::CompletingRebalance,
        "barrier waited for the member that left"
    );
    let answers = [h.join_answer(a).unwrap(), h.join_answer(b).unwrap()];
    assert!(answers.iter().all(|x| x.generation_id == 2));
    h.sync_all(&answers);
}

// LeaveGroup v3+ batches: each member gets its own error; unknown ones get UNKNOWN_MEMBER_ID, and an
// unknown group answers NONE at top level with UNKNOWN_MEMBER_ID per member, as Kafka does.
#[test]
fn batched_leave_reports_per_member() {
    let mut h = Harness::new();
    let members = h.stable_group(3);
    let outcome = h.leave(&[
        LeavingMember {
            member_id: members[0].member_id.clone(),
            group_instance_id: None,
        },
        LeavingMember {
            member_id: "nobody".to_owned(),
            group_instance_id: None,
        },
        LeavingMember {
            member_id: members[1].member_id.clone(),
            group_instance_id: None,
        },
    ]);
    assert_eq!(outcome.error, None);
    assert_eq!(
        outcome.members,
        vec![None, Some(ResponseError::UnknownMemberId), None]
    );
    assert_eq!(h.machine.group(GROUP).unwrap().members.len(), 1);
    let (unknown, _) =
        h.machine
            .leave_group("no-such-group", &[LeavingMember::default()], h.now_ms);
    assert_eq!(unknown.error, None);
    assert_eq!(unknown.members, vec![Some(ResponseError::UnknownMemberId)]);
}

// A pending member (MEMBER_ID_REQUIRED, not yet rejoined) that leaves no longer holds the barrier.
#[test]
fn pending_member_leaving_releases_the_barrier() {
    let mut h = Harness::new();
    let members = h.stable_group(1);
    let mut request = join_request("");
    request.require_known_member_id = true;
    let pending = h.join(request);
    let pending = h.join_answer(pending).unwrap().member_id;
    let rejoin = h.join(rejoin_request(&members[0]));
    assert_eq!(h.machine.group(GROUP).unwrap().pending_members.len(), 1);
    assert!(
        h.join_answer(rejoin).is_none(),
        "barrier must wait for the pending member"
    );
    let outcome = h.leave(&[LeavingMember {
        member_id: pending,
        group_instance_id: None,
    }]);
    assert_eq!(outcome.members, vec![None]);
    assert_eq!(h.join_answer(rejoin).unwrap().generation_id, 2);
}

// The next deadline is the earliest session end; a per-group tick at that instant (what a request
// about the group runs first, however late the timer is) expires the member exactly then.
#[test]
fn sessions_end_exactly_at_their_deadline() {
    let mut h = Harness::new();
    let members = h.stable_group(1);
    let started = h.now_ms;
    assert!(h.heartbeat(&members[0]).is_none());
    assert_eq!(
        h.machine.next_deadline_ms(),
        Some(started + i64::from(SESSION_MS))
    );
    let just_before = started + i64::from(SESSION_MS) - 1;
    assert!(h.machine.tick_group(GROUP, just_before).is_empty());
    assert_eq!(h.state(), GroupState::Stable);
    h.machine.tick_group(GROUP, just_before + 1);
    assert_eq!(h.state(), GroupState::Empty);
    assert_eq!(h.machine.next_deadline_ms(), None);
}
