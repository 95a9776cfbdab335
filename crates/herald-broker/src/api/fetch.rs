//! Fetch (4-12): serves whole record batches straight from the logs, long-polling until `min_bytes`
//! are available or `max_wait_ms` has passed.
//!
//! Size limits as in Kafka (KIP-74): each partition gets at most `partition_max_bytes` and the response
//! at most `max_bytes`, except that the first partition with data at its fetch offset gets its first
//! batch whole even when that batch is larger, so a large record never blocks a consumer. An offset
//! outside [log start, log end] answers OFFSET_OUT_OF_RANGE. Only records below the high watermark are
//! served (under `--flush always` the last fsynced offset, see `partition.rs`); the last stable offset
//! is the high watermark (no transactions). While waiting, the handler sleeps on the partitions'
//! high-watermark watch channels, the deadline and shutdown. Fetch sessions (KIP-227) are not
//! kept: `session_id` 0 tells clients to send full requests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::select_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, RequestHeader, TopicName};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::answer_log::warn_error;
use crate::partition::Partition;
use crate::BrokerState;

/// Longest long poll honoured, whatever the client asks.
pub const FETCH_WAIT_MS_MAX: u64 = 60_000;

struct Wanted {
    partition_index: i32,
    partition: Option<Arc<Partition>>,
    fetch_offset: i64,
    partition_max_bytes: usize,
}

struct WantedTopic {
    name: TopicName,
    partitions: Vec<Wanted>,
}

/// Answers a Fetch request.
pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    request: FetchRequest,
) -> FetchResponse {
    let wait = Duration::from_millis(
        u64::try_from(request.max_wait_ms)
            .unwrap_or(0)
            .min(FETCH_WAIT_MS_MAX),
    );
    let deadline = Instant::now() + wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let max_bytes = usize::try_from(request.max_bytes).unwrap_or(0);
    let wanted = resolve(state, request);
    let mut receivers: Vec<watch::Receiver<i64>> = wanted
        .iter()
        .flat_map(|t| t.partitions.iter())
        .filter_map(|w| w.partition.as_ref().map(|p| p.subscribe()))
        .collect();
    loop {
        for rx in &mut receivers {
            rx.borrow_and_update();
        }
        let (responses, bytes, has_error) = read_all(&wanted, max_bytes);
        let done = bytes >= min_bytes || has_error || Instant::now() >= deadline;
        if done || state.shutdown.is_cancelled() {
            if has_error {
                warn_errors(header, &wanted, &responses);
            }
            return FetchResponse::default().with_responses(responses);
        }
        tokio::select! {
            _ = log_end_changed(&mut receivers) => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = state.shutdown.cancelled() => {}
        }
    }
}

async fn log_end_changed(receivers: &mut [watch::Receiver<i64>]) {
    if receivers.is_empty() {
        return std::future::pending().await;
    }
    let changes = receivers.iter_mut().map(|rx| Box::pin(rx.changed()));
    let _ = select_all(changes).await;
}

fn resolve(state: &BrokerState, request: FetchRequest) -> Vec<WantedTopic> {
    request
        .topics
        .into_iter()
        .map(|topic| {
            let found = state.topics.get(&topic.topic);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| Wanted {
                    partition_index: p.partition,
                    partition: found.as_ref().and_then(|t| t.partition(p.partition)),
                    fetch_offset: p.fetch_offset,
                    partition_max_bytes: usize::try_from(p.partition_max_bytes).unwrap_or(0),
                })
                .collect();
            WantedTopic {
                name: topic.topic,
                partitions,
            }
        })
        .collect()
}

/// One pass over every wanted partition: the responses, the record bytes read, whether any errored.
///
/// Kafka's `ReplicaManager.readFromLog` (KIP-74): partitions are read in request order, each within
/// `min(partition_max_bytes, what is left of max_bytes)`; only until the first partition that returns
/// data may a read exceed that with one whole batch, so a batch larger than the limits still makes
/// progress while the response as a whole stays within `max_bytes` plus at most that one batch.
fn read_all(
    wanted: &[WantedTopic],
    max_bytes: usize,
) -> (Vec<FetchableTopicResponse>, usize, bool) {
    let mut budget = max_bytes;
    let mut min_one_batch = true;
    let mut total = 0;
    let mut has_error = false;
    let responses = wanted
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|w| {
                    let data = read_partition(w, budget, min_one_batch);
                    let read = data.records.as_ref().map_or(0, Bytes::len);
                    if read > 0 {
                        min_one_batch = false;
                    }
                    budget = budget.saturating_sub(read);
                    total += read;
                    has_error |= data.error_code != 0;
                    data
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    (responses, total, has_error)
}

fn read_partition(wanted: &Wanted, budget: usize, min_one_batch: bool) -> PartitionData {
    let response = PartitionData::default().with_partition_index(wanted.partition_index);
    let Some(partition) = &wanted.partition else {
        return response
            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
            .with_high_watermark(-1);
    };
    let max = wanted.partition_max_bytes.min(budget);
    match partition.read(wanted.fetch_offset, max, min_one_batch) {
        Ok(read) => response
            .with_high_watermark(read.high_watermark)
            .with_last_stable_offset(read.high_watermark)
            .with_log_start_offset(read.log_start_offset)
            .with_records(Some(Bytes::from(read.records))),
        Err(e) => {
            let (log_start_offset, high_watermark) =
                (partition.log_start_offset(), partition.high_watermark());
            response
                .with_error_code(super::log_error_code(&e))
                .with_high_watermark(high_watermark)
                .with_last_stable_offset(high_watermark)
                .with_log_start_offset(log_start_offset)
        }
    }
}

/// One WARN line per partition answered with an error.
fn warn_errors(
    header: &RequestHeader,
    wanted: &[WantedTopic],
    responses: &[FetchableTopicResponse],
) {
    for (topic, response) in wanted.iter().zip(responses) {
        for (w, data) in topic.partitions.iter().zip(&response.partitions) {
            let about = format_args!(
                "{}-{} at offset {}",
                &*topic.name, data.partition_index, w.fetch_offset
            );
            warn_error(ApiKey::Fetch, header, data.error_code, &about);
        }
    }
}
