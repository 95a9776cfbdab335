//! A group's committed offsets with each partition's log start and end: what `herald groups
//! describe` shows and `herald groups reset` checks, in a module of its own so that neither command
//! imports the other.

use anyhow::Context;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

use crate::client::{ClientArgs, Reader};

/// One partition's committed offset, log end offset and lag.
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    pub committed: Option<i64>,
    pub log_end_offset: i64,
    pub owner: Option<String>,
}

impl PartitionLag {
    /// Records the group has not processed yet (everything since the log start when nothing is committed).
    pub fn lag(&self, log_start_offset: i64) -> i64 {
        self.log_end_offset
            - self
                .committed
                .unwrap_or(log_start_offset)
                .max(log_start_offset)
    }
}

/// Committed offsets of `group` for every partition of every topic it has committed to, with each
/// partition's log start offset.
pub fn committed(client: &ClientArgs, group: &str) -> anyhow::Result<Vec<(PartitionLag, i64)>> {
    let reader: Reader = client.reader(Some(group))?;
    let metadata = client.metadata(&reader, None)?;
    let mut list = TopicPartitionList::new();
    for topic in metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && !t.name().starts_with("__"))
    {
        for partition in topic.partitions() {
            list.add_partition(topic.name(), partition.id());
        }
    }
    let committed = client
        .retry_transient(|remaining| reader.committed_offsets(list.clone(), remaining))
        .with_context(|| format!("reading committed offsets of group {group:?}"))?;
    // Every partition of a topic the group has committed on at least once: a partition the group
    // never committed on still has records waiting for it.
    let topics: Vec<String> = committed
        .elements()
        .iter()
        .filter(|e| matches!(e.offset(), Offset::Offset(_)))
        .map(|e| e.topic().to_string())
        .collect();
    let mut rows = Vec::new();
    for element in committed.elements() {
        if !topics.iter().any(|t| t == element.topic()) {
            continue;
        }
        let committed = match element.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        };
        let (low, high) = client
            .retry_transient(|remaining| {
                reader.fetch_watermarks(element.topic(), element.partition(), remaining)
            })
            .with_context(|| {
                format!(
                    "reading offsets of {}/{}",
                    element.topic(),
                    element.partition()
                )
            })?;
        rows.push((
            PartitionLag {
                topic: element.topic().to_string(),
                partition: element.partition(),
                committed,
                log_end_offset: high,
                owner: None,
            },
            low,
        ));
    }
    Ok(rows)
}
