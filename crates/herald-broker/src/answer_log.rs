//! One WARN line for every error a request handler answers: the API, the client id, the Kafka error
//! code (number and name) and what it concerned (a topic-partition, a group, a transactional id).
//!
//! Clients retry most errors silently, so without this line a wrong answer (or a client stuck on a
//! right one) leaves no trace on the broker. Not here: errors that close the connection (framing,
//! authentication), which `connection.rs` logs itself.

use std::fmt::Display;

use kafka_protocol::error::ParseResponseErrorCode;
use kafka_protocol::messages::{ApiKey, RequestHeader};

/// Logs that `api` answered `error_code` to the client of `header` about `about`. A zero code (no
/// error) logs nothing, so callers may pass every code they answer.
pub(crate) fn warn_error(
    api: ApiKey,
    header: &RequestHeader,
    error_code: i16,
    about: &dyn Display,
) {
    let Some(error) = error_code.err() else {
        return;
    };
    let client_id = header.client_id.as_deref().unwrap_or("");
    tracing::warn!(
        api = ?api,
        client_id,
        error_code,
        error = ?error,
        about = %about,
        "request answered with an error"
    );
}
