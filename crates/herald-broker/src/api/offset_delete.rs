//! OffsetDelete (0, KIP-496): deletes a group's committed offsets of some partitions; a live consumer
//! group keeps those of topics it subscribes to (GROUP_SUBSCRIBED_TO_TOPIC).

use std::sync::Arc;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use crate::BrokerState;

/// Answers an OffsetDelete request once the deletions are durable.
pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let topics: Vec<(String, Vec<i32>)> = request
        .topics
        .iter()
        .map(|t| {
            (
                t.name.0.to_string(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let outcome = state
        .coordinator
        .delete_offsets(&request.group_id, &topics)
        .await;
    if let Some(error) = outcome.error {
        return OffsetDeleteResponse::default().with_error_code(error.code());
    }
    let topics = outcome
        .errors
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, error)| {
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(index)
                        .with_error_code(error.map_or(0, |e| e.code()))
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(StrBytes::from_string(name).into())
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
