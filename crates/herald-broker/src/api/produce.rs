//! Produce (3-11; 0-2 are advertised but closed in `connection.rs`): appends each partition's record
//! batches to its log and answers according to `acks` and the flush policy.
//!
//! acks=0 sends no response. acks=1 and acks=all (the same on one node) answer after the data is
//! durable under the flush policy: `Always` waits for a group-committed fsync (`Partition::flush_to`,
//! several partitions in parallel), `Interval` and `Never` answer after the append. Topics that do not
//! exist are auto-created when the broker allows it. herald-log validates every batch (CRC, magic,
//! length, max.message.bytes) and the idempotent producer's sequence; its errors map to Kafka's codes.

use std::sync::Arc;

use futures::future::join_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, RequestHeader};

use crate::partition::Partition;
use crate::server::now_ms;
use crate::topics::Topic;
use crate::{BrokerError, BrokerState, FlushPolicy};

/// Answers a Produce request; `None` for acks=0.
pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    request: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = request.acks;
    let valid_acks = matches!(acks, -1..=1);
    let now = now_ms();
    let mut responses = Vec::with_capacity(request.topic_data.len());
    // (topic index, partition index in response, partition, offset that must be durable)
    let mut pending = Vec::new();
    for topic_data in request.topic_data {
        let topic = if valid_acks {
            resolve_topic(state, &topic_data.name).await
        } else {
            Err(ResponseError::InvalidRequiredAcks.code())
        };
        let mut partition_responses = Vec::with_capacity(topic_data.partition_data.len());
        for data in topic_data.partition_data {
            let index = data.index;
            let outcome = match &topic {
                Ok(topic) => append(topic, data, now),
                Err(code) => Err((*code, None)),
            };
            let response = PartitionProduceResponse::default().with_index(index);
            partition_responses.push(match outcome {
                Ok((partition, info)) => {
                    pending.push((
                        responses.len(),
                        partition_responses.len(),
                        partition,
                        info.last_offset + 1,
                    ));
                    response
                        .with_base_offset(info.base_offset)
                        .with_log_start_offset(info.log_start_offset)
                }
                Err((code, message)) => response
                    .with_error_code(code)
                    .with_error_message(message)
                    .with_base_offset(-1)
                    .with_log_start_offset(-1),
            });
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic_data.name)
                .with_partition_responses(partition_responses),
        );
    }
    if acks == 0 {
        return None;
    }
    if state.flush_policy() == FlushPolicy::Always {
        let flushes = pending
            .iter()
            .map(|(_, _, partition, end)| partition.flush_to(*end));
        for ((topic_at, partition_at, _, _), result) in pending.iter().zip(join_all(flushes).await)
        {
            if let Err(e) = result {
                tracing::warn!(error = %e, "fsync failed; produce not acknowledged");
                if let Some(p) = responses
                    .get_mut(*topic_at)
                    .and_then(|t| t.partition_responses.get_mut(*partition_at))
                {
                    p.error_code = ResponseError::KafkaStorageError.code();
                    p.error_message = super::message(&e);
                    p.base_offset = -1;
                }
            }
        }
    }
    let _ = header;
    Some(ProduceResponse::default().with_responses(responses))
}

async fn resolve_topic(state: &Arc<BrokerState>, name: &str) -> Result<Arc<Topic>, i16> {
    if let Some(topic) = state.topics.get(name) {
        return Ok(topic);
    }
    if !state.config.auto_create_topics {
        return Err(ResponseError::UnknownTopicOrPartition.code());
    }
    let owned = name.to_string();
    super::blocking(state, move |s| s.topics.get_or_create(&owned))
        .await
        .map_err(|e: BrokerError| e.error_code())
}

type AppendOutcome = Result<
    (Arc<Partition>, herald_log::AppendInfo),
    (i16, Option<kafka_protocol::protocol::StrBytes>),
>;

fn append(topic: &Topic, data: PartitionProduceData, now: i64) -> AppendOutcome {
    let Some(partition) = topic.partition(data.index) else {
        return Err((ResponseError::UnknownTopicOrPartition.code(), None));
    };
    let Some(records) = data.records else {
        return Err((
            ResponseError::CorruptMessage.code(),
            super::message(&"no records"),
        ));
    };
    match partition.append(&records, now) {
        Ok(info) => Ok((partition, info)),
        Err(e) => {
            tracing::debug!(topic = %topic.name, partition = data.index, error = %e, "append rejected");
            Err((super::log_error_code(&e), super::message(&e)))
        }
    }
}
