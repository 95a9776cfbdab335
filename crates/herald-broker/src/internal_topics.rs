//! Internal topics: topics the broker owns and writes itself (`__consumer_offsets` today; the
//! transaction log later). Each is created at start-up with fixed configs if it does not exist, is
//! marked `is_internal` in Metadata, refuses client produces (INVALID_TOPIC_EXCEPTION, Kafka's "Cannot
//! append to internal topic"), and cannot be deleted, grown or auto-created by clients. Consumers may
//! read them.
//!
//! Adding an internal topic is one entry in [`INTERNAL_TOPICS`]; its owner finds its partitions with
//! `TopicRegistry::get`. Not here: what the records in a topic mean (the owner's business, e.g.
//! `coordinator::records`).

use crate::topic_config::{TopicConfigs, CLEANUP_POLICY};
use crate::BrokerConfig;

/// Kafka's name of the committed-offsets topic.
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Kafka's `offsets.topic.segment.bytes` default (100 MiB).
const OFFSETS_SEGMENT_BYTES: &str = "104857600";

/// One internal topic: its name, how many partitions it gets when first created, its config overrides.
#[derive(Debug, Clone, Copy)]
pub struct InternalTopic {
    pub name: &'static str,
    /// Partitions at creation (an existing topic keeps its count: the owner maps keys to partitions).
    pub partitions: fn(&BrokerConfig) -> i32,
    /// (name, value) overrides written into the topic's meta.json at creation.
    pub configs: &'static [(&'static str, &'static str)],
}

impl InternalTopic {
    /// The overrides as a topic config map.
    pub fn topic_configs(&self) -> TopicConfigs {
        self.configs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }
}

/// Every internal topic the broker creates.
pub const INTERNAL_TOPICS: &[InternalTopic] = &[InternalTopic {
    name: CONSUMER_OFFSETS_TOPIC,
    partitions: |config| config.offsets_topic_partitions.max(1),
    configs: &[
        (CLEANUP_POLICY, "compact"),
        ("segment.bytes", OFFSETS_SEGMENT_BYTES),
    ],
}];

/// Whether `name` is an internal topic.
pub fn is_internal(name: &str) -> bool {
    INTERNAL_TOPICS.iter().any(|t| t.name == name)
}
