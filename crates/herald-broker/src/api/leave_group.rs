//! LeaveGroup (0-4): a member leaving cleanly, so the others rebalance at once instead of after its
//! session timeout. v0-2 name one member; v3+ batch members (with group.instance.id), each with its own
//! error.

use std::sync::Arc;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse, RequestHeader};

use crate::coordinator::LeavingMember;
use crate::BrokerState;

/// Answers a LeaveGroup request.
pub fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let batched = header.request_api_version >= 3;
    let leaving: Vec<LeavingMember> = if batched {
        request
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|id| id.to_string()),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: request.member_id.to_string(),
            group_instance_id: None,
        }]
    };
    let outcome = state.coordinator.leave_group(&request.group_id, &leaving);
    let top_level = outcome.error.map_or(0, |e| e.code());
    if !batched {
        // One member: its error is the response's error, as Kafka answers old versions.
        let member_error = outcome
            .members
            .first()
            .copied()
            .flatten()
            .map_or(0, |e| e.code());
        let error = if top_level != 0 {
            top_level
        } else {
            member_error
        };
        return LeaveGroupResponse::default().with_error_code(error);
    }
    let members = if top_level != 0 {
        Vec::new()
    } else {
        request
            .members
            .into_iter()
            .zip(outcome.members)
            .map(|(m, error)| {
                MemberResponse::default()
                    .with_member_id(m.member_id)
                    .with_group_instance_id(m.group_instance_id)
                    .with_error_code(error.map_or(0, |e| e.code()))
            })
            .collect()
    };
    LeaveGroupResponse::default()
        .with_error_code(top_level)
        .with_members(members)
}
