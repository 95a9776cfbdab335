//! Produce (3-11; 0-2 are advertised but closed in `connection.rs`): appends each partition's record
//! batches to its log and answers according to `acks` and the flush policy.
//!
//! acks=0 sends no response. acks=1 and acks=all (the same on one node) answer after the data is
//! durable under the flush policy: `Always` waits for a group-committed fsync (`Partition::flush_to`,
//! several partitions in parallel), `Interval` and `Never` answer after the append. Topics that do not
//! exist are auto-created when the broker allows it. herald-log validates every batch (CRC, magic,
//! length, max.message.bytes, timestamp bounds) and the idempotent producer's sequence; its errors map
//! to Kafka's codes. A topic with `min.insync.replicas` above 1 answers acks=all with
//! NOT_ENOUGH_REPLICAS (one node is one in-sync replica) and appends nothing; acks=0/1 are served.
//! A topic whose `compression.type` is a codec (not `producer`) gets every batch in another codec
//! rewritten with it before the append (`herald_log::recompress`), on a blocking thread.

use std::sync::Arc;

use futures::future::join_all;
use herald_log::LogError;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use crate::clock::now_ms;
use crate::partition::Partition;
use crate::topics::Topic;
use crate::{BrokerError, BrokerState, FlushPolicy};

/// In-sync replicas of every partition: this node alone.
const ISR_SIZE: i64 = 1;

/// A partition whose append must be durable before the response: (topic position in the response,
/// partition position in that topic, the partition, the offset everything below must be fsynced).
type Durability = (usize, usize, Arc<Partition>, i64);

/// A produce request whose batches are appended (in request order) but whose response may still wait
/// for durability. Splitting the two lets a connection append the next pipelined request while this
/// one's fsync runs, so that consecutive requests share fsyncs (group commit).
#[derive(Debug)]
pub struct Appended {
    acks: i16,
    responses: Vec<TopicProduceResponse>,
    durability: Vec<Durability>,
}

impl Appended {
    /// False for acks=0: no response is sent.
    pub fn wants_response(&self) -> bool {
        self.acks != 0
    }

    /// Whether the response must wait for an fsync under `policy`.
    pub fn needs_flush(&self, policy: FlushPolicy) -> bool {
        policy == FlushPolicy::Always && !self.durability.is_empty()
    }

    /// Waits until every appended partition is durable (when the policy asks) and builds the response.
    pub async fn finish(mut self, policy: FlushPolicy) -> ProduceResponse {
        if self.needs_flush(policy) {
            let flushes = self
                .durability
                .iter()
                .map(|(_, _, partition, end)| partition.flush_to(*end));
            let results = join_all(flushes).await;
            for ((topic_at, partition_at, _, _), result) in self.durability.iter().zip(results) {
                let Err(e) = result else { continue };
                tracing::warn!(error = %e, "fsync failed; produce not acknowledged");
                if let Some(p) = self
                    .responses
                    .get_mut(*topic_at)
                    .and_then(|t| t.partition_responses.get_mut(*partition_at))
                {
                    p.error_code = ResponseError::KafkaStorageError.code();
                    p.error_message = super::message(&e);
                    p.base_offset = -1;
                }
            }
        }
        ProduceResponse::default().with_responses(self.responses)
    }
}

/// Answers a Produce request; `None` for acks=0.
pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    request: ProduceRequest,
) -> Option<ProduceResponse> {
    let appended = append(state, header, request).await;
    if !appended.wants_response() {
        return None;
    }
    Some(appended.finish(state.flush_policy()).await)
}

/// Appends every partition's batches, in request order; no fsync.
pub async fn append(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    request: ProduceRequest,
) -> Appended {
    let acks = request.acks;
    let valid_acks = matches!(acks, -1..=1);
    let now = now_ms();
    let mut responses = Vec::with_capacity(request.topic_data.len());
    let mut durability = Vec::new();
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
                Ok(topic) if acks == -1 && topic.min_insync_replicas() > ISR_SIZE => {
                    Err(Refused::new(
                        ResponseError::NotEnoughReplicas.code(),
                        super::message(&format!(
                            "acks=all needs min.insync.replicas={} in-sync replicas; this node is the only one",
                            topic.min_insync_replicas()
                        )),
                    ))
                }
                Ok(topic) => match recompress(topic, data).await {
                    Ok(data) => append_partition(topic, data, now),
                    Err(refused) => Err(refused),
                },
                Err(code) => Err(Refused::new(*code, None)),
            };
            let response = PartitionProduceResponse::default().with_index(index);
            partition_responses.push(match outcome {
                Ok((partition, info)) => {
                    let at = (responses.len(), partition_responses.len());
                    durability.push((at.0, at.1, partition, info.last_offset + 1));
                    response
                        .with_base_offset(info.base_offset)
                        .with_log_start_offset(info.log_start_offset)
                        .with_log_append_time_ms(info.log_append_time.unwrap_or(-1))
                }
                Err(refused) => response
                    .with_record_errors(refused.record_errors)
                    .with_error_code(refused.code)
                    .with_error_message(refused.message)
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
    Appended {
        acks,
        responses,
        durability,
    }
}

async fn resolve_topic(state: &Arc<BrokerState>, name: &str) -> Result<Arc<Topic>, i16> {
    if crate::internal_topics::is_internal(name) {
        // Kafka: "Cannot append to internal topic" (only the broker writes it).
        return Err(ResponseError::InvalidTopicException.code());
    }
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

/// Why a partition's data was not appended: the code, a message, and for INVALID_RECORD the records
/// at fault (KIP-467: librdkafka then fails those records with INVALID_RECORD and the rest of the
/// batch with INVALID_DIFFERENT_RECORD).
struct Refused {
    code: i16,
    message: Option<StrBytes>,
    record_errors: Vec<BatchIndexAndErrorMessage>,
}

impl Refused {
    fn new(code: i16, message: Option<StrBytes>) -> Self {
        Self {
            code,
            message,
            record_errors: Vec::new(),
        }
    }
}

/// Rewrites the partition's batches with the topic's `compression.type` when it is not `producer`
/// and differs from a batch's codec (Kafka's `LogValidator`), on a blocking thread: decompressing and
/// compressing are CPU work that must not hold an async runtime thread.
async fn recompress(
    topic: &Topic,
    mut data: PartitionProduceData,
) -> Result<PartitionProduceData, Refused> {
    let (Some(target), Some(partition), Some(records)) = (
        topic.recompression(),
        topic.partition(data.index),
        data.records.clone(),
    ) else {
        return Ok(data);
    };
    if !herald_log::needs_recompression(&records, target) {
        return Ok(data);
    }
    let max_batch_bytes = partition.with_log(|log| log.config().max_message_bytes);
    let work = move || herald_log::recompress_batches(&records, target, max_batch_bytes);
    let rewritten = tokio::task::spawn_blocking(work).await.map_err(|e| {
        Refused::new(
            ResponseError::UnknownServerError.code(),
            super::message(&format!("recompression task failed: {e}")),
        )
    })?;
    match rewritten {
        Ok(Some(records)) => data.records = Some(records.into()),
        Ok(None) => {}
        Err(e) => {
            tracing::debug!(topic = %topic.name, partition = data.index, error = %e, "recompression refused");
            return Err(Refused::new(super::log_error_code(&e), super::message(&e)));
        }
    }
    Ok(data)
}

type AppendOutcome = Result<(Arc<Partition>, herald_log::AppendInfo), Refused>;

fn append_partition(topic: &Topic, data: PartitionProduceData, now: i64) -> AppendOutcome {
    let Some(partition) = topic.partition(data.index) else {
        return Err(Refused::new(
            ResponseError::UnknownTopicOrPartition.code(),
            None,
        ));
    };
    let Some(records) = data.records else {
        return Err(Refused::new(
            ResponseError::CorruptMessage.code(),
            super::message(&"no records"),
        ));
    };
    match partition.append(&records, now) {
        Ok(info) => Ok((partition, info)),
        Err(e) => {
            tracing::debug!(topic = %topic.name, partition = data.index, error = %e, "append rejected");
            let mut refused = Refused::new(super::log_error_code(&e), super::message(&e));
            if let LogError::InvalidRecord {
                record_indices,
                reason,
            } = &e
            {
                refused.record_errors = record_indices
                    .iter()
                    .map(|&batch_index| {
                        BatchIndexAndErrorMessage::default()
                            .with_batch_index(batch_index)
                            .with_batch_index_error_message(Some(StrBytes::from_static_str(reason)))
                    })
                    .collect();
            }
            Err(refused)
        }
    }
}
