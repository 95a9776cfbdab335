//! Request dispatch: one `match` on the decoded request, one file per Kafka API.
//!
//! Every handler takes the shared state, the request header and the decoded body, and returns the
//! response body; `connection.rs` does the framing and the response header. `None` means "send no
//! response" (a Produce with acks=0). Not here: decoding, version checks (`connection.rs`).

pub mod api_versions;
pub mod authorized_operations;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_topics;
pub mod describe_configs;
pub mod describe_groups;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;

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

        // ---- Group coordinator APIs -------------------------------------------------------------
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(find_coordinator::handle(state, header, r))
        }
        RequestKind::JoinGroup(r) => {
            ResponseKind::JoinGroup(join_group::handle(state, header, r).await)
        }
        RequestKind::SyncGroup(r) => {
            ResponseKind::SyncGroup(sync_group::handle(state, header, r).await)
        }
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(heartbeat::handle(state, header, r)),
        RequestKind::LeaveGroup(r) => {
            ResponseKind::LeaveGroup(leave_group::handle(state, header, r))
        }
        RequestKind::OffsetCommit(r) => {
            ResponseKind::OffsetCommit(offset_commit::handle(state, header, r).await)
        }
        RequestKind::OffsetFetch(r) => {
            ResponseKind::OffsetFetch(offset_fetch::handle(state, header, r))
        }
        RequestKind::ListGroups(r) => {
            ResponseKind::ListGroups(list_groups::handle(state, header, r))
        }
        RequestKind::DescribeGroups(r) => {
            ResponseKind::DescribeGroups(describe_groups::handle(state, header, r))
        }
        RequestKind::DeleteGroups(r) => {
            ResponseKind::DeleteGroups(delete_groups::handle(state, header, r).await)
        }
        RequestKind::OffsetDelete(r) => {
            ResponseKind::OffsetDelete(offset_delete::handle(state, header, r).await)
        }
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
