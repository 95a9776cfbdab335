//! Topic administration through rdkafka's admin API: create, delete, describe and alter configs,
//! purge (DeleteRecords). Each reports an API the cluster does not implement as
//! [`ConsoleError::Unsupported`] naming it, so the page can say so plainly.

use rdkafka::admin::{AlterConfig, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::{Cluster, ConfigView};
use crate::{ConsoleError, Result};

impl Cluster {
    /// Creates `name` with `partitions` partitions and `configs`.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: &[(String, String)],
    ) -> Result<()> {
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(-1));
        for (key, value) in configs {
            topic = topic.set(key, value);
        }
        let operation = format!("create topic {name}");
        let results = self
            .admin
            .create_topics([&topic], &self.admin_options())
            .await
            .map_err(|e| {
                ConsoleError::kafka(self.brokers(), &operation, Some("CreateTopics"), e)
            })?;
        admin_results(results, &operation, "CreateTopics")
    }

    /// Deletes the topic `name`.
    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        let operation = format!("delete topic {name}");
        let results = self
            .admin
            .delete_topics(&[name], &self.admin_options())
            .await
            .map_err(|e| {
                ConsoleError::kafka(self.brokers(), &operation, Some("DeleteTopics"), e)
            })?;
        admin_results(results, &operation, "DeleteTopics")
    }

    /// Every config entry of topic `name`.
    pub async fn topic_configs(&self, name: &str) -> Result<Vec<ConfigView>> {
        let operation = format!("describe configs of {name}");
        let results = self
            .admin
            .describe_configs([&ResourceSpecifier::Topic(name)], &self.admin_options())
            .await
            .map_err(|e| {
                ConsoleError::kafka(self.brokers(), &operation, Some("DescribeConfigs"), e)
            })?;
        let mut entries = Vec::new();
        for result in results {
            let resource = result
                .map_err(|code| ConsoleError::refused(&operation, Some("DescribeConfigs"), code))?;
            entries.extend(resource.entries.into_iter().map(|e| ConfigView {
                value: if e.is_sensitive {
                    Some("(sensitive)".into())
                } else {
                    e.value
                },
                name: e.name,
                is_default: e.is_default,
                is_read_only: e.is_read_only,
            }));
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Sets `key` to `value` on topic `name`. AlterConfigs replaces a topic's whole set of dynamic
    /// configs, so every other non-default entry is sent again unchanged.
    pub async fn alter_topic_config(&self, name: &str, key: &str, value: &str) -> Result<()> {
        let current = self.topic_configs(name).await?;
        let kept: Vec<&ConfigView> = current
            .iter()
            .filter(|c| !c.is_default && !c.is_read_only && c.name != key && c.value.is_some())
            .collect();
        let mut alter = AlterConfig::new(ResourceSpecifier::Topic(name)).set(key, value);
        for entry in &kept {
            alter = alter.set(&entry.name, entry.value.as_deref().unwrap_or_default());
        }
        let operation = format!("set {key} on {name}");
        let results = self
            .admin
            .alter_configs([&alter], &self.admin_options())
            .await
            .map_err(|e| {
                ConsoleError::kafka(self.brokers(), &operation, Some("AlterConfigs"), e)
            })?;
        for result in results {
            if let Err((_, code)) = result {
                return Err(ConsoleError::refused(
                    &operation,
                    Some("AlterConfigs"),
                    code,
                ));
            }
        }
        Ok(())
    }

    /// Deletes every record of topic `name` (DeleteRecords up to each high watermark).
    pub async fn purge(&self, name: &str, partitions: &[i32]) -> Result<()> {
        let operation = format!("purge {name}");
        let fail = |e| ConsoleError::kafka(self.brokers(), &operation, Some("DeleteRecords"), e);
        let mut list = TopicPartitionList::new();
        for partition in partitions {
            list.add_partition_offset(name, *partition, Offset::End)
                .map_err(fail)?;
        }
        let answered = self
            .admin
            .delete_records(&list, &self.admin_options())
            .await
            .map_err(fail)?;
        for element in answered.elements() {
            if let Err(e) = element.error() {
                return Err(fail(e));
            }
        }
        Ok(())
    }
}

fn admin_results(
    results: Vec<std::result::Result<String, (String, RDKafkaErrorCode)>>,
    operation: &str,
    api: &'static str,
) -> Result<()> {
    for result in results {
        if let Err((_, code)) = result {
            return Err(ConsoleError::refused(operation, Some(api), code));
        }
    }
    Ok(())
}
