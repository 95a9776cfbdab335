//! SyncGroup, Heartbeat and LeaveGroup on the [`GroupStateMachine`]: the requests of members that already
//! joined. Pure; JoinGroup and the barrier live in `state_machine`.

use kafka_protocol::error::ResponseError;

use super::barrier::{remove_member_and_update_group, try_complete_join, Step};
use super::group::{Group, GroupState};
use super::state_machine::GroupStateMachine;
use super::types::{
    ErrorCode, HeartbeatRequest, LeaveOutcome, LeavingMember, Reply, SyncOutcome, SyncRequest,
    Token, UNKNOWN_MEMBER_ID,
};

impl GroupStateMachine {
    /// Handles a SyncGroup. The leader's assignment answers every parked follower; a follower that syncs
    /// before the leader waits (its answer comes with the leader's request).
    pub fn sync_group(&mut self, token: Token, request: SyncRequest, now_ms: i64) -> Vec<Reply> {
        let reject = |error| vec![Reply::Sync(token, SyncOutcome::error(error))];
        let group = match self.current_member(
            &request.group_id,
            &request.member_id,
            request.group_instance_id.as_deref(),
            request.generation_id,
        ) {
            Ok(group) => group,
            Err(error) => return reject(error),
        };
        if let Some(error) = check_protocol(group, &request) {
            return reject(error);
        }
        match group.state {
            GroupState::Empty => reject(ResponseError::UnknownMemberId),
            GroupState::Dead => reject(ResponseError::CoordinatorNotAvailable),
            GroupState::PreparingRebalance => reject(ResponseError::RebalanceInProgress),
            GroupState::Stable => {
                let Some(member) = group.members.get_mut(&request.member_id) else {
                    return reject(ResponseError::UnknownMemberId);
                };
                member.last_heartbeat_ms = now_ms;
                let assignment = member.assignment.clone();
                vec![Reply::Sync(token, sync_outcome(group, assignment))]
            }
            GroupState::CompletingRebalance => {
                let mut replies = Vec::new();
                if let Some(member) = group.members.get_mut(&request.member_id) {
                    if let Some(previous) = member.awaiting_sync.replace(token) {
                        replies.push(Reply::Sync(
                            previous,
                            SyncOutcome::error(ResponseError::RebalanceInProgress),
                        ));
                    }
                }
                if group.is_leader(&request.member_id) {
                    distribute_assignment(group, request.assignments, now_ms, &mut replies);
                }
                replies
            }
        }
    }

    /// Handles a Heartbeat: refreshes the member's session and tells it whether a rebalance is running.
    pub fn heartbeat(&mut self, request: &HeartbeatRequest, now_ms: i64) -> ErrorCode {
        let group = match self.current_member(
            &request.group_id,
            &request.member_id,
            request.group_instance_id.as_deref(),
            request.generation_id,
        ) {
            Ok(group) => group,
            Err(error) => return Some(error),
        };
        let state = group.state;
        if let Some(member) = group.members.get_mut(&request.member_id) {
            member.last_heartbeat_ms = now_ms;
        }
        match state {
            GroupState::Empty => Some(ResponseError::UnknownMemberId),
            GroupState::Dead => Some(ResponseError::CoordinatorNotAvailable),
            GroupState::PreparingRebalance => Some(ResponseError::RebalanceInProgress),
            // Members heartbeat between their JoinGroup answer and SyncGroup: that is normal (Kafka 2.5+).
            GroupState::CompletingRebalance | GroupState::Stable => None,
        }
    }

    /// The group of a member that names itself and its generation (SyncGroup, Heartbeat), or the
    /// error to answer: coordinator inactive, empty group id, unknown group or member, fenced static
    /// member, or another generation.
    fn current_member(
        &mut self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<&mut Group, ResponseError> {
        if !self.active {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let group = self
            .groups
            .get_mut(group_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if let Some(error) = validate_member(group, member_id, group_instance_id) {
            return Err(error);
        }
        if generation_id != group.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(group)
    }

    /// Handles a LeaveGroup (one member before v3, a batch after): each leaving member is removed and the
    /// rest rebalance at once, without waiting for a session timeout.
    pub fn leave_group(
        &mut self,
        group_id: &str,
        leaving: &[LeavingMember],
        now_ms: i64,
    ) -> (LeaveOutcome, Vec<Reply>) {
        let top_level = |error| {
            (
                LeaveOutcome {
                    error: Some(error),
                    members: Vec::new(),
                },
                Vec::new(),
            )
        };
        if !self.active {
            return top_level(ResponseError::CoordinatorNotAvailable);
        }
        if group_id.is_empty() {
            return top_level(ResponseError::InvalidGroupId);
        }
        let config = self.config;
        let Some(group) = self.groups.get_mut(group_id) else {
            let members = leaving
                .iter()
                .map(|_| Some(ResponseError::UnknownMemberId))
                .collect();
            return (
                LeaveOutcome {
                    error: None,
                    members,
                },
                Vec::new(),
            );
        };
        if group.is(GroupState::Dead) {
            return top_level(ResponseError::CoordinatorNotAvailable);
        }
        let mut step = Step::new(now_ms, config);
        let mut members = Vec::with_capacity(leaving.len());
        for member in leaving {
            let instance = member.group_instance_id.as_deref();
            let error = if member.member_id != UNKNOWN_MEMBER_ID
                && group.is_static_member_fenced(&member.member_id, instance)
            {
                Some(ResponseError::FencedInstanceId)
            } else if group.pending_members.remove(&member.member_id).is_some() {
                try_complete_join(group, &mut step);
                None
            } else if let Some(member_id) = leaving_member_id(group, member) {
                remove_member_and_update_group(group, &member_id, &mut step);
                None
            } else {
                Some(ResponseError::UnknownMemberId)
            };
            members.push(error);
        }
        (
            LeaveOutcome {
                error: None,
                members,
            },
            step.replies,
        )
    }
}

/// The member a LeaveGroup entry names: by group.instance.id for static members, else by member id.
fn leaving_member_id(group: &Group, member: &LeavingMember) -> Option<String> {
    if let Some(member_id) = member
        .group_instance_id
        .as_ref()
        .and_then(|instance| group.static_members.get(instance))
    {
        return Some(member_id.clone());
    }
    group
        .members
        .contains_key(&member.member_id)
        .then(|| member.member_id.clone())
}

/// FENCED_INSTANCE_ID for a static member whose instance id now belongs to another member id, else
/// UNKNOWN_MEMBER_ID for ids the group does not know.
pub(super) fn validate_member(
    group: &Group,
    member_id: &str,
    group_instance_id: Option<&str>,
) -> Option<ResponseError> {
    if group.is(GroupState::Dead) {
        Some(ResponseError::CoordinatorNotAvailable)
    } else if group.is_static_member_fenced(member_id, group_instance_id) {
        Some(ResponseError::FencedInstanceId)
    } else if !group.members.contains_key(member_id) {
        Some(ResponseError::UnknownMemberId)
    } else {
        None
    }
}

/// SyncGroup v5 names the protocol type and name; they must be the group's.
fn check_protocol(group: &Group, request: &SyncRequest) -> Option<ResponseError> {
    let type_differs = request
        .protocol_type
        .as_ref()
        .is_some_and(|t| group.protocol_type.as_ref() != Some(t));
    let name_differs = request
        .protocol_name
        .as_ref()
        .is_some_and(|n| group.protocol_name.as_ref() != Some(n));
    (type_differs || name_differs).then_some(ResponseError::InconsistentGroupProtocol)
}

fn sync_outcome(group: &Group, assignment: bytes::Bytes) -> SyncOutcome {
    SyncOutcome {
        error: None,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        assignment,
    }
}

/// Stores the leader's assignment (members it left out get an empty one), answers every parked SyncGroup
/// and makes the group Stable.
fn distribute_assignment(
    group: &mut Group,
    assignments: Vec<(String, bytes::Bytes)>,
    now_ms: i64,
    replies: &mut Vec<Reply>,
) {
    for member in group.members.values_mut() {
        member.assignment = bytes::Bytes::new();
    }
    for (member_id, assignment) in assignments {
        if let Some(member) = group.members.get_mut(&member_id) {
            member.assignment = assignment;
        }
    }
    group.transition(GroupState::Stable, now_ms);
    let answers: Vec<(Token, bytes::Bytes)> = group
        .members
        .values_mut()
        .filter_map(|member| {
            let token = member.awaiting_sync.take()?;
            member.last_heartbeat_ms = now_ms;
            Some((token, member.assignment.clone()))
        })
        .collect();
    for (token, assignment) in answers {
        replies.push(Reply::Sync(token, sync_outcome(group, assignment)));
    }
}
