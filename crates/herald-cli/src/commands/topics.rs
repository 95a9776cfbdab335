//! `herald topics list | describe NAME | create NAME | alter NAME | purge NAME | delete NAME`.
//! `alter` is IncrementalAlterConfigs (`topic_alter.rs`), `purge` DeleteRecords (`topic_purge.rs`).

use anyhow::{bail, Context};
use rdkafka::admin::{AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::consumer::Consumer;
use serde_json::json;

use crate::client::{require_topic, ClientArgs, Reader};
use crate::output::{print_json, OutputFormat, Table};

/// Subcommands of `herald topics`.
#[derive(Debug, clap::Subcommand)]
pub enum TopicsCommand {
    /// List topics with their partition and record counts.
    List,
    /// Show a topic's partitions (log start and end offsets) and configuration.
    Describe {
        /// The topic.
        name: String,
    },
    /// Create a topic.
    Create {
        /// The topic.
        name: String,
        /// Number of partitions.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
        partitions: i32,
        /// A topic config, key=value (repeatable), e.g. --config retention.ms=86400000.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// Change a topic's configs (IncrementalAlterConfigs): set and remove overrides, live.
    Alter {
        /// The topic.
        name: String,
        /// Set a config, key=value (repeatable), e.g. --config compression.type=zstd.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Remove a config override, back to the default (repeatable).
        #[arg(long = "delete-config", value_name = "KEY")]
        delete_configs: Vec<String>,
        /// Only check the changes with the broker; change nothing.
        #[arg(long)]
        validate_only: bool,
    },
    /// Delete the records below a point in every partition (DeleteRecords: the log start moves).
    Purge {
        /// The topic.
        name: String,
        /// An offset, an RFC 3339 time (2026-01-02T03:04:05Z) or a duration ago (7d, 12h).
        #[arg(long, value_name = "OFFSET|TIME", value_parser = super::topic_purge::parse_purge_point)]
        before: super::topic_purge::PurgePoint,
    },
    /// Delete a topic and all its data.
    Delete {
        /// The topic.
        name: String,
    },
}

/// Runs a `herald topics` subcommand.
pub async fn run(
    command: TopicsCommand,
    client: &ClientArgs,
    output: OutputFormat,
) -> anyhow::Result<()> {
    match command {
        TopicsCommand::List => list(client, output),
        TopicsCommand::Describe { name } => describe(client, &name, output).await,
        TopicsCommand::Create {
            name,
            partitions,
            configs,
        } => create(client, &name, partitions, &configs, output).await,
        TopicsCommand::Alter {
            name,
            configs,
            delete_configs,
            validate_only,
        } => alter(
            client,
            &name,
            &configs,
            &delete_configs,
            validate_only,
            output,
        ),
        TopicsCommand::Purge { name, before } => {
            super::topic_purge::purge(client, &name, before, output).await
        }
        TopicsCommand::Delete { name } => delete(client, &name, output).await,
    }
}

/// Sum over partitions of (high watermark - low watermark): the records a full read returns.
fn record_count(
    reader: &Reader,
    client: &ClientArgs,
    topic: &str,
    partitions: &[i32],
) -> anyhow::Result<i64> {
    let mut total = 0;
    for &partition in partitions {
        let (low, high) = client
            .retry_transient(|remaining| reader.fetch_watermarks(topic, partition, remaining))
            .with_context(|| format!("reading offsets of {topic}/{partition}"))?;
        total += high - low;
    }
    Ok(total)
}

fn list(client: &ClientArgs, output: OutputFormat) -> anyhow::Result<()> {
    let reader = client.reader(None)?;
    let metadata = client.metadata(&reader, None)?;
    let mut topics: Vec<_> = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && !t.name().starts_with("__"))
        .map(|t| {
            (
                t.name().to_string(),
                t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>(),
            )
        })
        .collect();
    topics.sort();
    let mut rows = Vec::new();
    for (name, partitions) in &topics {
        rows.push((
            name,
            partitions.len(),
            record_count(&reader, client, name, partitions)?,
        ));
    }
    match output {
        OutputFormat::Json => print_json(&json!(rows
            .iter()
            .map(|(name, partitions, records)| json!({"topic": name, "partitions": partitions, "records": records}))
            .collect::<Vec<_>>())),
        OutputFormat::Table => {
            let mut table = Table::new(&["TOPIC", "PARTITIONS", "RECORDS"]);
            for (name, partitions, records) in rows {
                table.row(vec![name.clone(), partitions.to_string(), records.to_string()]);
            }
            print!("{}", table.render());
        }
    }
    Ok(())
}

async fn describe(client: &ClientArgs, name: &str, output: OutputFormat) -> anyhow::Result<()> {
    let reader = client.reader(None)?;
    let metadata = client.metadata(&reader, Some(name))?;
    require_topic(&metadata, name)?;
    let mut partitions = Vec::new();
    for topic in metadata.topics().iter().filter(|t| t.name() == name) {
        for partition in topic.partitions() {
            let (low, high) = client
                .retry_transient(|remaining| {
                    reader.fetch_watermarks(name, partition.id(), remaining)
                })
                .with_context(|| format!("reading offsets of {name}/{}", partition.id()))?;
            partitions.push((partition.id(), partition.leader(), low, high));
        }
    }
    partitions.sort();
    let admin = client.admin()?;
    let options = AdminOptions::new().request_timeout(Some(client.timeout));
    let results = admin
        .describe_configs(&[ResourceSpecifier::Topic(name)], &options)
        .await
        .context("describing topic configs")?;
    let mut configs: Vec<(String, String, bool)> = Vec::new();
    for result in results {
        let resource =
            result.map_err(|e| anyhow::anyhow!("describing configs of {name:?}: {e}"))?;
        for entry in resource.entries {
            configs.push((
                entry.name,
                entry.value.unwrap_or_default(),
                entry.is_default,
            ));
        }
    }
    configs.sort();
    match output {
        OutputFormat::Json => print_json(&json!({
            "topic": name,
            "partitions": partitions.iter().map(|(id, leader, low, high)| json!({
                "partition": id, "leader": leader, "log_start_offset": low, "log_end_offset": high,
            })).collect::<Vec<_>>(),
            "configs": configs.iter().map(|(k, v, d)| (k.clone(), json!({"value": v, "default": d}))).collect::<serde_json::Map<_, _>>(),
        })),
        OutputFormat::Table => {
            println!("Topic: {name}  Partitions: {}", partitions.len());
            let mut table = Table::new(&["PARTITION", "LEADER", "LOG START", "LOG END", "RECORDS"]);
            for (id, leader, low, high) in &partitions {
                table.row(vec![
                    id.to_string(),
                    leader.to_string(),
                    low.to_string(),
                    high.to_string(),
                    (high - low).to_string(),
                ]);
            }
            print!("{}", table.render());
            let mut table = Table::new(&["CONFIG", "VALUE", "SOURCE"]);
            for (key, value, is_default) in configs {
                table.row(vec![
                    key,
                    value,
                    if is_default { "default" } else { "topic" }.to_string(),
                ]);
            }
            print!("\n{}", table.render());
        }
    }
    Ok(())
}

async fn create(
    client: &ClientArgs,
    name: &str,
    partitions: i32,
    configs: &[String],
    output: OutputFormat,
) -> anyhow::Result<()> {
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for config in configs {
        let Some((key, value)) = config.split_once('=') else {
            bail!("--config expects key=value, got {config:?}");
        };
        topic = topic.set(key, value);
    }
    let admin = client.admin()?;
    let options = AdminOptions::new()
        .request_timeout(Some(client.timeout))
        .operation_timeout(Some(client.timeout));
    let results = admin
        .create_topics([&topic], &options)
        .await
        .context("creating topic")?;
    for result in results {
        result.map_err(|(topic, code)| anyhow::anyhow!("cannot create topic {topic:?}: {code}"))?;
    }
    match output {
        OutputFormat::Json => print_json(&json!({"created": name, "partitions": partitions})),
        OutputFormat::Table => println!("created topic {name} with {partitions} partition(s)"),
    }
    Ok(())
}

fn alter(
    client: &ClientArgs,
    name: &str,
    configs: &[String],
    delete_configs: &[String],
    validate_only: bool,
    output: OutputFormat,
) -> anyhow::Result<()> {
    use super::topic_alter::{incremental_alter_configs, ConfigChange};
    let mut changes = Vec::with_capacity(configs.len() + delete_configs.len());
    for config in configs {
        let Some((key, value)) = config.split_once('=') else {
            bail!("--config expects key=value, got {config:?}");
        };
        changes.push(ConfigChange::Set(key.to_string(), value.to_string()));
    }
    changes.extend(delete_configs.iter().cloned().map(ConfigChange::Delete));
    if changes.is_empty() {
        bail!("nothing to change: give --config KEY=VALUE or --delete-config KEY");
    }
    let admin = client.admin()?;
    incremental_alter_configs(&admin, name, &changes, validate_only, client.timeout)
        .map_err(|e| anyhow::anyhow!("cannot alter configs of {name:?}: {e}"))?;
    let verb = if validate_only {
        "validated"
    } else {
        "altered"
    };
    match output {
        OutputFormat::Json => print_json(&json!({
            "topic": name, verb: true,
            "set": configs, "deleted": delete_configs,
        })),
        OutputFormat::Table => {
            println!("{verb} configs of topic {name}");
            for config in configs {
                println!("  set {config}");
            }
            for key in delete_configs {
                println!("  deleted {key}");
            }
        }
    }
    Ok(())
}

async fn delete(client: &ClientArgs, name: &str, output: OutputFormat) -> anyhow::Result<()> {
    let admin = client.admin()?;
    let options = AdminOptions::new()
        .request_timeout(Some(client.timeout))
        .operation_timeout(Some(client.timeout));
    let results = admin
        .delete_topics(&[name], &options)
        .await
        .context("deleting topic")?;
    for result in results {
        result.map_err(|(topic, code)| anyhow::anyhow!("cannot delete topic {topic:?}: {code}"))?;
    }
    match output {
        OutputFormat::Json => print_json(&json!({"deleted": name})),
        OutputFormat::Table => println!("deleted topic {name}"),
    }
    Ok(())
}
