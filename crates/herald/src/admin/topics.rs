//! Topic administration through rdkafka's admin client: create a topic with its configs when it is
//! absent, read a topic's own (dynamic) configs, and change some of them while keeping the rest.
//!
//! Works against herald-broker and any Kafka cluster alike. rust-rdkafka 0.39 wraps AlterConfigs
//! but not IncrementalAlterConfigs, and AlterConfigs resets every config it does not name, so
//! [`Admin::alter_topic_configs`] reads the topic's dynamic configs first (DescribeConfigs), applies
//! the changes to that set and writes the whole set back. Two administrators altering one topic at
//! the same moment may therefore lose one change; herald itself alters a topic from one place.
//! Not here: group offsets (`admin.rs`).

use std::collections::BTreeMap;

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::{timeout, Admin};
use crate::error::{Error, Result};

/// What a topic is created with by [`Admin::create_topic_if_absent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Replicas per partition; `None` lets the cluster choose (`default.replication.factor`).
    pub replication: Option<i32>,
    /// Topic configs, e.g. `("cleanup.policy", "compact")`.
    pub configs: Vec<(String, String)>,
}

impl TopicSpec {
    /// A topic `name` with `partitions` partitions, the cluster's replication and no configs.
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        TopicSpec {
            name: name.into(),
            partitions,
            replication: None,
            configs: Vec::new(),
        }
    }

    /// Adds the topic config `key=value`.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

impl Admin {
    fn admin_client(&self) -> Result<AdminClient<DefaultClientContext>> {
        self.base
            .create()
            .map_err(|e| Error::kafka("create admin client", e))
    }

    /// Creates `spec` unless a topic of that name exists; `true` when this call created it. An
    /// existing topic is left as it is (its configs are not compared).
    pub async fn create_topic_if_absent(&self, spec: &TopicSpec) -> Result<bool> {
        let client = self.admin_client()?;
        // -1: the broker's default.replication.factor (CreateTopics v4+, KIP-464).
        let replication = TopicReplication::Fixed(spec.replication.unwrap_or(-1));
        let mut topic = NewTopic::new(&spec.name, spec.partitions, replication);
        for (key, value) in &spec.configs {
            topic = topic.set(key, value);
        }
        let options = AdminOptions::new().request_timeout(Some(timeout()));
        let results = client
            .create_topics([&topic], &options)
            .await
            .map_err(|e| Error::kafka("create topic", e))?;
        match results.into_iter().next() {
            Some(Ok(_)) => Ok(true),
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(false),
            Some(Err((_, code))) => Err(Error::kafka("create topic", KafkaError::AdminOp(code))),
            None => Err(Error::config("topic", "CreateTopics answered nothing")),
        }
    }

    /// The configs set on `topic` itself (not broker defaults), by name.
    pub async fn topic_configs(&self, topic: &str) -> Result<BTreeMap<String, String>> {
        let client = self.admin_client()?;
        dynamic_configs(&client, topic).await
    }

    /// Sets each `(key, Some(value))` and removes each `(key, None)` (back to the broker default)
    /// on `topic`, keeping its other configs; returns the topic's configs afterwards.
    pub async fn alter_topic_configs(
        &self,
        topic: &str,
        changes: &[(&str, Option<&str>)],
    ) -> Result<BTreeMap<String, String>> {
        let client = self.admin_client()?;
        let mut configs = dynamic_configs(&client, topic).await?;
        for (key, value) in changes {
            match value {
                Some(value) => configs.insert((*key).to_string(), (*value).to_string()),
                None => configs.remove(*key),
            };
        }
        let mut alter = AlterConfig::new(ResourceSpecifier::Topic(topic));
        for (key, value) in &configs {
            alter = alter.set(key, value);
        }
        let options = AdminOptions::new().request_timeout(Some(timeout()));
        let results = client
            .alter_configs([&alter], &options)
            .await
            .map_err(|e| Error::kafka("alter topic configs", e))?;
        match results.into_iter().next() {
            Some(Ok(_)) => Ok(configs),
            Some(Err((_, code))) => Err(Error::kafka(
                "alter topic configs",
                KafkaError::AdminOp(code),
            )),
            None => Err(Error::config("topic", "AlterConfigs answered nothing")),
        }
    }
}

/// DescribeConfigs of `topic`, keeping the entries whose source is the topic itself.
async fn dynamic_configs(
    client: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> Result<BTreeMap<String, String>> {
    let options = AdminOptions::new().request_timeout(Some(timeout()));
    let results = client
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options)
        .await
        .map_err(|e| Error::kafka("describe topic configs", e))?;
    let resource = match results.into_iter().next() {
        Some(Ok(resource)) => resource,
        Some(Err(code)) => {
            return Err(Error::kafka(
                "describe topic configs",
                KafkaError::AdminOp(code),
            ))
        }
        None => return Err(Error::config("topic", "DescribeConfigs answered nothing")),
    };
    Ok(resource
        .entries
        .into_iter()
        .filter(|e| e.source == ConfigSource::DynamicTopic)
        .filter_map(|e| e.value.map(|value| (e.name, value)))
        .collect())
}
