//! `herald consume TOPIC`: tails a topic, decoding CloudEvents and the Rails shape into readable output.
//!
//! Without `--group` it reads every partition (or `--partition`) by manual assignment and commits
//! nothing, so it never disturbs a service's group. With `--group` it joins that group and commits what
//! it printed.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use herald::envelope::ReceivedEvent;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

use crate::client::{require_topic, CliContext, ClientArgs, Reader};
use crate::position::Position;

/// How records are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecordFormat {
    /// One readable line per record, then the data.
    Pretty,
    /// One JSON object per line.
    Json,
    /// The value bytes only, one per line.
    Raw,
}

/// Flags of `herald consume`.
#[derive(Debug, clap::Args)]
pub struct ConsumeArgs {
    /// Topic to read.
    topic: String,
    /// Where to start: earliest, latest, an offset, or an RFC 3339 timestamp.
    #[arg(long, default_value = "latest")]
    from: Position,
    /// Join this consumer group (and commit what is printed) instead of reading unassigned.
    #[arg(long)]
    group: Option<String>,
    /// Read only this partition.
    #[arg(long)]
    partition: Option<i32>,
    /// Stop after this many records.
    #[arg(long)]
    max: Option<u64>,
    /// Stop at the end of every partition instead of waiting for more.
    #[arg(long)]
    until_end: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "pretty")]
    format: RecordFormat,
}

/// Reads and prints until `--max`, `--until-end`, or Ctrl-C.
pub async fn run(args: ConsumeArgs, client: &ClientArgs) -> anyhow::Result<()> {
    let mut config = client.reader_config(args.group.as_deref());
    // A new group starts where --from says; --until-end needs librdkafka's end-of-partition events.
    config
        .set(
            "auto.offset.reset",
            if args.from == Position::Latest {
                "latest"
            } else {
                "earliest"
            },
        )
        .set(
            "enable.partition.eof",
            if args.until_end { "true" } else { "false" },
        );
    let consumer: Reader = config
        .create_with_context(CliContext)
        .context("creating a consumer")?;
    let metadata = client.metadata(&consumer, Some(&args.topic))?;
    require_topic(&metadata, &args.topic)?;
    let mut partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == args.topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if let Some(only) = args.partition {
        if !partitions.contains(&only) {
            bail!("topic {:?} has no partition {only}", args.topic);
        }
        partitions = vec![only];
    }
    match &args.group {
        Some(_)
            if args.partition.is_none()
                && matches!(args.from, Position::Earliest | Position::Latest) =>
        {
            consumer.subscribe(&[&args.topic]).context("subscribing")?;
        }
        _ => assign(&consumer, client, &args, &partitions)?,
    }
    let mut printed = 0u64;
    // Partitions that reported end-of-partition since their last record (librdkafka's EOF event).
    let mut at_end: Vec<i32> = Vec::new();
    let started = Instant::now();
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        if args.max.is_some_and(|max| printed >= max)
            || (args.until_end && at_end.len() == partitions.len())
        {
            break;
        }
        let message = tokio::select! {
            _ = &mut stop => break,
            message = poll(&consumer) => message,
        };
        let message = match message {
            Some(Ok(message)) => message,
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                if !at_end.contains(&partition) {
                    at_end.push(partition);
                }
                continue;
            }
            Some(Err(error)) => {
                return Err(error).with_context(|| format!("reading {}", args.topic))
            }
            None => {
                // A script waiting for the end must not hang on a group that never assigns anything.
                if args.until_end
                    && started.elapsed() > client.timeout
                    && consumer.assignment()?.count() == 0
                {
                    bail!(
                        "no partition of {:?} was assigned within {:?}",
                        args.topic,
                        client.timeout
                    );
                }
                continue;
            }
        };
        at_end.retain(|p| *p != message.partition());
        print_record(&message, args.format);
        printed += 1;
        if args.group.is_some() {
            consumer
                .commit_message(&message, CommitMode::Async)
                .context("committing")?;
        }
    }
    if args.group.is_some() {
        let _ = consumer.commit_consumer_state(CommitMode::Sync);
    }
    Ok(())
}

/// Polls without blocking the runtime for long: librdkafka's poll is synchronous.
async fn poll(consumer: &Reader) -> Option<rdkafka::error::KafkaResult<BorrowedMessage<'_>>> {
    tokio::task::block_in_place(|| consumer.poll(Duration::from_millis(100)))
}

fn assign(
    consumer: &Reader,
    client: &ClientArgs,
    args: &ConsumeArgs,
    partitions: &[i32],
) -> anyhow::Result<()> {
    let mut list = TopicPartitionList::new();
    for &partition in partitions {
        let offset = match args.from {
            Position::Earliest => Offset::Beginning,
            Position::Latest => Offset::End,
            Position::Offset(offset) => Offset::Offset(offset),
            Position::Timestamp(ms) => Offset::Offset(ms),
        };
        list.add_partition_offset(&args.topic, partition, offset)?;
    }
    if let Position::Timestamp(_) = args.from {
        let started = Instant::now();
        list = consumer
            .offsets_for_times(list, client.timeout)
            .context("looking up offsets by timestamp")?;
        tracing::debug!(elapsed = ?started.elapsed(), "offsets for timestamp");
        // A partition with nothing that recent answers -1: read from its end.
        for element in list.clone().elements() {
            if !matches!(element.offset(), Offset::Offset(o) if o >= 0) {
                list.set_partition_offset(element.topic(), element.partition(), Offset::End)?;
            }
        }
    }
    consumer.assign(&list).context("assigning partitions")?;
    Ok(())
}

/// Prints one record in `format`.
fn print_record(message: &BorrowedMessage<'_>, format: RecordFormat) {
    let payload = message.payload().unwrap_or_default();
    match format {
        RecordFormat::Raw => println!("{}", String::from_utf8_lossy(payload)),
        RecordFormat::Json => println!("{}", record_json(message)),
        RecordFormat::Pretty => {
            let key = message
                .key()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let position = format!(
                "{}/{}@{}",
                message.topic(),
                message.partition(),
                message.offset()
            );
            match ReceivedEvent::from_message(message) {
                Ok(event) => {
                    let data = serde_json::to_string(&event.data).unwrap_or_default();
                    println!(
                        "{position} key={key} {} id={}\n  {data}",
                        event.event_type, event.id
                    );
                }
                Err(_) => println!(
                    "{position} key={key}\n  {}",
                    String::from_utf8_lossy(payload)
                ),
            }
        }
    }
}

/// A record as JSON: position, key, timestamp, headers, and the decoded event when it is one.
fn record_json(message: &BorrowedMessage<'_>) -> Value {
    let headers: serde_json::Map<String, Value> = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| {
                    (
                        h.key.to_string(),
                        h.value
                            .map(|v| Value::from(String::from_utf8_lossy(v)))
                            .unwrap_or(Value::Null),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let payload = message.payload().unwrap_or_default();
    let event = ReceivedEvent::from_message(message).ok().map(|event| {
        json!({
            "id": event.id.to_string(),
            "type": event.event_type,
            "source": event.source,
            "time": event.time.map(|t| t.to_rfc3339()),
            "data": event.data,
        })
    });
    json!({
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp": message.timestamp().to_millis(),
        "key": message.key().map(String::from_utf8_lossy),
        "headers": headers,
        "value": serde_json::from_slice::<Value>(payload).unwrap_or_else(|_| Value::from(String::from_utf8_lossy(payload))),
        "event": event,
    })
}
