//! Reading records for the explorer and the dead-letter pages: from an offset or a timestamp, a
//! bounded page, optionally only the records that contain a search text, sent one by one over a
//! bounded channel so that a page streams to the browser as it is read, never the whole partition.
//!
//! Each read runs on the blocking pool with its own consumer (assigned, never joined to a group,
//! never committing) and stops at the page limit, the scan limit, the high watermark read when it
//! started, its deadline, or when the browser goes away (the channel closes).

use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::{Cluster, QuietContext, Reader};
use crate::{ConsoleError, Result};

/// Most records on one explorer page.
pub const PAGE_RECORDS_MAX: usize = 1_000;
/// Most records one search looks at before it stops.
pub const SEARCH_SCAN_RECORDS_MAX: u64 = 100_000;
/// How long one read may take before it ends with what it has.
pub const READ_DEADLINE_MS: u64 = 15_000;
/// Records buffered between the reading thread and the HTTP response.
pub const READ_CHANNEL_RECORDS_MAX: usize = 64;
/// One poll's wait.
const POLL_MS: u64 = 100;

/// Where a read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At this offset (clamped to the partition's log start and log end).
    Offset(i64),
    /// At the first record at or after this time (ms since the epoch).
    Timestamp(i64),
    /// The last `n` records before the log end.
    Last(i64),
}

/// What to read.
#[derive(Debug, Clone)]
pub struct ReadRequest {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Where to start.
    pub start: Start,
    /// Most records to send.
    pub limit: usize,
    /// Only records whose key, value or header values contain this text (case-insensitive).
    pub search: Option<String>,
}

/// One record as read.
#[derive(Debug, Clone)]
pub struct RecordView {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp (ms since the epoch), when the record has one.
    pub timestamp: Option<i64>,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Value bytes (`None`: a tombstone).
    pub value: Option<Vec<u8>>,
}

impl RecordView {
    /// The first header named `name`, as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    fn contains(&self, needle: &str) -> bool {
        let hit = |bytes: &[u8]| {
            String::from_utf8_lossy(bytes)
                .to_lowercase()
                .contains(needle)
        };
        self.key.as_deref().is_some_and(hit)
            || self.value.as_deref().is_some_and(hit)
            || self
                .headers
                .iter()
                .any(|(_, v)| v.as_deref().is_some_and(hit))
    }
}

/// How a read ended.
#[derive(Debug, Clone, Default)]
pub struct ReadSummary {
    /// The partition's log start and log end when the read began.
    pub log_start_offset: i64,
    /// See above.
    pub log_end_offset: i64,
    /// The offset a next page would start at.
    pub next_offset: i64,
    /// Records looked at.
    pub scanned: u64,
    /// Records sent.
    pub sent: usize,
    /// Why it stopped early, if it did.
    pub stopped: Option<String>,
}

/// One item of a read's stream.
#[derive(Debug)]
pub enum ReadItem {
    /// A record that matched.
    Record(Box<RecordView>),
    /// The end, always last.
    End(ReadSummary),
}

impl Cluster {
    /// Starts reading `request`; the records and then one [`ReadItem::End`] come over the receiver.
    pub async fn read(&self, request: ReadRequest) -> Result<mpsc::Receiver<ReadItem>> {
        let (config, permit) = self.reader().await?;
        let (sender, receiver) = mpsc::channel(READ_CHANNEL_RECORDS_MAX);
        let (timeout, brokers) = (self.timeout(), self.brokers().to_string());
        // Fails fast (before any HTML is sent) when the partition cannot be reached.
        let bounds = tokio::task::spawn_blocking({
            let topic = request.topic.clone();
            let brokers = brokers.clone();
            move || {
                let reader: Reader =
                    config.create_with_context(QuietContext).map_err(|source| {
                        ConsoleError::Client {
                            client: "reader",
                            source: Box::new(source),
                        }
                    })?;
                match reader.fetch_watermarks(&topic, request.partition, timeout) {
                    Ok(watermarks) => Ok((reader, watermarks)),
                    Err(e) => Err(ConsoleError::kafka(&brokers, "read watermarks", None, e)),
                }
            }
        })
        .await
        .map_err(ConsoleError::Task)??;
        let closer = self.closer.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let (reader, watermarks) = bounds;
            let summary = read_blocking(&reader, &request, watermarks, timeout, &sender);
            let _ = sender.blocking_send(ReadItem::End(summary));
            // The page is complete once the channel closes: before the consumer is closed.
            drop(sender);
            closer.close(reader);
        });
        Ok(receiver)
    }

    /// The records of `topic` at the given (partition, offset) positions (at most `limit`), in the
    /// order asked; positions that hold no record are left out.
    pub async fn records_at(
        &self,
        topic: &str,
        positions: Vec<(i32, i64)>,
    ) -> Result<Vec<RecordView>> {
        let mut found = Vec::new();
        let mut partitions: Vec<i32> = positions.iter().map(|(p, _)| *p).collect();
        partitions.sort_unstable();
        partitions.dedup();
        for partition in partitions {
            let mut offsets: Vec<i64> = positions
                .iter()
                .filter(|(p, _)| *p == partition)
                .map(|(_, o)| *o)
                .collect();
            offsets.sort_unstable();
            let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
            let limit = usize::try_from(last - first + 1)
                .unwrap_or(usize::MAX)
                .min(PAGE_RECORDS_MAX);
            let mut receiver = self
                .read(ReadRequest {
                    topic: topic.to_string(),
                    partition,
                    start: Start::Offset(first),
                    limit,
                    search: None,
                })
                .await?;
            while let Some(item) = receiver.recv().await {
                if let ReadItem::Record(record) = item {
                    if offsets.binary_search(&record.offset).is_ok() {
                        found.push(*record);
                    }
                }
            }
        }
        found.sort_by_key(|r| positions.iter().position(|p| *p == (r.partition, r.offset)));
        Ok(found)
    }
}

fn start_offset(
    reader: &Reader,
    request: &ReadRequest,
    (low, high): (i64, i64),
    timeout: Duration,
) -> std::result::Result<i64, KafkaError> {
    Ok(match request.start {
        Start::Offset(offset) => offset.clamp(low, high),
        Start::Last(n) => (high - n.max(0)).max(low),
        Start::Timestamp(ms) => {
            let mut list = TopicPartitionList::new();
            list.add_partition_offset(&request.topic, request.partition, Offset::Offset(ms))?;
            let answered = reader.offsets_for_times(list, timeout)?;
            match answered.elements().first().map(|e| e.offset()) {
                Some(Offset::Offset(offset)) => offset.clamp(low, high),
                _ => high,
            }
        }
    })
}

fn record_view(message: &rdkafka::message::BorrowedMessage<'_>) -> RecordView {
    RecordView {
        partition: message.partition(),
        offset: message.offset(),
        timestamp: message.timestamp().to_millis(),
        key: message.key().map(<[u8]>::to_vec),
        headers: message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default(),
        value: message.payload().map(<[u8]>::to_vec),
    }
}

fn read_blocking(
    reader: &Reader,
    request: &ReadRequest,
    (low, high): (i64, i64),
    timeout: Duration,
    sender: &mpsc::Sender<ReadItem>,
) -> ReadSummary {
    let mut summary = ReadSummary {
        log_start_offset: low,
        log_end_offset: high,
        next_offset: high,
        ..Default::default()
    };
    let start = match start_offset(reader, request, (low, high), timeout) {
        Ok(start) => start,
        Err(error) => {
            summary.stopped = Some(format!("cannot find the start: {error}"));
            return summary;
        }
    };
    summary.next_offset = start;
    if start >= high || request.limit == 0 {
        return summary;
    }
    let mut list = TopicPartitionList::new();
    if let Err(error) = list
        .add_partition_offset(&request.topic, request.partition, Offset::Offset(start))
        .and_then(|_| reader.assign(&list))
    {
        summary.stopped = Some(format!("cannot assign the partition: {error}"));
        return summary;
    }
    let needle = request.search.as_ref().map(|s| s.to_lowercase());
    let deadline = Instant::now() + Duration::from_millis(READ_DEADLINE_MS);
    while summary.next_offset < high && summary.sent < request.limit {
        if summary.scanned >= SEARCH_SCAN_RECORDS_MAX {
            summary.stopped = Some(format!("looked at {SEARCH_SCAN_RECORDS_MAX} records"));
            break;
        }
        if Instant::now() > deadline {
            summary.stopped = Some(format!("took longer than {READ_DEADLINE_MS} ms"));
            break;
        }
        let message = match reader.poll(Duration::from_millis(POLL_MS)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(error)) => {
                summary.stopped = Some(format!("read failed: {error}"));
                break;
            }
            Some(Ok(message)) => message,
        };
        summary.scanned += 1;
        summary.next_offset = message.offset() + 1;
        let record = record_view(&message);
        if needle.as_deref().is_some_and(|n| !record.contains(n)) {
            continue;
        }
        if sender
            .blocking_send(ReadItem::Record(Box::new(record)))
            .is_err()
        {
            summary.stopped = Some("the browser went away".into());
            break;
        }
        summary.sent += 1;
    }
    summary
}
