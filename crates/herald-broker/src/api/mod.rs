//! Request dispatch: one `match` on the decoded request, one file per Kafka API.
//!
//! Every handler takes the shared state, the request header and the decoded body, and returns the
//! response body; `connection.rs` does the framing and the response header. `None` means "send no
//! response" (a Produce with acks=0). Not here: decoding, version checks (`connection.rs`).

pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_topics;
pub mod describe_configs;
pub mod fetch;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod offset_for_leader_epoch;
pub mod produce;

use std::sync::Arc;

use kafka_protocol::messages::{RequestHeader, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use crate::{BrokerError, BrokerState};

/// Handles one request; `None` means no response is sent.
pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    request: RequestKind,
) -> Option<ResponseKind> {
    let response = match request {
        RequestKind::ApiVersions(r) => ResponseKind::ApiVersions(api_versions::handle(header, r)),
        RequestKind::Metadata(r) => {
            ResponseKind::Metadata(metadata::handle(state, header, r).await)
        }
        RequestKind::Produce(r) => {
            return produce::handle(state, header, r)
                .await
                .map(ResponseKind::Produce)
        }
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::handle(state, header, r).await),
        RequestKind::ListOffsets(r) => {
            ResponseKind::ListOffsets(list_offsets::handle(state, header, r))
        }
        RequestKind::CreateTopics(r) => {
            ResponseKind::CreateTopics(create_topics::handle(state, header, r).await)
        }
        RequestKind::DeleteTopics(r) => {
            ResponseKind::DeleteTopics(delete_topics::handle(state, header, r).await)
        }
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(create_partitions::handle(state, header, r).await)
        }
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(describe_configs::handle(state, header, r))
        }
        RequestKind::InitProducerId(r) => {
            ResponseKind::InitProducerId(init_producer_id::handle(state, header, r).await)
        }
        RequestKind::OffsetForLeaderEpoch(r) => {
            ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(state, header, r))
        }

        // ---- Group coordinator APIs: the coordinator engineer's arms go here ----
        // ---- end of group coordinator APIs ------------------------------------------------------
        other => {
            // Unreachable while api_versions::SUPPORTED and this match agree: connection.rs closes
            // the connection for any API not in the table before dispatch.
            tracing::error!(request = ?std::mem::discriminant(&other), "request kind without a handler");
            return None;
        }
    };
    Some(response)
}

/// Runs blocking topic work (directories, fsyncs) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &Arc<BrokerState>,
    work: impl FnOnce(&BrokerState) -> Result<T, BrokerError> + Send + 'static,
) -> Result<T, BrokerError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || work(&state))
        .await
        .map_err(|e| BrokerError::Io {
            operation: "blocking task",
            path: std::path::PathBuf::new(),
            source: e.into(),
        })?
}

/// An error message for a response's `error_message` field.
pub(crate) fn message(error: &impl std::fmt::Display) -> Option<StrBytes> {
    Some(StrBytes::from_string(error.to_string()))
}

/// The Kafka error code for a storage error met while serving a request.
pub(crate) fn log_error_code(error: &herald_log::LogError) -> i16 {
    use herald_log::LogError;
    use kafka_protocol::error::ResponseError;
    let code = match error {
        LogError::ChecksumMismatch { .. }
        | LogError::InvalidMagic { .. }
        | LogError::InsufficientLength { .. }
        | LogError::InvalidBatchLength { .. }
        | LogError::InvalidRecordBatch { .. } => ResponseError::CorruptMessage,
        LogError::BatchTooLarge { .. } => ResponseError::MessageTooLarge,
        LogError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        LogError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::Io { .. } | LogError::CorruptSegment { .. } => ResponseError::KafkaStorageError,
    };
    code.code()
}
