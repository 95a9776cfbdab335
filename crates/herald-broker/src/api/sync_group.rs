//! SyncGroup (0-4): the leader's assignment goes in, every member's own assignment comes out; followers
//! wait for the leader's request.

use std::sync::Arc;

use kafka_protocol::messages::{RequestHeader, SyncGroupRequest, SyncGroupResponse};

use crate::coordinator::SyncRequest;
use crate::BrokerState;

/// Answers a SyncGroup request once the member's assignment is known.
pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    let sync = SyncRequest {
        group_id: request.group_id.0.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|id| id.to_string()),
        protocol_type: request.protocol_type.map(|t| t.to_string()),
        protocol_name: request.protocol_name.map(|n| n.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let outcome = state.coordinator.sync_group(sync).await;
    SyncGroupResponse::default()
        .with_error_code(outcome.error.map_or(0, |e| e.code()))
        .with_assignment(outcome.assignment)
}
