//! OffsetForLeaderEpoch (2-4): clients validate their position after a leader change with it. One node
//! has only ever had leader epoch 0, so every partition answers epoch 0 ending at the log end offset.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, RequestHeader,
};

use crate::BrokerState;

/// Answers an OffsetForLeaderEpoch request.
pub fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let found = state.topics.get(&topic.topic);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let result = EpochEndOffset::default().with_partition(p.partition);
                    match found.as_ref().and_then(|t| t.partition(p.partition)) {
                        Some(partition) => result
                            .with_leader_epoch(0)
                            .with_end_offset(partition.high_watermark()),
                        None => result
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
