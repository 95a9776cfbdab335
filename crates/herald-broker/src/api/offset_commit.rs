//! OffsetCommit (2-9): members commit with their generation; tools (generation -1, no member id) only
//! while the group is Empty. Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION; the rest are
//! answered once the commit is durable under the broker's flush policy. `retention_time_ms` (v2-4) is
//! ignored: the broker-wide offsets retention applies, as in Kafka since 2.1.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, RequestHeader};

use crate::coordinator::{CommitOutcome, CommitRequest, PartitionCommit};
use crate::BrokerState;

/// Answers an OffsetCommit request.
pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let mut commit = CommitRequest {
        group_id: request.group_id.0.to_string(),
        generation_id: request.generation_id_or_member_epoch,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|id| id.to_string()),
        topics: Vec::new(),
    };
    let mut unknown: Vec<(String, i32)> = Vec::new();
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let found = state.topics.get(&name);
        let mut partitions = Vec::new();
        for p in &topic.partitions {
            if found
                .as_ref()
                .and_then(|t| t.partition(p.partition_index))
                .is_none()
            {
                unknown.push((name.clone(), p.partition_index));
                continue;
            }
            partitions.push(PartitionCommit {
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            });
        }
        commit.topics.push((name, partitions));
    }
    let outcome = state.coordinator.commit_offsets(&commit).await;
    OffsetCommitResponse::default().with_topics(response_topics(request.topics, &outcome, &unknown))
}

/// Per-partition answers in request order: UNKNOWN_TOPIC_OR_PARTITION for `unknown`, else the
/// coordinator's verdict.
fn response_topics(
    requested: Vec<OffsetCommitRequestTopic>,
    outcome: &CommitOutcome,
    unknown: &[(String, i32)],
) -> Vec<OffsetCommitResponseTopic> {
    let unknown_code = ResponseError::UnknownTopicOrPartition.code();
    requested
        .into_iter()
        .map(|topic| {
            let errors = outcome
                .errors
                .iter()
                .find(|(name, _)| *name == *topic.name.0);
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let is_unknown = unknown
                        .iter()
                        .any(|(name, index)| *name == *topic.name.0 && *index == p.partition_index);
                    let code = if is_unknown {
                        unknown_code
                    } else {
                        errors
                            .and_then(|(_, ps)| ps.iter().find(|(i, _)| *i == p.partition_index))
                            .and_then(|(_, e)| *e)
                            .map_or(0, |e| e.code())
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect()
}
