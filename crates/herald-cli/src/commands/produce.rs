//! `herald produce TOPIC`: publishes one record per input line (stdin or `--file`) and prints where each
//! landed. With `--type` each line is wrapped as a CloudEvent (binary mode, a fresh UUIDv7 id), the same
//! envelope the library's producer writes.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::StreamExt;
use herald::envelope::Event;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};

use crate::client::ClientArgs;
use crate::output::OutputFormat;

/// Records in flight at once: enough to keep librdkafka's batches full, bounded so memory is too.
const IN_FLIGHT_RECORDS_MAX: usize = 10_000;

/// Flags of `herald produce`.
#[derive(Debug, clap::Args)]
pub struct ProduceArgs {
    /// Topic to publish to.
    topic: String,
    /// Read records from this file instead of stdin (one JSON document per line).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Key of every record. Without it, --type records are keyed by the data's "id" field if any.
    #[arg(long)]
    key: Option<String>,
    /// A header, key=value (repeatable).
    #[arg(long = "header", value_name = "KEY=VALUE")]
    headers: Vec<String>,
    /// Wrap each line as a CloudEvent of this type (e.g. user_created).
    #[arg(long = "type", value_name = "EVENT_TYPE")]
    event_type: Option<String>,
    /// ce_source of wrapped events.
    #[arg(long, default_value = "herald-cli")]
    source: String,
}

/// One record ready to send.
struct Outgoing {
    key: Option<String>,
    payload: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
}

/// Publishes every line; stops at the first line that is not JSON (nothing after it is sent).
pub async fn run(
    args: ProduceArgs,
    client: &ClientArgs,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let extra_headers = parse_headers(&args.headers)?;
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(BufReader::new(std::io::stdin())),
    };
    let mut records = Vec::new();
    for (number, line) in input.lines().enumerate() {
        let line = line.context("reading input")?;
        if line.trim().is_empty() {
            continue;
        }
        records.push(outgoing(&args, &line, number + 1, &extra_headers)?);
    }
    let mut config = client.config();
    // Every record is confirmed by the broker, and retries never duplicate or reorder records.
    config
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5");
    let producer: FutureProducer = config.create().context("creating a producer")?;
    let progress = crate::progress::bar(records.len() as u64, "producing", args.file.is_some());
    let topic = args.topic.as_str();
    let timeout = client.timeout;
    let mut deliveries = futures::stream::iter(records.iter())
        .map(|record| send(&producer, topic, record, timeout))
        .buffered(IN_FLIGHT_RECORDS_MAX);
    let mut sent = 0u64;
    while let Some(delivery) = deliveries.next().await {
        let (partition, offset) = delivery?;
        sent += 1;
        let line = match output {
            OutputFormat::Json => {
                json!({"topic": topic, "partition": partition, "offset": offset}).to_string()
            }
            OutputFormat::Table => format!("{topic}/{partition}@{offset}"),
        };
        if progress.is_hidden() {
            println!("{line}");
        } else {
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    if !progress.is_hidden() {
        println!("produced {sent} record(s) to {topic}");
    }
    Ok(())
}

async fn send(
    producer: &FutureProducer,
    topic: &str,
    record: &Outgoing,
    timeout: Duration,
) -> anyhow::Result<(i32, i64)> {
    let headers = record
        .headers
        .iter()
        .fold(OwnedHeaders::new(), |headers, (key, value)| {
            headers.insert(Header {
                key,
                value: Some(value.as_slice()),
            })
        });
    let mut future_record = FutureRecord::to(topic)
        .payload(&record.payload)
        .headers(headers);
    if let Some(key) = &record.key {
        future_record = future_record.key(key.as_str());
    }
    let delivery = producer
        .send(future_record, timeout)
        .await
        .map_err(|(error, _)| anyhow::anyhow!("delivering to {topic}: {error}"))?;
    Ok((delivery.partition, delivery.offset))
}

fn outgoing(
    args: &ProduceArgs,
    line: &str,
    number: usize,
    extra_headers: &[(String, Vec<u8>)],
) -> anyhow::Result<Outgoing> {
    let value: Value =
        serde_json::from_str(line).with_context(|| format!("line {number} is not JSON"))?;
    let mut record = match &args.event_type {
        None => Outgoing {
            key: args.key.clone(),
            payload: line.as_bytes().to_vec(),
            headers: Vec::new(),
        },
        Some(event_type) => {
            let key = args.key.clone().or_else(|| match value.get("id") {
                Some(Value::String(id)) => Some(id.clone()),
                Some(Value::Number(id)) => Some(id.to_string()),
                _ => None,
            });
            let mut event = Event::new(event_type.clone(), &value)?.source(args.source.clone());
            if let Some(key) = &key {
                event = event.key(key);
            }
            let encoded = event.encode(&args.source);
            let key = encoded
                .key
                .map(|k| String::from_utf8_lossy(&k).into_owned());
            Outgoing {
                key,
                payload: encoded.payload,
                headers: encoded.headers,
            }
        }
    };
    record.headers.extend(extra_headers.iter().cloned());
    Ok(record)
}

fn parse_headers(headers: &[String]) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    headers
        .iter()
        .map(|header| match header.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                Ok((key.to_string(), value.as_bytes().to_vec()))
            }
            _ => bail!("--header expects key=value, got {header:?}"),
        })
        .collect()
}
