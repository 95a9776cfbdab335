//! The one error type of the herald library.
//!
//! Every fallible herald operation returns [`Result`]. Variants are named for what failed and carry
//! the values that explain it; [`Error::is_retriable`] tells callers whether trying the same
//! operation again later can succeed (a broker outage, a full buffer, a busy database) or cannot
//! (a malformed event, a bad configuration).
//!
//! This module is not a place for retry policy: that lives with the producer, the outbox relay and
//! the consumer middleware.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Everything that can go wrong in herald.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A Kafka client operation failed (creating a client, producing, fetching metadata, ...).
    #[error("kafka {operation} failed: {source}")]
    Kafka {
        /// What herald was doing, e.g. "create producer", "produce", "flush".
        operation: &'static str,
        /// The error reported by librdkafka.
        #[source]
        source: KafkaError,
    },

    /// A message could not be delivered after librdkafka's own retries (`message.timeout.ms`).
    #[error("delivery to topic {topic} failed: {source}")]
    Delivery {
        /// Topic the message was meant for.
        topic: String,
        /// The final error reported by librdkafka.
        #[source]
        source: KafkaError,
    },

    /// `deliver_async` found the producer's bounded buffer full; nothing was enqueued.
    #[error("producer buffer full: {capacity} messages already waiting for the broker")]
    BufferFull {
        /// How many messages the buffer holds.
        capacity: usize,
    },

    /// A received Kafka message is not a herald event (neither CloudEvents nor the Rails shape).
    #[error("cannot decode event: {reason}")]
    Decode {
        /// Why it was rejected, fit to be sent along to a dead-letter topic.
        reason: String,
    },

    /// An event's data could not be serialized to (or deserialized from) JSON.
    #[error("cannot convert event {event_type} data to/from JSON: {source}")]
    Serialize {
        /// The event's type (`ce_type`), e.g. `user_created`.
        event_type: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },

    /// A database operation failed.
    #[error("database {operation} failed: {source}")]
    Database {
        /// What herald was doing, e.g. "insert outbox row".
        operation: &'static str,
        /// The sqlx error.
        #[source]
        source: sqlx::Error,
    },

    /// Running database migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// A configuration value is missing or invalid.
    #[error("invalid configuration {key}: {reason}")]
    Config {
        /// The setting, e.g. "bootstrap.servers".
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The component was shut down before (or while) the operation ran.
    #[error("{component} is shut down")]
    Shutdown {
        /// Which component, e.g. "producer".
        component: &'static str,
    },

    /// An offset reset was refused because the consumer group still has live members (they would
    /// overwrite the reset with their own commits). Stop the group's consumers first.
    #[error(
        "consumer group {group} has {members} live member(s); stop them before resetting offsets"
    )]
    GroupActive {
        /// The consumer group.
        group: String,
        /// How many members it has.
        members: usize,
    },

    /// An operation did not finish within its deadline.
    #[error("{operation} timed out after {timeout_ms} ms")]
    Timeout {
        /// What timed out, e.g. "flush".
        operation: &'static str,
        /// The deadline, in milliseconds.
        timeout_ms: u64,
    },

    /// The in-process test broker (feature `testing`) failed to start or stop.
    #[cfg(feature = "testing")]
    #[error("test broker {operation} failed: {source}")]
    TestBroker {
        /// "start" or "stop".
        operation: &'static str,
        /// The broker's error.
        #[source]
        source: herald_broker::BrokerError,
    },
}

/// `Result` with herald's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an [`Error::Kafka`] for `operation`.
    pub fn kafka(operation: &'static str, source: KafkaError) -> Self {
        Error::Kafka { operation, source }
    }

    /// Builds an [`Error::Database`] for `operation`.
    pub fn database(operation: &'static str, source: sqlx::Error) -> Self {
        Error::Database { operation, source }
    }

    /// Builds an [`Error::Decode`] with `reason`.
    pub fn decode(reason: impl Into<String>) -> Self {
        Error::Decode {
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::Config`] for setting `key`.
    pub fn config(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// Whether the same operation may succeed if tried again later.
    ///
    /// True for conditions that pass by themselves: broker unreachable or restarting, a full
    /// buffer, timeouts, a busy or unreachable database. False for errors in the data or the
    /// configuration, which no retry fixes, and for shutdown.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Kafka { source, .. } | Error::Delivery { source, .. } => {
                kafka_is_retriable(source)
            }
            Error::BufferFull { .. } | Error::Timeout { .. } => true,
            Error::Database { source, .. } => database_is_retriable(source),
            Error::Decode { .. }
            | Error::Serialize { .. }
            | Error::Migrate(_)
            | Error::Config { .. }
            | Error::GroupActive { .. }
            | Error::Shutdown { .. } => false,
            #[cfg(feature = "testing")]
            Error::TestBroker { .. } => false,
        }
    }
}

/// Kafka errors that come from a broker being away, slow or moving leadership.
fn kafka_is_retriable(error: &KafkaError) -> bool {
    if let KafkaError::Transaction(error) = error {
        return error.is_retriable();
    }
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::Resolve
                | RDKafkaErrorCode::MessageTimedOut
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::QueueFull
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::NetworkException
                | RDKafkaErrorCode::CoordinatorLoadInProgress
                | RDKafkaErrorCode::CoordinatorNotAvailable
                | RDKafkaErrorCode::NotCoordinator
                | RDKafkaErrorCode::NotEnoughReplicas
                | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
        )
    )
}

/// PostgreSQL SQLSTATEs that mean "try the transaction again": serialization failure, deadlock.
const POSTGRES_RETRIABLE_SQLSTATES: [&str; 2] = ["40001", "40P01"];
/// SQLite primary result codes that mean "try again": SQLITE_BUSY (5), SQLITE_LOCKED (6).
const SQLITE_RETRIABLE_CODES: [&str; 2] = ["5", "6"];

/// Database errors that come from contention or an unreachable server.
fn database_is_retriable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            POSTGRES_RETRIABLE_SQLSTATES.contains(&code.as_ref())
                || SQLITE_RETRIABLE_CODES.contains(&code.as_ref())
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Broker outages and full buffers are retriable; bad data and bad configuration are not.
    #[test]
    fn retriable_classification() {
        let outage = Error::kafka(
            "produce",
            KafkaError::MessageProduction(RDKafkaErrorCode::AllBrokersDown),
        );
        assert!(outage.is_retriable());
        assert!(Error::BufferFull { capacity: 10 }.is_retriable());
        let too_large = Error::kafka(
            "produce",
            KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge),
        );
        assert!(!too_large.is_retriable());
        assert!(!Error::decode("not json").is_retriable());
        assert!(!Error::config("bootstrap.servers", "empty").is_retriable());
        assert!(Error::database("insert", sqlx::Error::PoolTimedOut).is_retriable());
        assert!(!Error::database("insert", sqlx::Error::RowNotFound).is_retriable());
    }

    // Messages name the operation and carry the explaining values.
    #[test]
    fn messages_name_what_failed() {
        let error = Error::BufferFull { capacity: 42 };
        assert!(error.to_string().contains("42"));
        let error = Error::decode("ce_id is not a UUID");
        assert_eq!(
            error.to_string(),
            "cannot decode event: ce_id is not a UUID"
        );
    }
}
