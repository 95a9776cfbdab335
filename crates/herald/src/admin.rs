//! Replay and offset resets for consumer groups, through rdkafka only (so it works against
//! herald-broker and any Kafka cluster alike). The `herald groups` / `herald replay` CLI uses it.
//!
//! Two ways to replay history:
//! - a **new group id** with `start_from_beginning = true` reads every partition from its start
//!   (a new service rebuilding its table), with no admin call at all;
//! - an **offset reset** of an existing group with [`Admin::reset_offsets`]: to the earliest or latest
//!   offset, to the first offset at or after a timestamp (ListOffsets by time), or to an explicit
//!   offset. It is refused with [`Error::GroupActive`] while the group has live members, because their
//!   next commit would overwrite the reset. The new offsets are committed the way Kafka's own tool
//!   does it: as a client that uses the group id without joining the group.
//!
//! Topics: [`Admin::create_topic_if_absent`], [`Admin::topic_configs`] and
//! [`Admin::alter_topic_configs`] (in `admin/topics.rs`).
//!
//! Not here: deleting topics or groups.
//! All calls block inside librdkafka, so they run on tokio's blocking pool.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::error::{Error, Result};

mod topics;

pub use topics::TopicSpec;

/// Deadline of each broker round trip made by the admin calls.
pub const REQUEST_TIMEOUT_MS: u64 = 10_000;

/// Where to move a group's committed offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// The log start offset of each partition: the whole retained history is consumed again.
    Earliest,
    /// The high watermark of each partition: everything so far is skipped.
    Latest,
    /// The first offset whose record timestamp is at or after this time (ms since the epoch);
    /// the high watermark when no record is that recent.
    Timestamp(i64),
    /// This offset in every partition, clamped to the partition's [log start, high watermark].
    Offset(i64),
}

/// The committed offset of one partition after a reset (or as read by [`Admin::committed_offsets`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffset {
    /// Partition number.
    pub partition: i32,
    /// The offset of the next record the group will consume; `None` when nothing is committed.
    pub offset: Option<i64>,
}

/// A live member of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// The member id the coordinator assigned.
    pub member_id: String,
    /// The member's `client.id`.
    pub client_id: String,
    /// The member's host as the broker saw it.
    pub client_host: String,
}

/// Group administration against one cluster.
#[derive(Debug, Clone)]
pub struct Admin {
    base: ClientConfig,
}

impl Admin {
    /// An admin for the brokers `host:port,...`.
    pub fn new(brokers: &str) -> Self {
        let mut base = ClientConfig::new();
        base.set("bootstrap.servers", brokers);
        Admin { base }
    }

    /// An admin with extra librdkafka properties (security settings and the like).
    pub fn with_config(
        brokers: &str,
        properties: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let mut admin = Admin::new(brokers);
        for (key, value) in properties {
            admin.base.set(key, value);
        }
        admin
    }

    /// The live members of `group` (empty when the group is empty or unknown).
    pub async fn group_members(&self, group: &str) -> Result<Vec<GroupMember>> {
        let consumer = self.consumer(group)?;
        let group = group.to_string();
        blocking(move || members(&consumer, &group)).await
    }

    /// The offsets `group` has committed for `topic`, per partition.
    pub async fn committed_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<Vec<PartitionOffset>> {
        let consumer = self.consumer(group)?;
        let topic = topic.to_string();
        blocking(move || {
            let mut list = TopicPartitionList::new();
            for partition in partitions(&consumer, &topic)? {
                list.add_partition(&topic, partition);
            }
            let committed = consumer
                .committed_offsets(list, timeout())
                .map_err(|e| Error::kafka("fetch committed offsets", e))?;
            Ok(committed
                .elements()
                .iter()
                .map(|e| PartitionOffset {
                    partition: e.partition(),
                    offset: match e.offset() {
                        Offset::Offset(offset) => Some(offset),
                        _ => None,
                    },
                })
                .collect())
        })
        .await
    }

    /// Moves `group`'s committed offsets for every partition of `topic` to `reset`; returns them.
    /// Refused with [`Error::GroupActive`] while the group has live members.
    pub async fn reset_offsets(
        &self,
        group: &str,
        topic: &str,
        reset: OffsetReset,
    ) -> Result<Vec<PartitionOffset>> {
        let consumer = self.consumer(group)?;
        let (group, topic) = (group.to_string(), topic.to_string());
        blocking(move || {
            let live = members(&consumer, &group)?;
            if !live.is_empty() {
                return Err(Error::GroupActive {
                    group,
                    members: live.len(),
                });
            }
            let targets = target_offsets(&consumer, &topic, reset)?;
            let mut list = TopicPartitionList::new();
            for (partition, offset) in &targets {
                list.add_partition_offset(&topic, *partition, Offset::Offset(*offset))
                    .map_err(|e| Error::kafka("build offset list", e))?;
            }
            // Not subscribed, so librdkafka commits with no generation and no member id, which the
            // coordinator accepts for a group without members.
            consumer
                .commit(&list, CommitMode::Sync)
                .map_err(|e| Error::kafka("commit offsets", e))?;
            tracing::info!(%group, %topic, ?reset, ?targets, "offsets reset");
            Ok(targets
                .into_iter()
                .map(|(partition, offset)| PartitionOffset {
                    partition,
                    offset: Some(offset),
                })
                .collect())
        })
        .await
    }

    /// The offsets [`Admin::reset_offsets`] would commit for `topic`, without committing anything
    /// and without checking for live members (a dry run).
    pub async fn planned_offsets(
        &self,
        group: &str,
        topic: &str,
        reset: OffsetReset,
    ) -> Result<Vec<PartitionOffset>> {
        let consumer = self.consumer(group)?;
        let topic = topic.to_string();
        blocking(move || {
            Ok(target_offsets(&consumer, &topic, reset)?
                .into_iter()
                .map(|(partition, offset)| PartitionOffset {
                    partition,
                    offset: Some(offset),
                })
                .collect())
        })
        .await
    }

    fn consumer(&self, group: &str) -> Result<BaseConsumer> {
        let mut config = self.base.clone();
        config
            .set("group.id", group)
            // This client must never commit on its own: only the explicit reset is committed.
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        config
            .create()
            .map_err(|e| Error::kafka("create admin consumer", e))
    }
}

fn timeout() -> Duration {
    Duration::from_millis(REQUEST_TIMEOUT_MS)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::config("admin task", e.to_string()))?
}

fn members(consumer: &BaseConsumer, group: &str) -> Result<Vec<GroupMember>> {
    let list = consumer
        .fetch_group_list(Some(group), timeout())
        .map_err(|e| Error::kafka("describe group", e))?;
    Ok(list
        .groups()
        .iter()
        .filter(|g| g.name() == group)
        .flat_map(|g| g.members())
        .map(|m| GroupMember {
            member_id: m.id().to_string(),
            client_id: m.client_id().to_string(),
            client_host: m.client_host().to_string(),
        })
        .collect())
}

fn partitions(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout())
        .map_err(|e| Error::kafka("fetch metadata", e))?;
    let found = metadata.topics().iter().find(|t| t.name() == topic);
    let partitions: Vec<i32> = found
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    if partitions.is_empty() {
        return Err(Error::config(
            "topic",
            format!("{topic} does not exist or has no partitions"),
        ));
    }
    Ok(partitions)
}

/// The offset each partition of `topic` moves to.
fn target_offsets(
    consumer: &BaseConsumer,
    topic: &str,
    reset: OffsetReset,
) -> Result<Vec<(i32, i64)>> {
    let mut targets = Vec::new();
    let partitions = partitions(consumer, topic)?;
    let by_time = match reset {
        OffsetReset::Timestamp(ms) => {
            let mut list = TopicPartitionList::new();
            for partition in &partitions {
                list.add_partition_offset(topic, *partition, Offset::Offset(ms))
                    .map_err(|e| Error::kafka("build timestamp list", e))?;
            }
            Some(
                consumer
                    .offsets_for_times(list, timeout())
                    .map_err(|e| Error::kafka("offsets for times", e))?,
            )
        }
        _ => None,
    };
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, timeout())
            .map_err(|e| Error::kafka("fetch watermarks", e))?;
        let offset = match reset {
            OffsetReset::Earliest => low,
            OffsetReset::Latest => high,
            OffsetReset::Offset(offset) => offset.clamp(low, high),
            OffsetReset::Timestamp(_) => {
                let found = by_time
                    .as_ref()
                    .and_then(|list| list.find_partition(topic, partition));
                match found.map(|e| e.offset()) {
                    Some(Offset::Offset(offset)) => offset.clamp(low, high),
                    // No record at or after the time: start at the end.
                    _ => high,
                }
            }
        };
        targets.push((partition, offset));
    }
    Ok(targets)
}
