//! FindCoordinator (0-4): this broker is the coordinator of every group. v4 batches keys (Java clients);
//! older versions ask for one key. Transaction coordinators are not offered: herald has no transactions.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use crate::BrokerState;

/// FindCoordinator key type of consumer groups (1 is transactional ids).
const KEY_TYPE_GROUP: i8 = 0;

/// Answers a FindCoordinator request.
pub fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let (error, message) = if request.key_type == KEY_TYPE_GROUP {
        (0, None)
    } else {
        let message = super::message(&"transactions are not supported");
        (ResponseError::CoordinatorNotAvailable.code(), message)
    };
    let host = StrBytes::from_string(state.advertised_host.clone());
    let (node_id, port) = if error == 0 {
        (state.node_id(), state.advertised_port)
    } else {
        (-1, -1)
    };
    if header.request_api_version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(node_id.into())
                    .with_host(host.clone())
                    .with_port(port)
                    .with_error_code(error)
                    .with_error_message(message.clone())
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let response = FindCoordinatorResponse::default()
        .with_error_code(error)
        .with_node_id(node_id.into())
        .with_host(host)
        .with_port(port);
    if header.request_api_version >= 1 {
        response.with_error_message(message)
    } else {
        response
    }
}
