//! Heartbeat (0-4): keeps a member's session alive and tells it when to rejoin (REBALANCE_IN_PROGRESS).

use std::sync::Arc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse, RequestHeader};

use crate::BrokerState;

/// Answers a Heartbeat request.
pub fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    let heartbeat = crate::coordinator::HeartbeatRequest {
        group_id: request.group_id.0.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|id| id.to_string()),
    };
    let error = state.coordinator.heartbeat(&heartbeat);
    HeartbeatResponse::default().with_error_code(error.map_or(0, |e| e.code()))
}
