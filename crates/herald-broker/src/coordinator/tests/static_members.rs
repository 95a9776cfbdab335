//! Static membership (KIP-345): group.instance.id, replacement without rebalance, FENCED_INSTANCE_ID.

use kafka_protocol::error::ResponseError;

use super::*;

fn static_request(instance: &str, member_id: &str) -> JoinRequest {
    let mut request = join_request(member_id);
    request.group_instance_id = Some(instance.to_owned());
    request.require_known_member_id = true;
    request
}

/// Two static members ("a", "b") in a Stable group; returns their join answers.
fn stable_static_group(h: &mut Harness) -> Vec<JoinOutcome> {
    let a = h.join(static_request("a", ""));
    let b = h.join(static_request("b", ""));
    h.finish_initial_delay();
    let answers = vec![h.join_answer(a).unwrap(), h.join_answer(b).unwrap()];
    h.sync_all(&answers);
    answers
}

// A static member joins without MEMBER_ID_REQUIRED; a restarted instance (unknown member id) takes over
// its slot without a rebalance, gets a new id and the old leader id, and the old id is fenced.
#[test]
fn restarted_static_member_replaces_old_one_without_rebalance() {
    let mut h = Harness::new();
    let answers = stable_static_group(&mut h);
    assert!(answers.iter().all(|a| a.error.is_none()));
    let old_a = answers[0].member_id.clone();
    let leader = answers[0].leader.clone();
    let token = h.join(static_request("a", ""));
    let replaced = h.join_answer(token).unwrap();
    assert_eq!(replaced.error, None);
    assert_ne!(replaced.member_id, old_a);
    assert_eq!(replaced.generation_id, 1);
    assert_eq!(
        replaced.leader, leader,
        "the restarted instance must not think it leads"
    );
    assert_eq!(h.state(), GroupState::Stable);
    // Its assignment is still there.
    let token = h.sync(sync_request(&replaced.member_id, 1, Vec::new()));
    assert_eq!(
        h.sync_answer(token).unwrap().assignment,
        bytes::Bytes::from(format!("assignment-of-{old_a}"))
    );
    // The old incarnation is fenced everywhere.
    let heartbeat = HeartbeatRequest {
        group_id: GROUP.to_owned(),
        generation_id: 1,
        member_id: old_a.clone(),
        group_instance_id: Some("a".to_owned()),
    };
    assert_eq!(
        h.machine.heartbeat(&heartbeat, h.now_ms),
        Some(ResponseError::FencedInstanceId)
    );
    let token = h.join(static_request("a", &old_a));
    assert_eq!(
        h.join_answer(token).unwrap().error,
        Some(ResponseError::FencedInstanceId)
    );
    let outcome = h.leave(&[LeavingMember {
        member_id: old_a,
        group_instance_id: Some("a".to_owned()),
    }]);
    assert_eq!(outcome.members, vec![Some(ResponseError::FencedInstanceId)]);
}

// A static member can leave by group.instance.id alone; the group rebalances without it.
#[test]
fn static_member_leaves_by_instance_id() {
    let mut h = Harness::new();
    stable_static_group(&mut h);
    let outcome = h.leave(&[LeavingMember {
        member_id: String::new(),
        group_instance_id: Some("b".to_owned()),
    }]);
    assert_eq!(outcome.members, vec![None]);
    let group = h.machine.group(GROUP).unwrap();
    assert_eq!(group.members.len(), 1);
    assert!(!group.static_members.contains_key("b"));
    assert_eq!(h.state(), GroupState::PreparingRebalance);
}

// A static member that misses a rebalance is kept (its session decides), unlike a dynamic one.
#[test]
fn barrier_keeps_static_members_that_did_not_rejoin() {
    let mut h = Harness::new();
    let answers = stable_static_group(&mut h);
    let rejoin = h.join(static_request("a", &answers[0].member_id));
    let b = Joined {
        member_id: answers[1].member_id.clone(),
        generation_id: 1,
    };
    for _ in 0..(REBALANCE_MS / 5_000) {
        assert_eq!(h.heartbeat(&b), Some(ResponseError::RebalanceInProgress));
        h.advance(5_000);
    }
    assert!(h.join_answer(rejoin).is_some());
    assert!(h
        .machine
        .group(GROUP)
        .unwrap()
        .members
        .contains_key(&answers[1].member_id));
}

// A static member joining with a known member id but an instance id the group does not know gets
// UNKNOWN_MEMBER_ID.
#[test]
fn unknown_instance_id_is_unknown_member() {
    let mut h = Harness::new();
    let answers = stable_static_group(&mut h);
    let token = h.join(static_request("zzz", &answers[0].member_id));
    assert_eq!(
        h.join_answer(token).unwrap().error,
        Some(ResponseError::UnknownMemberId)
    );
}
