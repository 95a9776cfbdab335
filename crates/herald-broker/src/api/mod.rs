//! The Kafka APIs: [`registry`] declares each one once (versions, ACL rule, handler, error codes),
//! and each API has its own file, whose handler takes the request's context (or the shared state and
//! the header) and the decoded body and returns the response body. [`context`] holds what handlers
//! receive and return. Not here: framing and the version gate (`frame.rs`), the reply queue
//! (`connection.rs`), the ACL rules (`auth/rules.rs`).

pub mod acl_fields;
pub mod alter_configs;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod authorized_operations;
pub mod config_changes;
pub mod context;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_user_scram_credentials;
pub mod error_codes;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
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
pub mod registry;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;

use std::sync::Arc;

use kafka_protocol::protocol::StrBytes;

use crate::{BrokerError, BrokerState};

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
        LogError::InvalidTimestamp { .. } => ResponseError::InvalidTimestamp,
        LogError::InvalidRecord { .. } => ResponseError::InvalidRecord,
        LogError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        LogError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::Io { .. } | LogError::CorruptSegment { .. } => ResponseError::KafkaStorageError,
    };
    code.code()
}
