//! DeleteTopics (1-4): deletes topics by name, their partitions' logs included. Unknown names answer
//! UNKNOWN_TOPIC_OR_PARTITION.

use std::sync::Arc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, RequestHeader};

use crate::BrokerState;

/// Answers a DeleteTopics request.
pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let mut responses = Vec::with_capacity(request.topic_names.len());
    for name in request.topic_names {
        let owned = name.to_string();
        let outcome = super::blocking(state, move |s| s.topics.delete(&owned)).await;
        let result = DeletableTopicResult::default().with_name(Some(name));
        responses.push(match outcome {
            Ok(()) => result,
            Err(e) => result
                .with_error_code(e.error_code())
                .with_error_message(super::message(&e)),
        });
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
