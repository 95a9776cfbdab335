//! Metadata (0-12): the one broker, the controller (us), and topics with their partitions, all led by
//! us at leader epoch 0. Topics named in the request that do not exist are created when the broker
//! allows auto-creation and the request does (`allow_auto_topic_creation`, v4+; always before v4);
//! otherwise they answer UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID for lookups by id, v10+).
//! Authorized operations (v8+, when asked) are Kafka's bitfields, see `authorized_operations.rs`.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::authorized_operations::for_principal;
use super::context::RequestContext;
use super::describe_cluster::CLUSTER_NAME;
use crate::answer_log::warn_error;
use crate::auth::acl::ResourceType;
use crate::topics::Topic;
use crate::{BrokerError, BrokerState};

/// Answers a Metadata request.
pub async fn handle(ctx: &RequestContext, request: MetadataRequest) -> MetadataResponse {
    let (state, header) = (&ctx.state, &ctx.header);
    let version = header.request_api_version;
    let auto_create =
        state.config.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
    // Kafka answers the cluster's operations in v8-10 only (v11+ asks DescribeCluster instead).
    let cluster_operations = for_principal(
        &ctx.authorizer,
        ResourceType::Cluster,
        CLUSTER_NAME,
        (8..=10).contains(&version) && request.include_cluster_authorized_operations,
    );
    let topic_operations_requested = version >= 8 && request.include_topic_authorized_operations;
    let mut topics = match request.topics {
        None => all_topics(state),
        // v0 has no null: an empty list means every topic.
        Some(requested) if requested.is_empty() && version == 0 => all_topics(state),
        Some(requested) => {
            let mut topics = Vec::with_capacity(requested.len());
            for topic in requested {
                topics.push(requested_topic(state, topic.name, topic.topic_id, auto_create).await);
            }
            topics
        }
    };
    for topic in &mut topics {
        let name = topic.name.as_ref().map_or("", |name| name.as_str());
        topic.topic_authorized_operations = for_principal(
            &ctx.authorizer,
            ResourceType::Topic,
            name,
            topic_operations_requested,
        );
        let about = topic.name.as_deref().map_or("(by id)", |name| &**name);
        warn_error(ApiKey::Metadata, header, topic.error_code, &about);
    }
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(state.node_id().into())
            .with_host(StrBytes::from_string(state.advertised_host.clone()))
            .with_port(state.advertised_port)])
        .with_cluster_id(Some(StrBytes::from_string(state.cluster_id.clone())))
        .with_controller_id(state.node_id().into())
        .with_cluster_authorized_operations(cluster_operations)
        .with_topics(topics)
}

fn all_topics(state: &BrokerState) -> Vec<MetadataResponseTopic> {
    state
        .topics
        .list()
        .iter()
        .map(|topic| topic_metadata(state, topic))
        .collect()
}

async fn requested_topic(
    state: &Arc<BrokerState>,
    name: Option<TopicName>,
    topic_id: uuid::Uuid,
    auto_create: bool,
) -> MetadataResponseTopic {
    let Some(name) = name else {
        return match state.topics.get_by_id(topic_id) {
            Some(topic) => topic_metadata(state, &topic),
            None => MetadataResponseTopic::default()
                .with_name(None)
                .with_topic_id(topic_id)
                .with_error_code(ResponseError::UnknownTopicId.code()),
        };
    };
    if let Some(topic) = state.topics.get(&name) {
        return topic_metadata(state, &topic);
    }
    let error = if auto_create {
        let owned = name.to_string();
        match super::blocking(state, move |s| s.topics.get_or_create(&owned)).await {
            Ok(topic) => return topic_metadata(state, &topic),
            Err(e) => {
                tracing::debug!(topic = %&*name, error = %e, "auto-create failed");
                e
            }
        }
    } else {
        BrokerError::UnknownTopic {
            name: name.to_string(),
        }
    };
    MetadataResponseTopic::default()
        .with_name(Some(name))
        .with_error_code(error.error_code())
}

/// The metadata of one existing topic.
pub fn topic_metadata(state: &BrokerState, topic: &Topic) -> MetadataResponseTopic {
    let node = state.node_id().into();
    let partitions = topic
        .partitions()
        .iter()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p.index)
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.topic_id)
        .with_is_internal(topic.is_internal())
        .with_partitions(partitions)
}
