//! FindCoordinator (0-4): this broker is the coordinator of every group. v4 batches keys (Java clients);
//! older versions ask for one key.
//!
//! herald has no transactions, so a transaction coordinator (key type 1) is refused at once with
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED and a message saying why: what a Kafka cluster answers when
//! no transactional id may be used (every transactional id denied), and the answer librdkafka and the
//! Java client treat as fatal, so `init_transactions()` fails promptly with the message instead of
//! retrying COORDINATOR_NOT_AVAILABLE until its timeout (librdkafka retries every other error code
//! here, UNSUPPORTED_VERSION and INVALID_REQUEST included). Unknown key types answer INVALID_REQUEST,
//! as Kafka does.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;

use crate::answer_log::warn_error;
use crate::BrokerState;

/// FindCoordinator key type of consumer groups.
const KEY_TYPE_GROUP: i8 = 0;
/// FindCoordinator key type of transactional ids.
const KEY_TYPE_TRANSACTION: i8 = 1;
/// What a transactional client is told.
pub const NO_TRANSACTIONS_MESSAGE: &str =
    "herald-broker does not support transactions; unset transactional.id";

/// Answers a FindCoordinator request.
pub fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let (error, message) = match request.key_type {
        KEY_TYPE_GROUP => (0, None),
        KEY_TYPE_TRANSACTION => (
            ResponseError::TransactionalIdAuthorizationFailed.code(),
            super::message(&NO_TRANSACTIONS_MESSAGE),
        ),
        other => (
            ResponseError::InvalidRequest.code(),
            super::message(&format!("unknown coordinator key type {other}")),
        ),
    };
    if error != 0 {
        let keys = if header.request_api_version >= 4 {
            let keys: Vec<&str> = request.coordinator_keys.iter().map(|k| &**k).collect();
            keys.join(",")
        } else {
            request.key.to_string()
        };
        let about = format_args!("key type {} for {keys:?}", request.key_type);
        warn_error(ApiKey::FindCoordinator, header, error, &about);
    }
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
