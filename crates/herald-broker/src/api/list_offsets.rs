//! ListOffsets (1-7): offsets by time. -2 is the log start offset, -1 the log end offset, -3 (v7,
//! KIP-734) the offset of the first record with the largest timestamp; any other value is the offset
//! of the first record whose timestamp is at or after it, with that record's timestamp, or -1 when
//! every record is older. Both lookups are at record granularity, as in Kafka: the time index finds
//! the batch and herald-log reads its records (decompressing them if need be).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse, RequestHeader};

use crate::answer_log::warn_error;
use crate::partition::Partition;
use crate::BrokerState;

/// ListOffsets timestamp meaning "the log start offset".
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// ListOffsets timestamp meaning "the log end offset".
pub const LATEST_TIMESTAMP: i64 = -1;
/// ListOffsets timestamp meaning "the record with the largest timestamp" (KIP-734).
pub const MAX_TIMESTAMP: i64 = -3;

/// Answers a ListOffsets request.
pub fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    // leader_epoch exists from v4 on; the encoder refuses a set value in older versions (kcat asks v2).
    let with_epoch = header.request_api_version >= 4;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let found = state.topics.get(&topic.name);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    let answer = match found.as_ref().and_then(|t| t.partition(p.partition_index)) {
                        Some(partition) => {
                            let found = lookup(&partition, p.timestamp, response);
                            if with_epoch {
                                found
                            } else {
                                found.with_leader_epoch(-1)
                            }
                        }
                        None => {
                            response.with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        }
                    };
                    let about = format_args!(
                        "{}-{} at timestamp {}",
                        &*topic.name, p.partition_index, p.timestamp
                    );
                    warn_error(ApiKey::ListOffsets, header, answer.error_code, &about);
                    answer
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn lookup(
    partition: &Partition,
    timestamp: i64,
    response: ListOffsetsPartitionResponse,
) -> ListOffsetsPartitionResponse {
    let found = partition.with_log(|log| {
        let high_watermark = partition.high_watermark_of(log);
        let found = match timestamp {
            EARLIEST_TIMESTAMP => return Ok(Some((-1, log.log_start_offset()))),
            LATEST_TIMESTAMP => return Ok(Some((-1, high_watermark))),
            MAX_TIMESTAMP => log.max_timestamp(),
            _ => log
                .offset_for_timestamp(timestamp)
                .map(|r| r.map(|(offset, ts)| (ts, offset))),
        };
        // As Kafka for consumers: no record at or past the high watermark is reported by time.
        found.map(|found| found.filter(|(_, offset)| *offset < high_watermark))
    });
    match found {
        Ok(Some((timestamp, offset))) => response
            .with_timestamp(timestamp)
            .with_offset(offset)
            .with_leader_epoch(0),
        Ok(None) => response.with_timestamp(-1).with_offset(-1),
        Err(e) => response.with_error_code(super::log_error_code(&e)),
    }
}
