//! CreatePartitions (0-3): grows topics to a larger partition count. A count not above the current one
//! answers INVALID_PARTITIONS; `validate_only` checks without creating. Assignments are ignored (one
//! node holds every partition).

use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, RequestHeader};

use crate::BrokerState;

/// Answers a CreatePartitions request.
pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let validate_only = request.validate_only;
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let (owned, count) = (topic.name.to_string(), topic.count);
        let outcome = super::blocking(state, move |s| {
            s.topics.create_partitions(&owned, count, validate_only)
        })
        .await;
        let result = CreatePartitionsTopicResult::default().with_name(topic.name);
        results.push(match outcome {
            Ok(()) => result,
            Err(e) => result
                .with_error_code(e.error_code())
                .with_error_message(super::message(&e)),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}
