//! SaslHandshake (0-1): the client names its SASL mechanism; we answer with the mechanisms we offer.
//! Served only when SASL is configured (`auth/`). v0 would mean raw SASL tokens outside Kafka framing;
//! it is refused with UNSUPPORTED_SASL_MECHANISM (librdkafka, the Java client and kafkajs use v1).

use kafka_protocol::messages::{RequestHeader, SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_protocol::protocol::StrBytes;

use crate::auth::users::Mechanism;
use crate::auth::Session;

/// Answers a SaslHandshake and records the chosen mechanism in the session.
pub fn handle(
    session: &mut Session,
    header: &RequestHeader,
    request: SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    let error_code = match session.handshake(&request.mechanism, header.request_api_version) {
        Ok(()) => 0,
        Err(code) => code,
    };
    SaslHandshakeResponse::default()
        .with_error_code(error_code)
        .with_mechanisms(
            Mechanism::ALL
                .into_iter()
                .map(|m| StrBytes::from_static_str(m.name()))
                .collect(),
        )
}
