//! ApiVersions (0-4): the versions this broker serves, listed from the registry (`registry.rs`),
//! which also gates every request (`frame.rs`): a version outside it closes the connection, except
//! ApiVersions itself, which gets error 35 (UNSUPPORTED_VERSION) with this list in a v0 body
//! (KIP-511). The SASL steps are listed only when SASL is configured.
//!
//! Group APIs are advertised even while their handlers are placeholders: librdkafka and the Java
//! client refuse brokers that lack them.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::ApiVersionsResponse;

use super::context::RequestContext;
use super::registry;

fn api_keys(sasl_enabled: bool) -> Vec<ApiVersion> {
    registry::offered(sasl_enabled)
        .map(|api| {
            ApiVersion::default()
                .with_api_key(api.key as i16)
                .with_min_version(api.min_version)
                .with_max_version(api.max_version)
        })
        .collect()
}

/// Answers a supported ApiVersions request.
pub fn handle(ctx: &RequestContext) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(api_keys(ctx.state.security.sasl_enabled()))
}

/// The v0 body answering an ApiVersions version we do not know.
pub fn unsupported_version_response(sasl_enabled: bool) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_keys(sasl_enabled))
}
