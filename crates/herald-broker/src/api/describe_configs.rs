//! DescribeConfigs (1-4; kafka-protocol cannot encode v0): a topic resource lists every Kafka topic
//! config (`topic_config/catalog.rs`) with its effective value and source (topic override, the
//! broker's flag, or Kafka's default), its synonyms when asked (v1+: the override, then the broker
//! config it falls back to) and its type and documentation (v3+; the documentation says when a config
//! has no effect on one node). A broker resource lists the broker's settings, read-only: they are
//! flags of `herald broker`, not dynamic configs.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use crate::topic_config::{self, ConfigEntry, Source};
use crate::BrokerState;

/// Config resource type of a topic.
pub const RESOURCE_TOPIC: i8 = 2;
/// Config resource type of a broker.
pub const RESOURCE_BROKER: i8 = 4;
const CONFIG_TYPE_BOOLEAN: i8 = 1;
const CONFIG_TYPE_INT: i8 = 3;
const CONFIG_TYPE_LONG: i8 = 5;
const CONFIG_TYPE_DOUBLE: i8 = 6;
/// How Kafka prints `log.cleaner.io.max.bytes.per.second`'s default (Double.MAX_VALUE: unlimited).
const DOUBLE_MAX_TEXT: &str = "1.7976931348623157E308";

/// What the request asked to include.
#[derive(Clone, Copy)]
struct Include {
    synonyms: bool,
    documentation: bool,
}

/// Answers a DescribeConfigs request.
pub fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let version = header.request_api_version;
    let include = Include {
        synonyms: version >= 1 && request.include_synonyms,
        documentation: version >= 3 && request.include_documentation,
    };
    let results = request
        .resources
        .into_iter()
        .map(|resource| describe(state, resource, include))
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn describe(
    state: &BrokerState,
    resource: DescribeConfigsResource,
    include: Include,
) -> DescribeConfigsResult {
    let result = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    let wanted = |name: &str| {
        resource
            .configuration_keys
            .as_ref()
            .is_none_or(|keys| keys.iter().any(|k| &**k == name))
    };
    let (entries, read_only) = match resource.resource_type {
        RESOURCE_TOPIC => {
            let Some(topic) = state.topics.get(&resource.resource_name) else {
                return result
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_error_message(super::message(&"unknown topic"));
            };
            (
                topic_config::describe(&state.config, &topic.configs()),
                false,
            )
        }
        RESOURCE_BROKER => (broker_entries(state), true),
        _ => {
            return result
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(super::message(
                    &"only topic and broker resources are supported",
                ))
        }
    };
    let configs = entries
        .into_iter()
        .filter(|entry| wanted(entry.name))
        .map(|entry| result_of(entry, read_only, include))
        .collect();
    result.with_configs(configs)
}

fn result_of(
    entry: ConfigEntry,
    read_only: bool,
    include: Include,
) -> DescribeConfigsResourceResult {
    let synonyms = if include.synonyms {
        entry
            .synonyms
            .into_iter()
            .map(|(name, value, source)| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_string(name))
                    .with_value(Some(StrBytes::from_string(value)))
                    .with_source(source as i8)
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_static_str(entry.name))
        .with_value(Some(StrBytes::from_string(entry.value)))
        .with_config_source(entry.source as i8)
        .with_read_only(read_only)
        .with_config_type(entry.config_type)
        .with_synonyms(synonyms)
        .with_documentation(
            include
                .documentation
                .then(|| StrBytes::from_string(entry.documentation)),
        )
}

fn broker_entries(state: &BrokerState) -> Vec<ConfigEntry> {
    let c = &state.config;
    let optional = |v: Option<u64>| v.map_or_else(|| "-1".to_string(), |v| v.to_string());
    let entry = |name: &'static str, value: String, config_type: i8, doc: &str| ConfigEntry {
        name,
        value: value.clone(),
        source: Source::StaticBroker,
        synonyms: vec![(name.to_string(), value, Source::StaticBroker)],
        config_type,
        documentation: format!("{doc} (a flag of herald broker; read-only while it runs)"),
    };
    vec![
        entry(
            "broker.id",
            c.node_id.to_string(),
            CONFIG_TYPE_INT,
            "This broker's node id",
        ),
        entry(
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
            CONFIG_TYPE_BOOLEAN,
            "--auto-create-topics",
        ),
        entry(
            "num.partitions",
            c.default_partitions.to_string(),
            CONFIG_TYPE_INT,
            "--default-partitions",
        ),
        entry(
            "log.retention.ms",
            optional(c.retention_ms),
            CONFIG_TYPE_LONG,
            "--retention-ms",
        ),
        entry(
            "log.retention.bytes",
            optional(c.retention_bytes),
            CONFIG_TYPE_LONG,
            "--retention-bytes",
        ),
        entry(
            "log.segment.bytes",
            c.segment_bytes.to_string(),
            CONFIG_TYPE_INT,
            "--segment-bytes",
        ),
        entry(
            "message.max.bytes",
            c.max_message_bytes.to_string(),
            CONFIG_TYPE_INT,
            "Largest record batch by default",
        ),
        entry(
            "socket.request.max.bytes",
            c.max_request_bytes.to_string(),
            CONFIG_TYPE_INT,
            "Largest request",
        ),
        entry(
            "log.cleaner.enable",
            c.cleaner.enabled.to_string(),
            CONFIG_TYPE_BOOLEAN,
            "--log-cleaner-enable: run the log cleaner for compacted topics",
        ),
        entry(
            "log.cleaner.threads",
            c.cleaner.threads.to_string(),
            CONFIG_TYPE_INT,
            "--log-cleaner-threads: herald runs one cleaner thread",
        ),
        entry(
            "log.cleaner.dedupe.buffer.size",
            c.cleaner.dedupe_buffer_bytes.to_string(),
            CONFIG_TYPE_LONG,
            "--log-cleaner-dedupe-buffer-size: memory of the cleaner's key map; a larger log is \
             cleaned in several passes",
        ),
        entry(
            "log.cleaner.io.max.bytes.per.second",
            c.cleaner
                .io_max_bytes_per_second
                .map_or_else(|| DOUBLE_MAX_TEXT.to_string(), |rate| rate.to_string()),
            CONFIG_TYPE_DOUBLE,
            "--log-cleaner-io-max-bytes-per-second: the cleaner's read plus write rate limit",
        ),
        entry(
            "log.cleaner.backoff.ms",
            c.cleaner.backoff.as_millis().to_string(),
            CONFIG_TYPE_LONG,
            "--log-cleaner-backoff-ms: sleep between passes when no log is cleanable",
        ),
    ]
}
