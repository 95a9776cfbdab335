//! DeleteRecords (0-2): moves each named partition's log start offset forward, as Kafka does:
//! `offset=-1` means the high watermark; an offset above the high watermark (or below -1) answers
//! OFFSET_OUT_OF_RANGE; an offset at or below the current log start changes nothing; a topic whose
//! `cleanup.policy` does not include `delete` answers POLICY_VIOLATION (Kafka refuses to delete records
//! of a compacted-only topic). Each result carries the log start offset afterwards (`low_watermark`,
//! -1 on error). Segments wholly below the new start are deleted and the start survives restarts
//! (`herald_log::delete_records`); the disk work runs on a blocking thread. Needs DELETE on the topic.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::partition::Partition;
use crate::BrokerState;

/// Answers a DeleteRecords request.
pub async fn handle(
    state: &Arc<BrokerState>,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let found = state.topics.get(&topic.name);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for wanted in topic.partitions {
            let partition = found
                .as_ref()
                .and_then(|t| t.partition(wanted.partition_index));
            let (error_code, low_watermark) = match partition {
                None => (ResponseError::UnknownTopicOrPartition.code(), -1),
                Some(partition) => delete_before(partition, wanted.offset).await,
            };
            partitions.push(
                DeleteRecordsPartitionResult::default()
                    .with_partition_index(wanted.partition_index)
                    .with_error_code(error_code)
                    .with_low_watermark(low_watermark),
            );
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}

/// (error code, low watermark) of moving one partition's log start to `offset`.
async fn delete_before(partition: Arc<Partition>, offset: i64) -> (i16, i64) {
    if !partition.with_log(|log| log.config().cleanup_policy.deletes()) {
        return (ResponseError::PolicyViolation.code(), -1);
    }
    let index = partition.index;
    match tokio::task::spawn_blocking(move || partition.delete_records_before(offset)).await {
        Ok(Ok(low_watermark)) => (0, low_watermark),
        Ok(Err(e)) => {
            tracing::debug!(partition = index, offset, error = %e, "delete records refused");
            (super::log_error_code(&e), -1)
        }
        Err(e) => {
            tracing::warn!(partition = index, error = %e, "delete records task failed");
            (ResponseError::UnknownServerError.code(), -1)
        }
    }
}
