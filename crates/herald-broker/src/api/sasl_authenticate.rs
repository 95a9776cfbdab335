//! SaslAuthenticate (0-2): carries one SASL token each way (PLAIN: one round; SCRAM: two). A failed
//! login answers SASL_AUTHENTICATION_FAILED with a message and the connection is then closed.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{RequestHeader, SaslAuthenticateRequest, SaslAuthenticateResponse};
use kafka_protocol::protocol::StrBytes;

use crate::auth::Session;

/// Answers a SaslAuthenticate; the second value is why the connection must close, if it must.
pub fn handle(
    session: &mut Session,
    _header: &RequestHeader,
    request: SaslAuthenticateRequest,
) -> (SaslAuthenticateResponse, Option<String>) {
    match session.authenticate(&request.auth_bytes) {
        Ok(token) => (
            SaslAuthenticateResponse::default().with_auth_bytes(token),
            None,
        ),
        Err(reason) => {
            let response = SaslAuthenticateResponse::default()
                .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                .with_error_message(Some(StrBytes::from_string(reason.clone())));
            (response, Some(reason))
        }
    }
}
