//! [`OffsetStore`]: committed offsets in the internal `__consumer_offsets` topic, one herald-log `Log`
//! per partition like every topic, in Kafka's record format (`records`). A group's records all go to
//! its partition (`records::partition_for`), so their order in that partition is their order in time.
//!
//! Writes append one batch on a blocking thread and, under `--flush always`, wait for the partition's
//! group-commit fsync (`Partition::flush_to`, shared with produces); under `interval` and `never` the
//! append is what the flush policy promises. Failures come back as Kafka's coordinator error codes:
//! storage errors as NOT_COORDINATOR (Kafka maps KAFKA_STORAGE_ERROR so), oversized writes as
//! INVALID_COMMIT_OFFSET_SIZE, anything else as UNKNOWN_SERVER_ERROR. The topic is compacted by
//! herald-log's cleaner; tombstones delete commits and groups.
//!
//! At start-up [`OffsetStore::replay`] reads every partition, and [`OffsetStore::migrate_legacy`] first
//! copies an old `offsets.log` (`legacy_offsets`) into the topic, then renames its directory: a crash in
//! between migrates again on the next start, which appends the same records again (replay ends the same).

use std::path::Path;
use std::sync::Arc;

use herald_log::LogError;
use kafka_protocol::error::ResponseError;

use super::legacy_offsets;
use super::records::{self, StoredRecord};
use super::types::OffsetRecord;
use crate::partition::Partition;
use crate::{BrokerError, FlushPolicy};

/// Bytes read per step when replaying a partition.
const REPLAY_READ_BYTES: usize = 1024 * 1024;

/// Bytes of records per batch written by the migration (an estimate; see `record_bytes_estimate`).
const MIGRATION_BATCH_BYTES: usize = 256 * 1024;

/// An upper bound on the encoded size of one record in a batch.
fn record_bytes_estimate(record: &OffsetRecord) -> usize {
    let (topic, metadata) = match record {
        OffsetRecord::Commit { topic, value, .. } => {
            (topic.len(), value.metadata.as_ref().map_or(0, String::len))
        }
        OffsetRecord::Tombstone { topic, .. } => (topic.len(), 0),
    };
    record.group_id().len() + topic + metadata + 64
}

/// The `__consumer_offsets` partitions and the flush policy writes obey.
#[derive(Debug)]
pub struct OffsetStore {
    partitions: Vec<Arc<Partition>>,
    flush: FlushPolicy,
}

/// A record replayed at start: its partition, its offset there, and what it says.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub partition: i32,
    pub offset: i64,
    pub record: StoredRecord,
}

impl OffsetStore {
    /// A store over the topic's partitions (index order, at least one).
    pub fn new(partitions: Vec<Arc<Partition>>, flush: FlushPolicy) -> Self {
        Self { partitions, flush }
    }

    /// The partition holding `group_id`'s records (index).
    pub fn partition_index(&self, group_id: &str) -> i32 {
        let count = i32::try_from(self.partitions.len()).unwrap_or(i32::MAX);
        records::partition_for(group_id, count)
    }

    fn partition(&self, group_id: &str) -> Option<&Arc<Partition>> {
        usize::try_from(self.partition_index(group_id))
            .ok()
            .and_then(|i| self.partitions.get(i))
    }

    /// Writes `records` (all of `group_id`) as one batch and returns the offset of the first once they
    /// are durable under the flush policy; nothing is written when `records` is empty (`Ok(None)`).
    pub async fn write(
        &self,
        group_id: &str,
        records: Vec<StoredRecord>,
        now_ms: i64,
    ) -> Result<Option<i64>, ResponseError> {
        if records.is_empty() {
            return Ok(None);
        }
        let Some(partition) = self.partition(group_id).cloned() else {
            return Err(ResponseError::CoordinatorNotAvailable);
        };
        let batch = records::encode_records_batch(&records, now_ms);
        let appending = partition.clone();
        let appended = tokio::task::spawn_blocking(move || appending.append(&batch, now_ms))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "offsets append task failed");
                ResponseError::UnknownServerError
            })?;
        let info = appended.map_err(|e| write_error(group_id, &e))?;
        if self.flush == FlushPolicy::Always {
            partition
                .flush_to(info.last_offset + 1)
                .await
                .map_err(|e| write_error(group_id, &e))?;
        }
        Ok(Some(info.base_offset))
    }

    /// Every record of every partition, in offset order per partition. Blocking (start-up).
    pub fn replay(&self) -> Result<Vec<Replayed>, BrokerError> {
        let mut out = Vec::new();
        for partition in &self.partitions {
            let mut offset = partition.log_start_offset();
            let end = partition.log_end_offset();
            while offset < end {
                let read = partition
                    .read(offset, REPLAY_READ_BYTES, true)
                    .map_err(BrokerError::from)?;
                let index = partition.index;
                let (records, last) = records::decode_batches(&read.records, |at, reason| {
                    tracing::warn!(
                        partition = index,
                        offset = at,
                        reason,
                        "skipping an offsets record herald cannot read"
                    );
                })
                .map_err(BrokerError::from)?;
                out.extend(records.into_iter().map(|(offset, record)| Replayed {
                    partition: index,
                    offset,
                    record,
                }));
                match last {
                    Some(last) if last >= offset => offset = last + 1,
                    _ => break, // nothing more below the high watermark
                }
            }
        }
        Ok(out)
    }

    /// Copies an old `offsets.log` under `data_dir` into the topic (fsynced), then renames the old
    /// directory out of the way. Returns how many records were migrated. Blocking (start-up).
    pub fn migrate_legacy(&self, data_dir: &Path, now_ms: i64) -> Result<usize, BrokerError> {
        let old_dir = legacy_offsets::legacy_dir(data_dir);
        let records = legacy_offsets::read_legacy_log(data_dir)
            .map_err(|e| BrokerError::io("read old offset log", &old_dir, e))?;
        let Some(records) = records else {
            return Ok(0);
        };
        let count = records.len();
        // One batch per group and run of records, in the old log's order (a group's order is kept).
        let mut start = 0;
        while start < records.len() {
            let group_id = records[start].group_id();
            // Batches stay far below max.message.bytes (1 MiB by default) whatever the metadata sizes.
            let mut budget = MIGRATION_BATCH_BYTES;
            let run = records[start..]
                .iter()
                .take_while(|r| {
                    let fits = r.group_id() == group_id && budget > 0;
                    budget = budget.saturating_sub(record_bytes_estimate(r));
                    fits
                })
                .count()
                .max(1);
            let batch: Vec<StoredRecord> = records[start..start + run]
                .iter()
                .cloned()
                .map(StoredRecord::Offset)
                .collect();
            let partition = self
                .partition(group_id)
                .ok_or_else(|| BrokerError::UnknownTopic {
                    name: crate::internal_topics::CONSUMER_OFFSETS_TOPIC.to_string(),
                })?;
            partition
                .append(&records::encode_records_batch(&batch, now_ms), now_ms)
                .map_err(BrokerError::from)?;
            start += run;
        }
        for partition in &self.partitions {
            partition.flush_blocking()?;
        }
        let migrated = data_dir.join(legacy_offsets::MIGRATED_DIR_NAME);
        if migrated.exists() {
            std::fs::remove_dir_all(&migrated)
                .map_err(|e| BrokerError::io("remove", &migrated, e))?;
        }
        std::fs::rename(&old_dir, &migrated).map_err(|e| BrokerError::io("rename", &old_dir, e))?;
        std::fs::File::open(data_dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| BrokerError::io("fsync directory", data_dir, e))?;
        tracing::info!(records = count, from = %old_dir.display(), to = %migrated.display(),
            "old offset log migrated into __consumer_offsets");
        Ok(count)
    }
}

/// Kafka's coordinator error for a failed write of `group_id`'s records (logged here).
fn write_error(group_id: &str, error: &LogError) -> ResponseError {
    tracing::error!(group = group_id, error = %error, "writing to __consumer_offsets failed");
    match error {
        LogError::Io { .. } | LogError::CorruptSegment { .. } => ResponseError::NotCoordinator,
        LogError::BatchTooLarge { .. } => ResponseError::InvalidCommitOffsetSize,
        _ => ResponseError::UnknownServerError,
    }
}

/// The records of a group as stored records (for `OffsetStore::write`).
pub fn offsets(records: &[OffsetRecord]) -> Vec<StoredRecord> {
    records.iter().cloned().map(StoredRecord::Offset).collect()
}
