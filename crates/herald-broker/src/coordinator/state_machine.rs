//! The group coordinator as a pure state machine: fed requests and clock ticks (`now_ms`), it returns
//! answers addressed by [`Token`] and offset records to persist. No sockets, no tasks, no real time.
//!
//! This file holds the machine, JoinGroup and the tick; `barrier` raises and completes the join barrier
//! and evicts expired sessions; `membership` holds SyncGroup, Heartbeat and LeaveGroup; `offsets` the
//! committed offsets and the admin APIs. Main type: [`GroupStateMachine`].

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;

use super::barrier::{
    advance_barrier, expire_members, maybe_prepare_rebalance, try_complete_join, Step,
};
use super::group::{Group, GroupState, Member};
use super::types::{
    CoordinatorConfig, JoinOutcome, JoinRequest, Reply, SyncOutcome, Token, UNKNOWN_MEMBER_ID,
};

/// Smallest session timeout a member may ask for. Kafka's default `group.min.session.timeout.ms` is
/// 6000; herald allows 1000 so that tests and development loops notice dead members quickly.
pub const SESSION_TIMEOUT_MS_MIN: i32 = 1_000;
/// Largest session timeout (Kafka's `group.max.session.timeout.ms`).
pub const SESSION_TIMEOUT_MS_MAX: i32 = 1_800_000;
/// Most members one group may have (Kafka's `group.max.size` is unbounded; a limit keeps memory bounded).
pub const GROUP_MEMBERS_MAX: usize = 1_000;

/// Every group this broker coordinates (all of them: one node).
#[derive(Debug)]
pub struct GroupStateMachine {
    pub(super) config: CoordinatorConfig,
    pub(super) groups: HashMap<String, Group>,
    /// False after `shutdown`: every request then gets COORDINATOR_NOT_AVAILABLE.
    pub(super) active: bool,
    /// Distinguishes member ids of this run from ids issued before a restart.
    incarnation: u64,
    next_member_seq: u64,
}

impl GroupStateMachine {
    /// A machine with no groups; `incarnation` must differ between runs of the broker (member ids embed it).
    pub fn new(config: CoordinatorConfig, incarnation: u64) -> Self {
        Self {
            config,
            groups: HashMap::new(),
            active: true,
            incarnation,
            next_member_seq: 0,
        }
    }

    /// The group, if it exists.
    pub fn group(&self, group_id: &str) -> Option<&Group> {
        self.groups.get(group_id)
    }

    /// Handles a JoinGroup. The answer for `token` is either in the returned replies or comes later (from
    /// another request or a tick) once the join barrier completes.
    pub fn join_group(&mut self, token: Token, request: JoinRequest, now_ms: i64) -> Vec<Reply> {
        let member_id = request.member_id.clone();
        let reject = |error| vec![Reply::Join(token, JoinOutcome::error(&member_id, error))];
        if !self.active {
            return reject(ResponseError::CoordinatorNotAvailable);
        }
        if request.group_id.is_empty() {
            return reject(ResponseError::InvalidGroupId);
        }
        if !(SESSION_TIMEOUT_MS_MIN..=SESSION_TIMEOUT_MS_MAX).contains(&request.session_timeout_ms)
        {
            return reject(ResponseError::InvalidSessionTimeout);
        }
        let is_unknown = request.member_id == UNKNOWN_MEMBER_ID;
        if !self.groups.contains_key(&request.group_id) {
            if !is_unknown {
                return reject(ResponseError::UnknownMemberId);
            }
            self.groups.insert(
                request.group_id.clone(),
                Group::new(&request.group_id, Some(now_ms)),
            );
        }
        let member_id = self.next_member_id(&request);
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            return reject(ResponseError::CoordinatorNotAvailable);
        };
        let mut step = Step::new(now_ms, self.config);
        if is_unknown {
            // Pending ids count too: a client looping on MEMBER_ID_REQUIRED must not grow the group.
            if group.members.len() + group.pending_members.len() >= GROUP_MEMBERS_MAX {
                return reject(ResponseError::GroupMaxSizeReached);
            }
            join_unknown_member(group, token, request, member_id, &mut step);
        } else {
            join_known_member(group, token, request, &mut step);
        }
        try_complete_join(group, &mut step);
        step.replies
    }

    /// Advances time: expires pending member ids and sessions, and completes join barriers whose deadline
    /// has passed.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Reply> {
        let mut step = Step::new(now_ms, self.config);
        for group in self.groups.values_mut() {
            expire_members(group, &mut step);
            if group.is(GroupState::PreparingRebalance) {
                advance_barrier(group, &mut step);
            }
        }
        step.replies
    }

    /// Advances time for one group only: what [`GroupStateMachine::tick`] does, before a request about
    /// `group_id` is answered, so that no answer shows a member whose session has expired, however
    /// late the timer runs (Kafka expires sessions at their deadline; a busy broker's timer may not).
    pub fn tick_group(&mut self, group_id: &str, now_ms: i64) -> Vec<Reply> {
        let mut step = Step::new(now_ms, self.config);
        if let Some(group) = self.groups.get_mut(group_id) {
            expire_members(group, &mut step);
            if group.is(GroupState::PreparingRebalance) {
                advance_barrier(group, &mut step);
            }
        }
        step.replies
    }

    /// The earliest time at which a tick has something to do: a session, a pending member id, a join
    /// barrier or a sync that runs out. `None` when nothing is due ever (no group with members).
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.groups
            .values()
            .filter_map(Group::next_deadline_ms)
            .min()
    }

    /// Stops the machine (broker shutdown): every parked JoinGroup/SyncGroup is answered with
    /// COORDINATOR_NOT_AVAILABLE so that clients look for the coordinator again.
    pub fn shutdown(&mut self) -> Vec<Reply> {
        self.active = false;
        let mut replies = Vec::new();
        for member in self
            .groups
            .values_mut()
            .flat_map(|group| group.members.values_mut())
        {
            if let Some(token) = member.awaiting_join.take() {
                let outcome =
                    JoinOutcome::error(&member.member_id, ResponseError::CoordinatorNotAvailable);
                replies.push(Reply::Join(token, outcome));
            }
            if let Some(token) = member.awaiting_sync.take() {
                replies.push(Reply::Sync(
                    token,
                    SyncOutcome::error(ResponseError::CoordinatorNotAvailable),
                ));
            }
        }
        replies
    }

    /// A member id unique across restarts: `{client_id or instance id}-{incarnation}-{sequence}`.
    fn next_member_id(&mut self, request: &JoinRequest) -> String {
        self.next_member_seq += 1;
        let prefix = request
            .group_instance_id
            .as_deref()
            .unwrap_or(&request.client_id);
        format!(
            "{prefix}-{:016x}-{:08x}",
            self.incarnation, self.next_member_seq
        )
    }
}

/// A member without an id: a static member replacing its previous incarnation, a dynamic member told to
/// rejoin with an id (v4+), or a new member added right away (v0-3).
fn join_unknown_member(
    group: &mut Group,
    token: Token,
    request: JoinRequest,
    new_member_id: String,
    step: &mut Step,
) {
    if group.is(GroupState::Dead) {
        step.replies.push(Reply::Join(
            token,
            JoinOutcome::error(UNKNOWN_MEMBER_ID, ResponseError::CoordinatorNotAvailable),
        ));
    } else if !group.supports_protocols(&request.protocol_type, &request.protocols) {
        step.replies.push(Reply::Join(
            token,
            JoinOutcome::error(UNKNOWN_MEMBER_ID, ResponseError::InconsistentGroupProtocol),
        ));
    } else if let Some(old_member_id) = request
        .group_instance_id
        .as_ref()
        .and_then(|instance| group.static_members.get(instance))
        .cloned()
    {
        replace_static_member(group, token, request, (&old_member_id, new_member_id), step);
    } else if request.require_known_member_id && request.group_instance_id.is_none() {
        let deadline_ms = step.now_ms + i64::from(request.session_timeout_ms);
        group
            .pending_members
            .insert(new_member_id.clone(), deadline_ms);
        step.replies.push(Reply::Join(
            token,
            JoinOutcome::error(&new_member_id, ResponseError::MemberIdRequired),
        ));
    } else {
        add_member_and_rebalance(group, token, request, new_member_id, step);
    }
}

/// A member rejoining with the id it was given.
fn join_known_member(group: &mut Group, token: Token, request: JoinRequest, step: &mut Step) {
    let member_id = request.member_id.clone();
    let reject = |error| Reply::Join(token, JoinOutcome::error(&member_id, error));
    let instance = request.group_instance_id.as_deref();
    if group.is(GroupState::Dead) {
        step.replies
            .push(reject(ResponseError::CoordinatorNotAvailable));
    } else if !group.supports_protocols(&request.protocol_type, &request.protocols) {
        step.replies
            .push(reject(ResponseError::InconsistentGroupProtocol));
    } else if group.pending_members.contains_key(&member_id) && instance.is_none() {
        group.pending_members.remove(&member_id);
        add_member_and_rebalance(group, token, request, member_id, step);
    } else if group.is_static_member_fenced(&member_id, instance) {
        step.replies.push(reject(ResponseError::FencedInstanceId));
    } else if !group.members.contains_key(&member_id)
        || instance.is_some_and(|instance| !group.static_members.contains_key(instance))
    {
        step.replies.push(reject(ResponseError::UnknownMemberId));
    } else {
        rejoin_member(group, token, request, step);
    }
}

/// A known member's JoinGroup, by group state (Kafka's `doJoinGroup` for an existing member).
fn rejoin_member(group: &mut Group, token: Token, request: JoinRequest, step: &mut Step) {
    let member_id = request.member_id.clone();
    let Some(member) = group.members.get(&member_id) else {
        return;
    };
    let unchanged = member.matches(&request.protocols);
    let current = |group: &Group, with_members: bool| JoinOutcome {
        error: None,
        generation_id: group.generation_id,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        leader: group.leader_id.clone().unwrap_or_default(),
        member_id: member_id.clone(),
        members: if with_members {
            group.joined_members()
        } else {
            Vec::new()
        },
    };
    match group.state {
        GroupState::PreparingRebalance => update_member_and_rebalance(group, token, request, step),
        GroupState::CompletingRebalance if unchanged => {
            // The member lost its JoinGroup response: answer again for the current generation.
            let with_members = group.is_leader(&member_id);
            step.replies
                .push(Reply::Join(token, current(group, with_members)));
        }
        GroupState::Stable if unchanged && !group.is_leader(&member_id) => {
            step.replies.push(Reply::Join(token, current(group, false)));
        }
        // Changed metadata, or the leader asking for a new assignment (e.g. topic metadata changed).
        GroupState::CompletingRebalance | GroupState::Stable => {
            update_member_and_rebalance(group, token, request, step);
        }
        GroupState::Empty | GroupState::Dead => {
            step.replies.push(Reply::Join(
                token,
                JoinOutcome::error(&member_id, ResponseError::UnknownMemberId),
            ));
        }
    }
}

/// A static member rejoining without its member id (a restarted instance): the new id replaces the old one
/// and the old one is fenced. In Stable/CompletingRebalance no rebalance happens (KIP-345).
fn replace_static_member(
    group: &mut Group,
    token: Token,
    request: JoinRequest,
    (old_member_id, new_member_id): (&str, String),
    step: &mut Step,
) {
    let Some(mut member) = group.members.shift_remove(old_member_id) else {
        return;
    };
    if let Some(old) = member.awaiting_join.take() {
        step.replies.push(Reply::Join(
            old,
            JoinOutcome::error(old_member_id, ResponseError::FencedInstanceId),
        ));
    }
    if let Some(old) = member.awaiting_sync.take() {
        step.replies.push(Reply::Sync(
            old,
            SyncOutcome::error(ResponseError::FencedInstanceId),
        ));
    }
    let previous_leader = group.leader_id.clone().unwrap_or_default();
    if group.is_leader(old_member_id) {
        group.leader_id = Some(new_member_id.clone());
    }
    member.member_id = new_member_id.clone();
    member.protocols = request.protocols;
    member.session_timeout_ms = request.session_timeout_ms;
    member.rebalance_timeout_ms = request.rebalance_timeout_ms;
    member.last_heartbeat_ms = step.now_ms;
    if let Some(instance) = &member.group_instance_id {
        group
            .static_members
            .insert(instance.clone(), new_member_id.clone());
    }
    if group.is(GroupState::PreparingRebalance) {
        member.awaiting_join = Some(token);
        group.members.insert(new_member_id, member);
        return;
    }
    group.members.insert(new_member_id.clone(), member);
    // The old leader id is returned on purpose: the restarted instance must not think it leads and
    // compute an assignment that a Stable group would never distribute.
    step.replies.push(Reply::Join(
        token,
        JoinOutcome {
            error: None,
            generation_id: group.generation_id,
            protocol_type: group.protocol_type.clone(),
            protocol_name: group.protocol_name.clone(),
            leader: previous_leader,
            member_id: new_member_id,
            members: Vec::new(),
        },
    ));
}

/// Adds a new member parked in the barrier and starts (or extends) a rebalance.
fn add_member_and_rebalance(
    group: &mut Group,
    token: Token,
    request: JoinRequest,
    member_id: String,
    step: &mut Step,
) {
    if group.members.is_empty() {
        group.protocol_type = Some(request.protocol_type.clone());
    }
    if let Some(delay) = group.initial_delay.as_mut() {
        delay.new_member_added = true;
    }
    if let Some(instance) = &request.group_instance_id {
        group
            .static_members
            .insert(instance.clone(), member_id.clone());
    }
    if group.leader_id.is_none() {
        group.leader_id = Some(member_id.clone());
    }
    let member = Member {
        member_id: member_id.clone(),
        group_instance_id: request.group_instance_id,
        client_id: request.client_id,
        client_host: request.client_host,
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        protocols: request.protocols,
        assignment: bytes::Bytes::new(),
        last_heartbeat_ms: step.now_ms,
        awaiting_join: Some(token),
        awaiting_sync: None,
    };
    group.members.insert(member_id, member);
    maybe_prepare_rebalance(group, step);
}

/// Records a known member's new protocols, parks its join, and starts a rebalance if none is running.
fn update_member_and_rebalance(
    group: &mut Group,
    token: Token,
    request: JoinRequest,
    step: &mut Step,
) {
    if let Some(member) = group.members.get_mut(&request.member_id) {
        if let Some(previous) = member.awaiting_join.replace(token) {
            // A client that retried its JoinGroup: the older request is superseded.
            let outcome =
                JoinOutcome::error(&request.member_id, ResponseError::RebalanceInProgress);
            step.replies.push(Reply::Join(previous, outcome));
        }
        member.protocols = request.protocols;
        member.session_timeout_ms = request.session_timeout_ms;
        member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        member.last_heartbeat_ms = step.now_ms;
    }
    maybe_prepare_rebalance(group, step);
}
