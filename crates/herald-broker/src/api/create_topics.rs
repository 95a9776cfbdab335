//! CreateTopics (2-5): creates topics with a partition count (-1 = the broker default), replication
//! factor 1 (or -1), and the accepted topic configs (see `topic_config.rs`). Answers
//! TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_CONFIG or
//! INVALID_TOPIC_EXCEPTION per topic; `validate_only` checks without creating. v5 reports the topic's
//! id, partitions and effective configs.

use std::sync::Arc;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use crate::topic_config::{self, TopicConfigs};
use crate::{BrokerError, BrokerState};

/// Answers a CreateTopics request.
pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        results.push(
            create_one(
                state,
                header.request_api_version,
                topic,
                request.validate_only,
            )
            .await,
        );
    }
    CreateTopicsResponse::default().with_topics(results)
}

async fn create_one(
    state: &Arc<BrokerState>,
    version: i16,
    topic: CreatableTopic,
    validate_only: bool,
) -> CreatableTopicResult {
    let name = topic.name.clone();
    let result = CreatableTopicResult::default().with_name(topic.name.clone());
    let partitions = if !topic.assignments.is_empty() {
        i32::try_from(topic.assignments.len()).unwrap_or(i32::MAX)
    } else if topic.num_partitions == -1 {
        state.config.default_partitions
    } else {
        topic.num_partitions
    };
    let checked = state
        .topics
        .validate_create(&name, partitions, topic.replication_factor)
        .and_then(|()| {
            topic_config::validate_all(topic.configs.iter().map(|c| (&*c.name, c.value.as_deref())))
        });
    let outcome = match checked {
        Err(e) => Err(e),
        Ok(configs) if validate_only => Ok((uuid::Uuid::nil(), configs)),
        Ok(configs) => {
            let owned = name.to_string();
            super::blocking(state, move |s| s.topics.create(&owned, partitions, configs))
                .await
                .map(|t| (t.topic_id, t.configs()))
        }
    };
    match outcome {
        Ok((topic_id, configs)) => {
            let result = result
                .with_topic_id(topic_id)
                .with_num_partitions(partitions)
                .with_replication_factor(1);
            if version >= 5 {
                result.with_configs(Some(describe(state, &configs)))
            } else {
                result
            }
        }
        Err(e) => failed(result, &e),
    }
}

fn failed(result: CreatableTopicResult, error: &BrokerError) -> CreatableTopicResult {
    tracing::debug!(error = %error, "create topic refused");
    result
        .with_error_code(error.error_code())
        .with_error_message(super::message(error))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
}

fn describe(state: &BrokerState, configs: &TopicConfigs) -> Vec<CreatableTopicConfigs> {
    topic_config::describe(&state.config, configs)
        .into_iter()
        .map(|entry| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(entry.name))
                .with_value(Some(StrBytes::from_string(entry.value)))
                .with_config_source(entry.source as i8)
        })
        .collect()
}
