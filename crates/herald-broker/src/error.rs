//! [`BrokerError`]: the one error type of herald-broker. Variants are named for what failed and map to
//! Kafka error codes with [`BrokerError::error_code`] where a request caused them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use kafka_protocol::error::ResponseError;

/// Errors starting or stopping the broker, and errors of topic operations that requests report.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Binding the listener failed.
    #[error("bind {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// Opening or recovering storage failed.
    #[error("storage: {0}")]
    Storage(#[from] herald_log::LogError),
    /// A file operation on broker metadata failed.
    #[error("{operation} {}: {source}", path.display())]
    Io {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A metadata file (topic meta.json, broker.json) does not parse.
    #[error("corrupt metadata file {}: {source}", path.display())]
    CorruptMetadata {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// CreateTopics for a name that exists.
    #[error("topic {name} already exists")]
    TopicAlreadyExists { name: String },
    /// A topic name Kafka would not accept.
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName { name: String, reason: &'static str },
    /// A partition count below 1 or not above the current count.
    #[error("invalid partitions for {name}: {reason}")]
    InvalidPartitions { name: String, reason: String },
    /// A replication factor other than 1 (or -1 for the default) on a one-node cluster.
    #[error("replication factor {factor} is impossible on a single node")]
    InvalidReplicationFactor { factor: i16 },
    /// An unknown topic config name or a value that does not parse.
    #[error("invalid config {name}={value:?}: {reason}")]
    InvalidConfig {
        name: String,
        value: Option<String>,
        reason: String,
    },
    /// A client asked to write, delete or grow an internal topic (`internal_topics`).
    #[error("{name} is an internal topic: {operation} is not allowed")]
    InternalTopic {
        name: String,
        operation: &'static str,
    },
    /// A topic that does not exist.
    #[error("unknown topic {name}")]
    UnknownTopic { name: String },
    /// A users, ACL, certificate or key file that does not parse.
    #[error("invalid security file {}: {reason}", path.display())]
    InvalidSecurityFile { path: PathBuf, reason: String },
}

impl BrokerError {
    pub(crate) fn io(operation: &'static str, path: &Path, source: std::io::Error) -> Self {
        BrokerError::Io {
            operation,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The Kafka error code a request that failed with this error answers.
    pub fn error_code(&self) -> i16 {
        let error = match self {
            BrokerError::TopicAlreadyExists { .. } => ResponseError::TopicAlreadyExists,
            BrokerError::InvalidTopicName { .. } => ResponseError::InvalidTopicException,
            BrokerError::InternalTopic { .. } => ResponseError::InvalidTopicException,
            BrokerError::InvalidPartitions { .. } => ResponseError::InvalidPartitions,
            BrokerError::InvalidReplicationFactor { .. } => ResponseError::InvalidReplicationFactor,
            BrokerError::InvalidConfig { .. } => ResponseError::InvalidConfig,
            BrokerError::UnknownTopic { .. } => ResponseError::UnknownTopicOrPartition,
            BrokerError::Storage(_) | BrokerError::Io { .. } => ResponseError::KafkaStorageError,
            BrokerError::Bind { .. }
            | BrokerError::CorruptMetadata { .. }
            | BrokerError::InvalidSecurityFile { .. } => ResponseError::UnknownServerError,
        };
        error.code()
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            BrokerError::Storage(e) => e.is_retriable(),
            BrokerError::Io { .. } | BrokerError::Bind { .. } => true,
            _ => false,
        }
    }
}
