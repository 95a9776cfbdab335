//! OffsetFetch (1-9): a group's committed offsets, -1 where nothing is committed. v2+ returns every
//! committed partition when `topics` is null; v8+ batches several groups. Committed offsets minus the
//! log end offsets (ListOffsets) is the group's lag.

use std::sync::Arc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use crate::coordinator::{CommittedOffset, FetchedOffsets};
use crate::BrokerState;

/// Offset returned for a partition without a committed offset.
const NO_OFFSET: i64 = -1;
/// Leader epoch returned when none is known.
const NO_LEADER_EPOCH: i32 = -1;

/// Answers an OffsetFetch request.
pub fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    if header.request_api_version >= 8 {
        let groups = request
            .groups
            .into_iter()
            .map(|group| {
                let wanted: Option<Vec<(String, Vec<i32>)>> = group.topics.map(|topics| {
                    topics
                        .into_iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes))
                        .collect()
                });
                let fetched = state
                    .coordinator
                    .fetch_offsets(&group.group_id, wanted.as_deref());
                OffsetFetchResponseGroup::default()
                    .with_group_id(group.group_id)
                    .with_topics(batched_topics(fetched))
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted: Option<Vec<(String, Vec<i32>)>> = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect()
    });
    let fetched = state
        .coordinator
        .fetch_offsets(&request.group_id, wanted.as_deref());
    let topics = fetched
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, committed)| {
                    let (offset, epoch, metadata) = fields(committed);
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(index)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(epoch)
                        .with_metadata(Some(metadata))
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(StrBytes::from_string(name).into())
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

fn batched_topics(fetched: FetchedOffsets) -> Vec<OffsetFetchResponseTopics> {
    fetched
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, committed)| {
                    let (offset, epoch, metadata) = fields(committed);
                    OffsetFetchResponsePartitions::default()
                        .with_partition_index(index)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(epoch)
                        .with_metadata(Some(metadata))
                })
                .collect();
            OffsetFetchResponseTopics::default()
                .with_name(StrBytes::from_string(name).into())
                .with_partitions(partitions)
        })
        .collect()
}

/// (offset, leader epoch, metadata) as the wire wants them; Kafka sends "" for missing metadata.
fn fields(committed: Option<CommittedOffset>) -> (i64, i32, StrBytes) {
    match committed {
        Some(c) => (
            c.offset,
            c.leader_epoch,
            StrBytes::from_string(c.metadata.unwrap_or_default()),
        ),
        None => (NO_OFFSET, NO_LEADER_EPOCH, StrBytes::default()),
    }
}
