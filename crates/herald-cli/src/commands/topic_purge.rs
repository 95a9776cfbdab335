//! `herald topics purge NAME --before OFFSET|TIME`: deletes every record below a point, per partition,
//! with DeleteRecords (the log start offset moves; Kafka's `kafka-delete-records`).
//!
//! The point is an offset (the same for every partition), an RFC 3339 time, or a duration ago
//! (`7d`, `12h`); a time is resolved to an offset per partition with ListOffsets by time (the first
//! record at or after it); a partition with no record that recent is purged to its high watermark.
//! Prints each partition's log start before and after.

use std::time::SystemTime;

use anyhow::{bail, Context};
use rdkafka::admin::AdminOptions;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

use crate::client::{require_topic, ClientArgs};
use crate::output::{print_json, OutputFormat, Table};

/// Where a purge stops: records below it are deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgePoint {
    /// This offset in every partition.
    Offset(i64),
    /// The first record at or after this time (ms since the epoch) in each partition.
    Time(i64),
}

/// Parses `--before`: an offset, an RFC 3339 time, or a duration ago (`7d`, `90m`).
pub fn parse_purge_point(text: &str) -> Result<PurgePoint, String> {
    if let Ok(offset) = text.parse::<i64>() {
        return if offset >= 0 {
            Ok(PurgePoint::Offset(offset))
        } else {
            Err(format!("offset {offset} is negative"))
        };
    }
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(PurgePoint::Time(time.timestamp_millis()));
    }
    let ago = humantime::parse_duration(text).map_err(|_| {
        format!("expected an offset, an RFC 3339 time or a duration such as 7d, got {text:?}")
    })?;
    let at = SystemTime::now()
        .checked_sub(ago)
        .ok_or_else(|| format!("{text:?} ago is before the epoch"))?;
    let ms = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| format!("{text:?} ago is before the epoch"))?
        .as_millis();
    Ok(PurgePoint::Time(i64::try_from(ms).unwrap_or(i64::MAX)))
}

/// Runs `herald topics purge`.
pub async fn purge(
    client: &ClientArgs,
    name: &str,
    before: PurgePoint,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let reader = client.reader(None)?;
    let metadata = client.metadata(&reader, Some(name))?;
    require_topic(&metadata, name)?;
    let mut partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == name)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    partitions.sort_unstable();
    let mut old_starts = Vec::with_capacity(partitions.len());
    let mut targets = TopicPartitionList::new();
    for &partition in &partitions {
        let (low, _) = client
            .retry_transient(|remaining| reader.fetch_watermarks(name, partition, remaining))
            .with_context(|| format!("reading offsets of {name}/{partition}"))?;
        old_starts.push(low);
        let offset = match before {
            PurgePoint::Offset(offset) => Offset::Offset(offset),
            PurgePoint::Time(ms) => Offset::Offset(ms),
        };
        targets.add_partition_offset(name, partition, offset)?;
    }
    if let PurgePoint::Time(_) = before {
        targets = reader
            .offsets_for_times(targets, client.timeout)
            .context("looking up offsets by time")?;
        // Nothing that recent: every record is older, purge up to the high watermark (-1).
        for element in targets.clone().elements() {
            if !matches!(element.offset(), Offset::Offset(o) if o >= 0) {
                targets.set_partition_offset(name, element.partition(), Offset::End)?;
            }
        }
    }
    let options = AdminOptions::new()
        .request_timeout(Some(client.timeout))
        .operation_timeout(Some(client.timeout));
    let result = client
        .admin()?
        .delete_records(&targets, &options)
        .await
        .context("deleting records")?;
    let mut rows = Vec::with_capacity(partitions.len());
    for (&partition, old) in partitions.iter().zip(old_starts) {
        let Some(element) = result.find_partition(name, partition) else {
            bail!("no answer for {name}/{partition}");
        };
        if let Err(e) = element.error() {
            bail!("cannot purge {name}/{partition}: {e}");
        }
        let new = element.offset().to_raw().unwrap_or(-1);
        rows.push((partition, old, new));
    }
    match output {
        OutputFormat::Json => print_json(&json!({
            "topic": name,
            "partitions": rows.iter().map(|(p, old, new)| json!({
                "partition": p, "old_log_start_offset": old, "new_log_start_offset": new,
            })).collect::<Vec<_>>(),
        })),
        OutputFormat::Table => {
            let mut table = Table::new(&["PARTITION", "OLD LOG START", "NEW LOG START", "DELETED"]);
            for (partition, old, new) in rows {
                table.row(vec![
                    partition.to_string(),
                    old.to_string(),
                    new.to_string(),
                    (new - old).max(0).to_string(),
                ]);
            }
            print!("{}", table.render());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Offsets, RFC 3339 times and durations ago parse; garbage and negative offsets do not.
    #[test]
    fn purge_points_parse() {
        assert_eq!(parse_purge_point("42"), Ok(PurgePoint::Offset(42)));
        assert_eq!(
            parse_purge_point("2026-01-02T03:04:05Z"),
            Ok(PurgePoint::Time(1_767_323_045_000))
        );
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let Ok(PurgePoint::Time(ms)) = parse_purge_point("7d") else {
            panic!("7d is a duration");
        };
        let week_ms = 7 * 24 * 3_600_000;
        assert!((now_ms - week_ms - ms).abs() < 60_000, "{ms}");
        assert!(parse_purge_point("-1").is_err());
        assert!(parse_purge_point("yesterday-ish").is_err());
    }
}
