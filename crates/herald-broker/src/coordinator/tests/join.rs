//! JoinGroup and the join barrier: every state transition a join, a tick or a leave causes.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::*;

// The first join of an Empty group waits the initial delay, then the group moves to CompletingRebalance
// with generation 1 and the leader (only) receives every member's metadata.
#[test]
fn first_join_waits_initial_delay_then_completes_rebalance() {
    let mut h = Harness::new();
    let first = h.join(join_request(""));
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert!(
        h.join_answer(first).is_none(),
        "answered before the initial delay"
    );
    h.advance(INITIAL_DELAY_MS - 1);
    assert!(h.join_answer(first).is_none());
    let second = h.join(join_request(""));
    // The second member extended the delay by one more delay.
    h.advance(1);
    assert!(h.join_answer(first).is_none());
    h.advance(INITIAL_DELAY_MS);
    let leader = h.join_answer(first).unwrap();
    let follower = h.join_answer(second).unwrap();
    assert_eq!(h.state(), GroupState::CompletingRebalance);
    assert_eq!((leader.generation_id, follower.generation_id), (1, 1));
    assert_eq!(leader.leader, leader.member_id);
    assert_eq!(follower.leader, leader.member_id);
    assert_eq!(leader.members.len(), 2);
    assert!(follower.members.is_empty());
    assert_eq!(leader.protocol_name.as_deref(), Some("range"));
    assert_eq!(leader.protocol_type.as_deref(), Some("consumer"));
}

// A member joining during the initial delay extends it by one more delay (up to the rebalance timeout).
#[test]
fn initial_delay_is_extended_by_late_joiners() {
    let mut h = Harness::new();
    let first = h.join(join_request(""));
    h.advance(INITIAL_DELAY_MS / 2);
    let second = h.join(join_request(""));
    h.advance(INITIAL_DELAY_MS / 2);
    assert!(h.join_answer(first).is_none(), "delay was not extended");
    h.advance(INITIAL_DELAY_MS);
    assert_eq!(h.join_answer(first).unwrap().members.len(), 2);
    assert!(h.join_answer(second).is_some());
    // Without late joiners, the delay is not extended.
    let mut alone = Harness::new();
    let only = alone.join(join_request(""));
    alone.advance(INITIAL_DELAY_MS);
    assert!(alone.join_answer(only).is_some());
}

// CompletingRebalance -> Stable: followers that sync first wait; the leader's assignment answers them.
#[test]
fn leader_sync_distributes_assignment_and_stabilises() {
    let mut h = Harness::new();
    let a = h.join(join_request(""));
    let b = h.join(join_request(""));
    h.finish_initial_delay();
    let leader = h.join_answer(a).unwrap();
    let follower = h.join_answer(b).unwrap();
    let follower_sync = h.sync(sync_request(&follower.member_id, 1, Vec::new()));
    assert!(
        h.sync_answer(follower_sync).is_none(),
        "follower answered before the leader synced"
    );
    let assignments = vec![(follower.member_id.clone(), Bytes::from_static(b"p0,p1"))];
    let leader_sync = h.sync(sync_request(&leader.member_id, 1, assignments));
    assert_eq!(h.state(), GroupState::Stable);
    assert_eq!(
        h.sync_answer(follower_sync).unwrap().assignment,
        Bytes::from_static(b"p0,p1")
    );
    // The leader left itself out: it gets an empty assignment.
    assert_eq!(h.sync_answer(leader_sync).unwrap().assignment, Bytes::new());
    // A sync after Stable returns the stored assignment at once.
    let late = h.sync(sync_request(&follower.member_id, 1, Vec::new()));
    assert_eq!(
        h.sync_answer(late).unwrap().assignment,
        Bytes::from_static(b"p0,p1")
    );
}

// Stable -> PreparingRebalance when a new member joins; the barrier completes as soon as every known
// member has rejoined, without waiting for the rebalance timeout.
#[test]
fn new_member_triggers_rebalance_that_completes_when_all_rejoin() {
    let mut h = Harness::new();
    let members = h.stable_group(2);
    let newcomer = h.join(join_request(""));
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert_eq!(
        h.heartbeat(&members[0]),
        Some(ResponseError::RebalanceInProgress)
    );
    let rejoin_a = h.join(rejoin_request(&members[0]));
    assert!(h.join_answer(newcomer).is_none());
    let rejoin_b = h.join(rejoin_request(&members[1]));
    assert_eq!(h.state(), GroupState::CompletingRebalance);
    let answers = [
        h.join_answer(rejoin_a).unwrap(),
        h.join_answer(rejoin_b).unwrap(),
        h.join_answer(newcomer).unwrap(),
    ];
    assert!(answers
        .iter()
        .all(|a| a.generation_id == 2 && a.error.is_none()));
    assert_eq!(
        answers.iter().filter(|a| !a.members.is_empty()).count(),
        1,
        "exactly one leader"
    );
    h.sync_all(&answers);
}

// The barrier's rebalance timeout drops members that did not rejoin; the rest form the next generation.
#[test]
fn barrier_timeout_drops_members_that_did_not_rejoin() {
    let mut h = Harness::new();
    let members = h.stable_group(3);
    let rejoin_a = h.join(join_request(&members[0].member_id));
    // Keep members 1 and 2 alive by heartbeats, but only member 1 rejoins.
    let rejoin_b = h.join(join_request(&members[1].member_id));
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    for _ in 0..(REBALANCE_MS / 5_000) {
        h.advance(5_000);
        let _ = h.heartbeat(&members[2]);
    }
    h.advance(1);
    assert_eq!(h.state(), GroupState::CompletingRebalance);
    let answer = h.join_answer(rejoin_a).unwrap();
    assert!(h.join_answer(rejoin_b).is_some());
    let group = h.machine.group(GROUP).unwrap();
    assert_eq!(group.members.len(), 2);
    assert!(!group.members.contains_key(&members[2].member_id));
    assert_eq!(answer.generation_id, 2);
    assert_eq!(
        h.heartbeat(&members[2]),
        Some(ResponseError::UnknownMemberId)
    );
}

// A follower rejoining a Stable group with unchanged metadata gets the current generation, no rebalance;
// the leader rejoining (or changed metadata) starts one.
#[test]
fn rejoin_in_stable_rebalances_only_for_leader_or_changed_metadata() {
    let mut h = Harness::new();
    let members = h.stable_group(2);
    let leader_id = h.machine.group(GROUP).unwrap().leader_id.clone().unwrap();
    let follower = members
        .iter()
        .find(|m| m.member_id != leader_id)
        .unwrap()
        .clone();
    let answer = h.join(rejoin_request(&follower));
    let answer = h.join_answer(answer).unwrap();
    assert_eq!((answer.generation_id, answer.error), (1, None));
    assert_eq!(h.state(), GroupState::Stable);
    let mut changed = rejoin_request(&follower);
    changed.protocols = vec![("range".to_owned(), subscription(&["events", "more"]))];
    let _ = h.join(changed);
    assert_eq!(h.state(), GroupState::PreparingRebalance);
}

// A leader that rejoins a Stable group forces a rebalance (how consumers react to new topic metadata).
#[test]
fn leader_rejoin_in_stable_forces_rebalance() {
    let mut h = Harness::new();
    let members = h.stable_group(1);
    let token = h.join(rejoin_request(&members[0]));
    assert_eq!(
        h.state(),
        GroupState::CompletingRebalance,
        "the only member rejoined: barrier done"
    );
    assert_eq!(h.join_answer(token).unwrap().generation_id, 2);
}

// A member that retries JoinGroup in CompletingRebalance with the same metadata gets the same answer
// again (it lost the first); the leader again gets the member list.
#[test]
fn rejoin_in_completing_rebalance_repeats_the_answer() {
    let mut h = Harness::new();
    let a = h.join(join_request(""));
    h.finish_initial_delay();
    let first = h.join_answer(a).unwrap();
    let again = h.join(join_request(&first.member_id));
    let again = h.join_answer(again).unwrap();
    assert_eq!(again, first);
    assert_eq!(h.state(), GroupState::CompletingRebalance);
}

// Protocol selection: only protocols every member supports qualify, and the members' votes decide.
#[test]
fn protocol_is_chosen_by_vote_among_common_protocols() {
    let mut h = Harness::new();
    let meta = subscription(&["events"]);
    let mut first = join_request("");
    first.protocols = vec![
        ("range".into(), meta.clone()),
        ("roundrobin".into(), meta.clone()),
        ("sticky".into(), meta.clone()),
    ];
    let mut second = join_request("");
    second.protocols = vec![
        ("roundrobin".into(), meta.clone()),
        ("range".into(), meta.clone()),
    ];
    let mut third = join_request("");
    third.protocols = vec![
        ("roundrobin".into(), meta.clone()),
        ("range".into(), meta.clone()),
        ("sticky".into(), meta),
    ];
    let token = h.join(first);
    h.join(second);
    h.join(third);
    h.finish_initial_delay();
    assert_eq!(
        h.join_answer(token).unwrap().protocol_name.as_deref(),
        Some("roundrobin")
    );
}

// Stable -> PreparingRebalance -> Empty when the last member leaves; the generation still advances.
#[test]
fn last_member_leaving_empties_the_group() {
    let mut h = Harness::new();
    let members = h.stable_group(1);
    let outcome = h.leave(&[LeavingMember {
        member_id: members[0].member_id.clone(),
        group_instance_id: None,
    }]);
    assert_eq!(outcome.members, vec![None]);
    assert_eq!(h.state(), GroupState::Empty);
    assert_eq!(h.machine.group(GROUP).unwrap().generation_id, 2);
}

// CompletingRebalance -> PreparingRebalance when a member leaves before the leader synced: parked
// SyncGroups are told REBALANCE_IN_PROGRESS.
#[test]
fn leave_during_completing_rebalance_restarts_the_barrier() {
    let mut h = Harness::new();
    let a = h.join(join_request(""));
    let b = h.join(join_request(""));
    let c = h.join(join_request(""));
    h.finish_initial_delay();
    let answers = [
        h.join_answer(a).unwrap(),
        h.join_answer(b).unwrap(),
        h.join_answer(c).unwrap(),
    ];
    let follower = answers.iter().find(|x| x.members.is_empty()).unwrap();
    let parked = h.sync(sync_request(&follower.member_id, 1, Vec::new()));
    let leaver = answers
        .iter()
        .find(|x| x.members.is_empty() && x.member_id != follower.member_id)
        .unwrap();
    h.leave(&[LeavingMember {
        member_id: leaver.member_id.clone(),
        group_instance_id: None,
    }]);
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert_eq!(
        h.sync_answer(parked).unwrap().error,
        Some(ResponseError::RebalanceInProgress)
    );
}

// Session timeout: a Stable member that stops heartbeating is evicted by a tick and the rest rebalance.
#[test]
fn session_timeout_evicts_silent_member() {
    let mut h = Harness::new();
    let members = h.stable_group(2);
    h.advance(i64::from(SESSION_MS) / 2);
    assert_eq!(h.heartbeat(&members[0]), None);
    h.advance(i64::from(SESSION_MS) / 2);
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    let group = h.machine.group(GROUP).unwrap();
    assert!(!group.members.contains_key(&members[1].member_id));
    assert!(group.members.contains_key(&members[0].member_id));
    let rejoin = h.join(rejoin_request(&members[0]));
    assert_eq!(h.join_answer(rejoin).unwrap().generation_id, 2);
}

// MEMBER_ID_REQUIRED (JoinGroup v4+): the member gets an id, is pending until it rejoins with it, and a
// pending id that is never used expires after the session timeout.
#[test]
fn member_id_required_then_rejoin_with_issued_id() {
    let mut h = Harness::new();
    let mut request = join_request("");
    request.require_known_member_id = true;
    let first = h.join(request.clone());
    let first = h.join_answer(first).unwrap();
    assert_eq!(first.error, Some(ResponseError::MemberIdRequired));
    assert!(!first.member_id.is_empty());
    let mut rejoin = request.clone();
    rejoin.member_id = first.member_id.clone();
    let token = h.join(rejoin);
    h.finish_initial_delay();
    let answer = h.join_answer(token).unwrap();
    assert_eq!(
        (answer.error, answer.member_id.as_str()),
        (None, first.member_id.as_str())
    );

    let abandoned = h.join(request);
    let abandoned = h.join_answer(abandoned).unwrap().member_id;
    assert!(h
        .machine
        .group(GROUP)
        .unwrap()
        .pending_members
        .contains_key(&abandoned));
    h.advance(i64::from(SESSION_MS));
    assert!(!h
        .machine
        .group(GROUP)
        .unwrap()
        .pending_members
        .contains_key(&abandoned));
}

// A leader that keeps heartbeating but never sends SyncGroup is dropped after the rebalance timeout;
// the follower parked in SyncGroup is told to rejoin and forms the next generation without it.
#[test]
fn leader_that_never_syncs_is_dropped_after_rebalance_timeout() {
    let mut h = Harness::new();
    let a = h.join(join_request(""));
    let b = h.join(join_request(""));
    h.finish_initial_delay();
    let leader = h.join_answer(a).unwrap();
    let follower = h.join_answer(b).unwrap();
    assert!(!leader.members.is_empty());
    let parked = h.sync(sync_request(&follower.member_id, 1, Vec::new()));
    let leader = Joined {
        member_id: leader.member_id,
        generation_id: 1,
    };
    for _ in 0..(REBALANCE_MS / 5_000) {
        assert_eq!(h.heartbeat(&leader), None);
        h.advance(5_000);
    }
    assert_eq!(
        h.sync_answer(parked).unwrap().error,
        Some(ResponseError::RebalanceInProgress)
    );
    assert!(!h
        .machine
        .group(GROUP)
        .unwrap()
        .members
        .contains_key(&leader.member_id));
    let rejoin = h.join(join_request(&follower.member_id));
    let answer = h.join_answer(rejoin).unwrap();
    assert_eq!(
        (answer.generation_id, answer.leader.as_str()),
        (2, follower.member_id.as_str())
    );
}
