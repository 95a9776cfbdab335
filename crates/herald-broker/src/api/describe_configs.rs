//! DescribeConfigs (1-4; kafka-protocol cannot encode v0): topic resources list every accepted topic
//! config (see `topic_config.rs`) with its effective value, defaults flagged with config source
//! DEFAULT_CONFIG; broker resources list a few read-only static settings.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use super::create_topics::{CONFIG_SOURCE_DEFAULT, CONFIG_SOURCE_TOPIC};
use crate::topic_config;
use crate::BrokerState;

/// Config resource type of a topic.
pub const RESOURCE_TOPIC: i8 = 2;
/// Config resource type of a broker.
pub const RESOURCE_BROKER: i8 = 4;
const CONFIG_SOURCE_STATIC_BROKER: i8 = 4;
const CONFIG_TYPE_STRING: i8 = 2;
const CONFIG_TYPE_INT: i8 = 3;
const CONFIG_TYPE_LONG: i8 = 5;
const CONFIG_TYPE_LIST: i8 = 7;

/// Answers a DescribeConfigs request.
pub fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .into_iter()
        .map(|resource| describe(state, resource))
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn describe(state: &BrokerState, resource: DescribeConfigsResource) -> DescribeConfigsResult {
    let result = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    let wanted = |name: &str| {
        resource
            .configuration_keys
            .as_ref()
            .is_none_or(|keys| keys.iter().any(|k| &**k == name))
    };
    let entries: Vec<(String, String, i8, bool)> = match resource.resource_type {
        RESOURCE_TOPIC => {
            let Some(topic) = state.topics.get(&resource.resource_name) else {
                return result
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_error_message(super::message(&"unknown topic"));
            };
            topic_config::describe(&state.config, &topic.configs())
                .into_iter()
                .map(|e| {
                    let source = if e.is_default {
                        CONFIG_SOURCE_DEFAULT
                    } else {
                        CONFIG_SOURCE_TOPIC
                    };
                    (e.name.to_string(), e.value, source, false)
                })
                .collect()
        }
        RESOURCE_BROKER => broker_entries(state),
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
        .filter(|(name, ..)| wanted(name))
        .map(|(name, value, source, read_only)| {
            DescribeConfigsResourceResult::default()
                .with_config_type(config_type(&name))
                .with_name(StrBytes::from_string(name))
                .with_value(Some(StrBytes::from_string(value)))
                .with_config_source(source)
                .with_read_only(read_only)
        })
        .collect();
    result.with_configs(configs)
}

fn broker_entries(state: &BrokerState) -> Vec<(String, String, i8, bool)> {
    let c = &state.config;
    let optional = |v: Option<u64>| v.map_or_else(|| "-1".to_string(), |v| v.to_string());
    [
        ("broker.id", c.node_id.to_string()),
        (
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
        ),
        ("num.partitions", c.default_partitions.to_string()),
        ("log.retention.ms", optional(c.retention_ms)),
        ("log.retention.bytes", optional(c.retention_bytes)),
        ("log.segment.bytes", c.segment_bytes.to_string()),
        ("message.max.bytes", c.max_message_bytes.to_string()),
        ("socket.request.max.bytes", c.max_request_bytes.to_string()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value, CONFIG_SOURCE_STATIC_BROKER, true))
    .collect()
}

fn config_type(name: &str) -> i8 {
    match name {
        topic_config::CLEANUP_POLICY => CONFIG_TYPE_LIST,
        topic_config::MAX_MESSAGE_BYTES | "broker.id" | "num.partitions" => CONFIG_TYPE_INT,
        "auto.create.topics.enable" => 1,
        n if n.ends_with(".ms") || n.ends_with(".bytes") => CONFIG_TYPE_LONG,
        _ => CONFIG_TYPE_STRING,
    }
}
