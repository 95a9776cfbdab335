//! ApiVersions (0-4): the versions this broker serves, from DESIGN.md's table. The same table gates
//! every request in `connection.rs`: a version outside it closes the connection, except ApiVersions
//! itself, which gets error 35 (UNSUPPORTED_VERSION) with this list in a v0 body (KIP-511).
//!
//! Group APIs are advertised even while their handlers are placeholders: librdkafka and the Java
//! client refuse brokers that lack them.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use kafka_protocol::protocol::VersionRange;

/// Produce v0-2 are advertised (old clients' feature checks need it) but not served.
pub const PRODUCE_VERSION_MIN_SERVED: i16 = 3;

/// (api, min version, max version) served.
const SUPPORTED: [(ApiKey, i16, i16); 22] = [
    (ApiKey::Produce, 0, 11),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 4),
    (ApiKey::SyncGroup, 0, 4),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 5),
    (ApiKey::DeleteTopics, 1, 4),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    // DESIGN.md says 0-4; kafka-protocol 0.18 cannot encode the v0 response, so 1-4.
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
];

/// Served and advertised only when SASL is configured; `auth::Session::admit` refuses them otherwise.
const SASL_SUPPORTED: [(ApiKey, i16, i16); 2] = [
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
];

/// The versions of `api_key` this broker serves, if any (the SASL APIs included).
pub fn supported(api_key: ApiKey) -> Option<VersionRange> {
    SUPPORTED
        .iter()
        .chain(SASL_SUPPORTED.iter())
        .find(|(key, _, _)| *key == api_key)
        .map(|&(_, min, max)| VersionRange { min, max })
}

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .map(|&(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}

/// The SASL APIs' entries, which `auth::handle` adds to ApiVersions when SASL is configured.
pub fn sasl_api_keys() -> Vec<ApiVersion> {
    SASL_SUPPORTED
        .iter()
        .map(|&(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}

/// Answers a supported ApiVersions request.
pub fn handle(_header: &RequestHeader, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(api_keys())
}

/// The v0 body answering an ApiVersions version we do not know.
pub fn unsupported_version_response() -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_keys())
}
