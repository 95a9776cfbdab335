//! The detail behind an error answer, at DEBUG: what each error a handler answers concerned (a
//! topic-partition, a group, a transactional id), with the API, the client id and the code.
//!
//! The WARN line every error response gets comes from `connection.rs` (one per response, for every
//! API, from the registry's error codes); these lines say which item of the request it was about,
//! for `RUST_LOG=herald_broker=debug`. Not here: errors that close the connection, which
//! `connection.rs` logs itself.

use std::fmt::Display;

use kafka_protocol::error::ParseResponseErrorCode;
use kafka_protocol::messages::{ApiKey, RequestHeader};

/// Logs (DEBUG) that `api` answered `error_code` to the client of `header` about `about`. A zero code (no
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
    tracing::debug!(
        api = ?api,
        client_id,
        error_code,
        error = ?error,
        about = %about,
        "error answered"
    );
}
