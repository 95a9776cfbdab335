//! The console's one error type, and how each error becomes an HTML error page with the right status.
//!
//! Input mistakes are 4xx with a message saying what to fix; an unreachable cluster is 503 (the page
//! works again once the brokers return); an API the cluster does not implement is 501 and says so.

use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// Result with [`ConsoleError`].
pub type Result<T, E = ConsoleError> = std::result::Result<T, E>;

/// What went wrong, with the values that explain it.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The listen address could not be bound or served.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An rdkafka client could not be created (a bad `-X` setting, usually).
    #[error("cannot create the {client} client: {source}")]
    Client {
        /// Which client.
        client: &'static str,
        /// rdkafka's error.
        source: Box<KafkaError>,
    },
    /// The brokers did not answer in time.
    #[error("cannot reach the brokers at {brokers} ({operation}): {source}")]
    Unreachable {
        /// The bootstrap brokers.
        brokers: String,
        /// What the console was doing.
        operation: String,
        /// rdkafka's error.
        source: Box<KafkaError>,
    },
    /// A group administration call (offset reset) failed.
    #[error(transparent)]
    Admin(Box<herald::Error>),
    /// The cluster answered with an error.
    #[error("{operation}: the cluster answered {code:?} ({code})")]
    Refused {
        /// What the console was doing.
        operation: String,
        /// The error code.
        code: RDKafkaErrorCode,
    },
    /// The cluster does not implement the API this action needs.
    #[error("{operation}: this cluster does not support the {api} API ({code})")]
    Unsupported {
        /// What the console was doing.
        operation: String,
        /// The Kafka API.
        api: &'static str,
        /// The error code.
        code: RDKafkaErrorCode,
    },
    /// Bad input: the message says what to fix.
    #[error("{0}")]
    BadRequest(String),
    /// No such topic, group or record.
    #[error("{0}")]
    NotFound(String),
    /// The action conflicts with the cluster's state (e.g. a reset of a group with members).
    #[error("{0}")]
    Conflict(String),
    /// A write on a read-only console.
    #[error("this console is read-only: writes are disabled")]
    ReadOnly,
    /// A POST without the page's CSRF token.
    #[error("missing or wrong CSRF token: reload the page and try again")]
    Csrf,
    /// A blocking task panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(tokio::task::JoinError),
}

impl ConsoleError {
    /// Whether trying again later may succeed (the cluster was unreachable).
    pub fn is_retriable(&self) -> bool {
        matches!(self, ConsoleError::Unreachable { .. })
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::Conflict(_) => StatusCode::CONFLICT,
            ConsoleError::ReadOnly | ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::Unreachable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Unsupported { .. } => StatusCode::NOT_IMPLEMENTED,
            ConsoleError::Admin(error) if matches!(**error, herald::Error::GroupActive { .. }) => {
                StatusCode::CONFLICT
            }
            ConsoleError::Admin(_) => StatusCode::BAD_GATEWAY,
            ConsoleError::Refused { code, .. } => match code {
                RDKafkaErrorCode::TopicAlreadyExists => StatusCode::CONFLICT,
                RDKafkaErrorCode::UnknownTopicOrPartition => StatusCode::NOT_FOUND,
                RDKafkaErrorCode::InvalidTopic
                | RDKafkaErrorCode::InvalidPartitions
                | RDKafkaErrorCode::InvalidConfig
                | RDKafkaErrorCode::InvalidRequest
                | RDKafkaErrorCode::PolicyViolation => StatusCode::BAD_REQUEST,
                _ => StatusCode::BAD_GATEWAY,
            },
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Classifies an rdkafka error from `operation`: timeouts and transport failures mean the
    /// cluster is unreachable.
    pub(crate) fn kafka(
        brokers: &str,
        operation: impl Into<String>,
        api: Option<&'static str>,
        source: KafkaError,
    ) -> Self {
        let code = match &source {
            KafkaError::AdminOp(code) => Some(*code),
            other => other.rdkafka_error_code(),
        };
        let unreachable = matches!(
            code,
            Some(
                RDKafkaErrorCode::OperationTimedOut
                    | RDKafkaErrorCode::RequestTimedOut
                    | RDKafkaErrorCode::AllBrokersDown
                    | RDKafkaErrorCode::BrokerTransportFailure
                    | RDKafkaErrorCode::Resolve
            )
        );
        match code {
            Some(code) if !unreachable && !matches!(source, KafkaError::ClientCreation(_)) => {
                ConsoleError::refused(operation, api, code)
            }
            _ => ConsoleError::Unreachable {
                brokers: brokers.to_string(),
                operation: operation.into(),
                source: Box::new(source),
            },
        }
    }

    /// An error code the cluster answered for `operation`; `api` names the Kafka API so that an
    /// unsupported one is reported as such.
    pub(crate) fn refused(
        operation: impl Into<String>,
        api: Option<&'static str>,
        code: RDKafkaErrorCode,
    ) -> Self {
        let unsupported = matches!(
            code,
            RDKafkaErrorCode::UnsupportedFeature
                | RDKafkaErrorCode::UnsupportedVersion
                | RDKafkaErrorCode::InvalidRequest
        );
        match api {
            Some(api) if unsupported => ConsoleError::Unsupported {
                operation: operation.into(),
                api,
                code,
            },
            _ => ConsoleError::Refused {
                operation: operation.into(),
                code,
            },
        }
    }
}

impl From<herald::Error> for ConsoleError {
    fn from(error: herald::Error) -> Self {
        ConsoleError::Admin(Box::new(error))
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "console request failed");
        }
        let hint = match &self {
            ConsoleError::Unreachable { .. } => {
                "<p>The console keeps trying: reload this page once the brokers are back.</p>"
            }
            ConsoleError::Unsupported { .. } => {
                "<p>The cluster answered that it does not implement this API; nothing was changed.</p>"
            }
            _ => "",
        };
        let body = format!(
            "<section class=\"error\"><h2>{} {}</h2><p id=\"error-message\">{}</p>{hint}\
             <p><a href=\"javascript:history.back()\">Back</a> · <a href=\"/\">Overview</a></p></section>",
            status.as_u16(),
            crate::html::escape(status.canonical_reason().unwrap_or("error")),
            crate::html::escape(&self.to_string()),
        );
        (status, crate::html::bare_page("Error", &body)).into_response()
    }
}
