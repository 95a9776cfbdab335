//! `herald dlq list | show TOPIC | replay TOPIC`: the dead-letter topics herald's consumers write.
//!
//! `list` counts the dead letters of every `*.dlq` topic and how many were replayed; `show` reads one
//! topic's letters with their `herald-*` headers (reason, attempts, original place, consumer, time);
//! `replay` republishes letters to their original topic (or `--to`), without the `herald-*` headers
//! and with `herald-republished-from: DLQ/PARTITION/OFFSET`.
//!
//! Each letter is republished at most once, across runs: what was replayed is recorded in the
//! committed offsets of a consumer group of its own, `herald-dlq-replay.<topic>` (it never has
//! members): per partition, the committed offset is the first letter not yet replayed, and letters
//! replayed one at a time above it (`--offset`) are listed in the commit's metadata
//! ([`ReplayLog`], in `dlq_log.rs`). A letter is recorded right after the broker acknowledged its copy.
//!
//! Not here: producing dead letters (`herald::middleware::dead_letter`).

use std::collections::{BTreeMap, BTreeSet};

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use herald::middleware::dead_letter as dl;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

use super::dlq_log::ReplayLog;
use crate::client::{require_topic, ClientArgs, Reader};
use crate::output::{print_json, OutputFormat, Table};

/// The header a republished record carries: `DLQ-TOPIC/PARTITION/OFFSET` of its dead letter.
pub const HEADER_REPUBLISHED_FROM: &str = "herald-republished-from";
/// Suffix of the dead-letter topics `list` shows (herald's default naming).
const DLQ_SUFFIX: &str = ".dlq";
/// How long a republished copy may wait for the brokers' acknowledgement, in milliseconds.
const DELIVERY_TIMEOUT_MS: u64 = 30_000;
/// Prefix of the group that records what was replayed from a dead-letter topic.
const REPLAY_GROUP_PREFIX: &str = "herald-dlq-replay.";

/// Subcommands of `herald dlq`.
#[derive(Debug, clap::Subcommand)]
pub enum DlqCommand {
    /// List dead-letter topics (`*.dlq`) with their dead letters and how many were replayed.
    List,
    /// Show a dead-letter topic's letters: reason, attempts, original topic/partition/offset,
    /// consumer, time, and whether it was replayed.
    Show {
        /// The dead-letter topic.
        topic: String,
    },
    /// Republish dead letters to their original topic, each at most once.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["offset", "all"])))]
    Replay {
        /// The dead-letter topic.
        topic: String,
        /// Replay only the letter at this offset (of `--partition`).
        #[arg(long)]
        offset: Option<i64>,
        /// The partition of `--offset`.
        #[arg(long, default_value_t = 0, requires = "offset")]
        partition: i32,
        /// Replay every letter not replayed yet.
        #[arg(long)]
        all: bool,
        /// Publish to this topic instead of each letter's original topic.
        #[arg(long)]
        to: Option<String>,
    },
}

/// Runs a `herald dlq` subcommand.
pub async fn run(
    command: DlqCommand,
    client: &ClientArgs,
    output: OutputFormat,
) -> anyhow::Result<()> {
    match command {
        DlqCommand::List => list(client, output),
        DlqCommand::Show { topic } => show(client, &topic, output),
        DlqCommand::Replay {
            topic,
            offset,
            partition,
            all: _,
            to,
        } => {
            let only = offset.map(|offset| (partition, offset));
            replay(client, &topic, only, to.as_deref(), output).await
        }
    }
}

/// The replay group of a dead-letter topic.
fn replay_group(topic: &str) -> String {
    format!("{REPLAY_GROUP_PREFIX}{topic}")
}

/// One dead letter as read back.
struct Letter {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
}

impl Letter {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    fn to_json(&self, replayed: bool) -> Value {
        let number = |name| self.header(name).and_then(|v| v.parse::<i64>().ok());
        json!({
            "partition": self.partition,
            "offset": self.offset,
            "reason": self.header(dl::HEADER_ERROR_REASON),
            "kind": self.header(dl::HEADER_ERROR_KIND),
            "attempts": number(dl::HEADER_ATTEMPTS),
            "original_topic": self.header(dl::HEADER_ORIGINAL_TOPIC),
            "original_partition": number(dl::HEADER_ORIGINAL_PARTITION),
            "original_offset": number(dl::HEADER_ORIGINAL_OFFSET),
            "consumer": self.header(dl::HEADER_CONSUMER),
            "consumer_group": self.header(dl::HEADER_CONSUMER_GROUP),
            "failed_at": self.header(dl::HEADER_FAILED_AT),
            "event_id": self.header("ce_id"),
            "event_type": self.header("ce_type"),
            "key": self.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()),
            "replayed": replayed,
        })
    }
}

/// Per partition of `topic`: (low watermark, high watermark).
fn watermarks(
    reader: &Reader,
    client: &ClientArgs,
    topic: &str,
) -> anyhow::Result<BTreeMap<i32, (i64, i64)>> {
    let metadata = client.metadata(reader, Some(topic))?;
    require_topic(&metadata, topic)?;
    let mut marks = BTreeMap::new();
    for t in metadata.topics().iter().filter(|t| t.name() == topic) {
        for partition in t.partitions() {
            let marks_of = reader
                .fetch_watermarks(topic, partition.id(), client.timeout)
                .with_context(|| format!("reading offsets of {topic}/{}", partition.id()))?;
            marks.insert(partition.id(), marks_of);
        }
    }
    Ok(marks)
}

/// The replay log of every partition, from the replay group's committed offsets.
fn replay_logs(
    reader: &Reader,
    client: &ClientArgs,
    topic: &str,
    partitions: impl Iterator<Item = i32>,
) -> anyhow::Result<BTreeMap<i32, ReplayLog>> {
    let mut list = TopicPartitionList::new();
    for partition in partitions {
        list.add_partition(topic, partition);
    }
    let committed = reader
        .committed_offsets(list, client.timeout)
        .with_context(|| format!("reading what was replayed from {topic}"))?;
    Ok(committed
        .elements()
        .iter()
        .map(|e| {
            let offset = match e.offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            };
            (e.partition(), ReplayLog::parse(offset, e.metadata()))
        })
        .collect())
}

/// Reads every letter of `topic` between the watermarks.
fn read_letters(
    reader: &Reader,
    client: &ClientArgs,
    topic: &str,
    marks: &BTreeMap<i32, (i64, i64)>,
) -> anyhow::Result<Vec<Letter>> {
    let mut assignment = TopicPartitionList::new();
    let mut left: BTreeMap<i32, i64> = BTreeMap::new();
    for (&partition, &(low, high)) in marks {
        if high > low {
            assignment.add_partition_offset(topic, partition, Offset::Offset(low))?;
            left.insert(partition, high);
        }
    }
    if left.is_empty() {
        return Ok(Vec::new());
    }
    reader.assign(&assignment).context("assigning partitions")?;
    let deadline = Instant::now() + client.timeout;
    let mut letters = Vec::new();
    while !left.is_empty() {
        if Instant::now() >= deadline {
            bail!("reading {topic} timed out after {:?}", client.timeout);
        }
        let Some(message) = reader.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.with_context(|| format!("reading {topic}"))?;
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        let partition = message.partition();
        if left
            .get(&partition)
            .is_some_and(|&high| message.offset() + 1 >= high)
        {
            left.remove(&partition);
        }
        letters.push(Letter {
            partition,
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers,
        });
    }
    letters.sort_by_key(|l| (l.partition, l.offset));
    Ok(letters)
}

fn list(client: &ClientArgs, output: OutputFormat) -> anyhow::Result<()> {
    let reader = client.reader(None)?;
    let metadata = client.metadata(&reader, None)?;
    let mut topics: Vec<String> = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && t.name().ends_with(DLQ_SUFFIX))
        .map(|t| t.name().to_string())
        .collect();
    topics.sort();
    let mut rows = Vec::new();
    for topic in &topics {
        let replayer = client.reader(Some(&replay_group(topic)))?;
        let marks = watermarks(&reader, client, topic)?;
        let logs = replay_logs(&replayer, client, topic, marks.keys().copied())?;
        let letters: i64 = marks.values().map(|(low, high)| high - low).sum();
        let replayed: i64 = marks
            .iter()
            .map(|(p, &(low, high))| logs.get(p).map_or(0, |log| log.count_in(low, high)))
            .sum();
        rows.push(
            json!({"topic": topic, "partitions": marks.len(), "letters": letters,
            "replayed": replayed, "pending": letters - replayed}),
        );
    }
    match output {
        OutputFormat::Json => print_json(&Value::Array(rows)),
        OutputFormat::Table => {
            let mut table = Table::new(&["TOPIC", "PARTITIONS", "LETTERS", "REPLAYED", "PENDING"]);
            for row in &rows {
                let cells = ["topic", "partitions", "letters", "replayed", "pending"]
                    .iter()
                    .map(|k| match &row[*k] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                table.row(cells);
            }
            print!("{}", table.render());
        }
    }
    Ok(())
}

fn show(client: &ClientArgs, topic: &str, output: OutputFormat) -> anyhow::Result<()> {
    let reader = client.reader(Some(&replay_group(topic)))?;
    let marks = watermarks(&reader, client, topic)?;
    let logs = replay_logs(&reader, client, topic, marks.keys().copied())?;
    let letters = read_letters(&reader, client, topic, &marks)?;
    let replayed = |l: &Letter| {
        logs.get(&l.partition)
            .is_some_and(|log| log.contains(l.offset))
    };
    match output {
        OutputFormat::Json => print_json(&Value::Array(
            letters.iter().map(|l| l.to_json(replayed(l))).collect(),
        )),
        OutputFormat::Table => {
            let mut table = Table::new(&[
                "PARTITION",
                "OFFSET",
                "ORIGINAL",
                "ATTEMPTS",
                "CONSUMER",
                "FAILED AT",
                "REPLAYED",
                "REASON",
            ]);
            for l in &letters {
                let header = |name| l.header(name).unwrap_or_default();
                table.row(vec![
                    l.partition.to_string(),
                    l.offset.to_string(),
                    format!(
                        "{}/{}/{}",
                        header(dl::HEADER_ORIGINAL_TOPIC),
                        header(dl::HEADER_ORIGINAL_PARTITION),
                        header(dl::HEADER_ORIGINAL_OFFSET)
                    ),
                    header(dl::HEADER_ATTEMPTS),
                    header(dl::HEADER_CONSUMER),
                    header(dl::HEADER_FAILED_AT),
                    if replayed(l) { "yes" } else { "no" }.to_string(),
                    header(dl::HEADER_ERROR_REASON).replace('\n', " "),
                ]);
            }
            print!("{}", table.render());
        }
    }
    Ok(())
}

async fn replay(
    client: &ClientArgs,
    topic: &str,
    only: Option<(i32, i64)>,
    to: Option<&str>,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let group = replay_group(topic);
    let reader = client.reader(Some(&group))?;
    let marks = watermarks(&reader, client, topic)?;
    let mut logs = replay_logs(&reader, client, topic, marks.keys().copied())?;
    if let Some((partition, offset)) = only {
        let known = marks
            .get(&partition)
            .is_some_and(|&(low, high)| (low..high).contains(&offset));
        if !known {
            bail!("{topic} has no dead letter at partition {partition} offset {offset}");
        }
    }
    let letters = read_letters(&reader, client, topic, &marks)?;
    let chosen: Vec<&Letter> = letters
        .iter()
        .filter(|l| only.is_none_or(|(p, o)| l.partition == p && l.offset == o))
        .collect();
    let pending: Vec<&Letter> = chosen
        .iter()
        .copied()
        .filter(|l| {
            !logs
                .get(&l.partition)
                .is_some_and(|log| log.contains(l.offset))
        })
        .collect();
    let producer: FutureProducer = client
        .config()
        // The copy replaces the dead letter: durable, and not duplicated by librdkafka's retries.
        .set("acks", "all")
        .set("enable.idempotence", "true")
        // A copy the brokers do not acknowledge fails the command in bounded time.
        .set("message.timeout.ms", DELIVERY_TIMEOUT_MS.to_string())
        .create()
        .context("creating a producer")?;
    let mut replayed = Vec::new();
    let mut failure = None;
    for letter in &pending {
        match republish(&producer, topic, letter, to, client.timeout).await {
            Ok(target) => {
                logs.entry(letter.partition)
                    .or_default()
                    .insert(letter.offset)?;
                replayed.push(
                    json!({"partition": letter.partition, "offset": letter.offset, "to": target}),
                );
            }
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    // Record what was acknowledged, even when a later letter failed.
    commit_logs(&reader, topic, &logs, &pending)?;
    if let Some(error) = failure {
        return Err(error);
    }
    let skipped = chosen.len() - pending.len();
    match output {
        OutputFormat::Json => {
            print_json(&json!({"replayed": replayed, "already_replayed": skipped}))
        }
        OutputFormat::Table => {
            println!(
                "replayed {} dead letter(s) from {topic}; {skipped} already replayed before",
                replayed.len()
            );
        }
    }
    Ok(())
}

/// Republishes one letter; returns the topic it went to.
async fn republish(
    producer: &FutureProducer,
    topic: &str,
    letter: &Letter,
    to: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<String> {
    let target = match to {
        Some(to) => to.to_string(),
        None => letter.header(dl::HEADER_ORIGINAL_TOPIC).with_context(|| {
            format!(
                "{topic}/{}/{} has no {} header; name the topic with --to",
                letter.partition,
                letter.offset,
                dl::HEADER_ORIGINAL_TOPIC
            )
        })?,
    };
    let from = format!("{topic}/{}/{}", letter.partition, letter.offset);
    let mut headers = OwnedHeaders::new();
    for (name, value) in letter
        .headers
        .iter()
        .filter(|(n, _)| !n.starts_with("herald-"))
    {
        headers = headers.insert(Header {
            key: name,
            value: Some(value),
        });
    }
    headers = headers.insert(Header {
        key: HEADER_REPUBLISHED_FROM,
        value: Some(&from),
    });
    let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&target).headers(headers);
    if let Some(key) = &letter.key {
        record = record.key(key.as_slice());
    }
    if let Some(payload) = &letter.payload {
        record = record.payload(payload.as_slice());
    }
    producer
        .send(record, timeout)
        .await
        .map_err(|(error, _)| error)
        .with_context(|| format!("republishing {from} to {target}"))?;
    Ok(target)
}

/// Commits the replay logs of the partitions that `replayed` touched.
fn commit_logs(
    reader: &Reader,
    topic: &str,
    logs: &BTreeMap<i32, ReplayLog>,
    replayed: &[&Letter],
) -> anyhow::Result<()> {
    let partitions: BTreeSet<i32> = replayed.iter().map(|l| l.partition).collect();
    if partitions.is_empty() {
        return Ok(());
    }
    let mut list = TopicPartitionList::new();
    for partition in partitions {
        let Some(log) = logs.get(&partition) else {
            continue;
        };
        let (offset, metadata) = log.to_commit();
        let mut element = list.add_partition(topic, partition);
        element.set_offset(Offset::Offset(offset))?;
        element.set_metadata(metadata);
    }
    // Not subscribed: committed without a generation, which a group without members accepts.
    reader
        .commit(&list, CommitMode::Sync)
        .with_context(|| format!("recording what was replayed from {topic}"))
}
