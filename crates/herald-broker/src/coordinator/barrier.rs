//! The join barrier (Kafka's `DelayedJoin` and `InitialDelayedJoin`) and member removal: raising the
//! barrier, completing it into the next generation, and evicting members whose session expired.
//! Free functions over one [`Group`], called by the [`super::GroupStateMachine`]'s request handlers and tick.

use kafka_protocol::error::ResponseError;

use super::group::{Group, GroupState, InitialDelay};
use super::types::{CoordinatorConfig, JoinOutcome, Reply, SyncOutcome, UNKNOWN_MEMBER_ID};

/// What one request or tick carries through the transitions: the clock, the settings, and the answers
/// produced so far.
#[derive(Debug)]
pub(super) struct Step {
    pub now_ms: i64,
    pub config: CoordinatorConfig,
    pub replies: Vec<Reply>,
}

impl Step {
    pub fn new(now_ms: i64, config: CoordinatorConfig) -> Self {
        Self {
            now_ms,
            config,
            replies: Vec::new(),
        }
    }
}

/// Starts a rebalance unless one is already preparing.
pub(super) fn maybe_prepare_rebalance(group: &mut Group, step: &mut Step) {
    if matches!(
        group.state,
        GroupState::Empty | GroupState::CompletingRebalance | GroupState::Stable
    ) {
        prepare_rebalance(group, step);
    }
}

/// Raises the join barrier. Members waiting for a sync are told to rejoin; the first join of an Empty
/// group waits the initial delay so that more members can arrive before the first generation.
pub(super) fn prepare_rebalance(group: &mut Group, step: &mut Step) {
    if group.is(GroupState::CompletingRebalance) {
        for member in group.members.values_mut() {
            member.assignment = bytes::Bytes::new();
            if let Some(token) = member.awaiting_sync.take() {
                step.replies.push(Reply::Sync(
                    token,
                    SyncOutcome::error(ResponseError::RebalanceInProgress),
                ));
            }
        }
    }
    let rebalance_timeout_ms = group.rebalance_timeout_ms();
    if group.is(GroupState::Empty) {
        let delay_ms = step.config.initial_rebalance_delay_ms;
        group.initial_delay = Some(InitialDelay {
            delay_ms,
            remaining_ms: (rebalance_timeout_ms - delay_ms).max(0),
            new_member_added: false,
        });
        group.join_deadline_ms = Some(step.now_ms + delay_ms);
    } else {
        group.initial_delay = None;
        group.join_deadline_ms = Some(step.now_ms + rebalance_timeout_ms);
    }
    group.transition(GroupState::PreparingRebalance, step.now_ms);
}

/// Completes the barrier early when every member has rejoined (never during the initial delay).
pub(super) fn try_complete_join(group: &mut Group, step: &mut Step) {
    if group.is(GroupState::PreparingRebalance)
        && group.initial_delay.is_none()
        && group.has_all_members_joined()
    {
        complete_join(group, step);
    }
}

/// On a tick during PreparingRebalance: extend the initial delay if members keep arriving, else complete
/// the barrier once its deadline has passed or everyone has rejoined.
pub(super) fn advance_barrier(group: &mut Group, step: &mut Step) {
    let due = group
        .join_deadline_ms
        .is_some_and(|deadline| deadline <= step.now_ms);
    if let Some(delay) = group.initial_delay {
        if !due {
            return;
        }
        if delay.new_member_added && delay.remaining_ms > 0 {
            let step_ms = delay.delay_ms.min(delay.remaining_ms);
            group.initial_delay = Some(InitialDelay {
                delay_ms: delay.delay_ms,
                remaining_ms: delay.remaining_ms - step_ms,
                new_member_added: false,
            });
            group.join_deadline_ms = Some(step.now_ms + step_ms);
            return;
        }
        group.initial_delay = None;
        complete_join(group, step);
    } else if due || group.has_all_members_joined() {
        complete_join(group, step);
    }
}

/// Ends the barrier (Kafka's `onCompleteJoin`): drops dynamic members that did not rejoin, elects a leader
/// among those that did, starts the next generation and answers every parked JoinGroup.
fn complete_join(group: &mut Group, step: &mut Step) {
    let not_rejoined: Vec<String> = group
        .members
        .values()
        .filter(|m| m.awaiting_join.is_none() && m.group_instance_id.is_none())
        .map(|m| m.member_id.clone())
        .collect();
    for member_id in &not_rejoined {
        group.remove_member(member_id);
    }
    group.pending_members.clear();
    group.initial_delay = None;
    group.join_deadline_ms = None;
    if !group.members.is_empty() && group.members.values().all(|m| m.awaiting_join.is_none()) {
        // Only static members that have not rejoined remain: wait another round for them (or for their
        // sessions to expire).
        group.join_deadline_ms = Some(step.now_ms + group.rebalance_timeout_ms());
        return;
    }
    let leader_rejoined = group
        .leader_id
        .as_ref()
        .and_then(|id| group.members.get(id))
        .is_some_and(|m| m.awaiting_join.is_some());
    if !leader_rejoined {
        group.leader_id = group
            .members
            .values()
            .find(|m| m.awaiting_join.is_some())
            .map(|m| m.member_id.clone());
    }
    group.generation_id += 1;
    if group.members.is_empty() {
        group.protocol_name = None;
        group.leader_id = None;
        group.transition(GroupState::Empty, step.now_ms);
        return;
    }
    group.protocol_name = group.select_protocol();
    group.transition(GroupState::CompletingRebalance, step.now_ms);
    let all_members = group.joined_members();
    let leader = group.leader_id.clone().unwrap_or_default();
    for member in group.members.values_mut() {
        member.last_heartbeat_ms = step.now_ms;
        let Some(token) = member.awaiting_join.take() else {
            continue;
        };
        let outcome = JoinOutcome {
            error: None,
            generation_id: group.generation_id,
            protocol_type: group.protocol_type.clone(),
            protocol_name: group.protocol_name.clone(),
            leader: leader.clone(),
            member_id: member.member_id.clone(),
            members: if member.member_id == leader {
                all_members.clone()
            } else {
                Vec::new()
            },
        };
        step.replies.push(Reply::Join(token, outcome));
    }
}

/// Drops pending member ids that were never used and members whose session expired.
pub(super) fn expire_members(group: &mut Group, step: &mut Step) {
    let before = group.pending_members.len();
    group
        .pending_members
        .retain(|_, deadline_ms| *deadline_ms > step.now_ms);
    let pending_expired = group.pending_members.len() != before;
    // A generation whose SyncGroups did not all arrive within the rebalance timeout (e.g. a leader that
    // heartbeats but never sends the assignment) drops the members that did not sync (Kafka 3.x's
    // pending-sync timeout); the members parked in SyncGroup are then told to rejoin.
    let sync_overdue = group.is(GroupState::CompletingRebalance)
        && group
            .state_since_ms
            .is_some_and(|since| since + group.rebalance_timeout_ms() <= step.now_ms);
    let expired: Vec<String> = group
        .members
        .values()
        .filter(|m| !m.is_alive(step.now_ms) || (sync_overdue && m.awaiting_sync.is_none()))
        .map(|m| m.member_id.clone())
        .collect();
    for member_id in expired {
        remove_member_and_update_group(group, &member_id, step);
    }
    if pending_expired {
        try_complete_join(group, step);
    }
}

/// Removes a member (left, expired or fenced) and rebalances the rest (Kafka's
/// `removeMemberAndUpdateGroup`). A parked request of the member is answered with UNKNOWN_MEMBER_ID.
pub(super) fn remove_member_and_update_group(group: &mut Group, member_id: &str, step: &mut Step) {
    let Some(mut member) = group.remove_member(member_id) else {
        return;
    };
    if let Some(token) = member.awaiting_join.take() {
        step.replies.push(Reply::Join(
            token,
            JoinOutcome::error(UNKNOWN_MEMBER_ID, ResponseError::UnknownMemberId),
        ));
    }
    if let Some(token) = member.awaiting_sync.take() {
        step.replies.push(Reply::Sync(
            token,
            SyncOutcome::error(ResponseError::UnknownMemberId),
        ));
    }
    match group.state {
        GroupState::Stable | GroupState::CompletingRebalance => {
            prepare_rebalance(group, step);
            try_complete_join(group, step);
        }
        GroupState::PreparingRebalance => try_complete_join(group, step),
        GroupState::Empty | GroupState::Dead => {}
    }
}
