//! `herald groups list | describe GROUP | reset GROUP`: consumer groups, their members and their lag.
//!
//! Lag is the log end offset minus the group's committed offset, per partition and in total: what the
//! group's services still have to process.

use anyhow::Context;
use rdkafka::consumer::Consumer;
use serde_json::json;

use super::group_offsets::{committed, PartitionLag};
use crate::client::ClientArgs;
use crate::output::{print_json, OutputFormat, Table};

/// Subcommands of `herald groups`.
#[derive(Debug, clap::Subcommand)]
pub enum GroupsCommand {
    /// List consumer groups with their state and member count.
    List,
    /// Show a group's members, their partitions, committed offsets and lag.
    Describe {
        /// The group id.
        group: String,
    },
    /// Move a group's committed offsets for a topic (refused while the group has live members).
    Reset(crate::commands::reset::ResetArgs),
}

/// Runs a `herald groups` subcommand.
pub async fn run(
    command: GroupsCommand,
    client: &ClientArgs,
    output: OutputFormat,
) -> anyhow::Result<()> {
    match command {
        GroupsCommand::List => list(client, output),
        GroupsCommand::Describe { group } => describe(client, &group, output),
        GroupsCommand::Reset(args) => crate::commands::reset::reset(args, client, output).await,
    }
}

fn list(client: &ClientArgs, output: OutputFormat) -> anyhow::Result<()> {
    let reader = client.reader(None)?;
    let groups = client
        .retry_transient(|remaining| reader.fetch_group_list(None, remaining))
        .with_context(|| format!("listing groups at {}", client.brokers))?;
    let mut rows: Vec<(String, String, usize)> = groups
        .groups()
        .iter()
        .map(|g| {
            (
                g.name().to_string(),
                g.state().to_string(),
                g.members().len(),
            )
        })
        .collect();
    rows.sort();
    match output {
        OutputFormat::Json => print_json(&json!(rows
            .iter()
            .map(
                |(name, state, members)| json!({"group": name, "state": state, "members": members})
            )
            .collect::<Vec<_>>())),
        OutputFormat::Table => {
            let mut table = Table::new(&["GROUP", "STATE", "MEMBERS"]);
            for (name, state, members) in rows {
                table.row(vec![name, state, members.to_string()]);
            }
            print!("{}", table.render());
        }
    }
    Ok(())
}

fn describe(client: &ClientArgs, group: &str, output: OutputFormat) -> anyhow::Result<()> {
    let reader = client.reader(None)?;
    let groups = client
        .retry_transient(|remaining| reader.fetch_group_list(Some(group), remaining))
        .with_context(|| format!("describing group {group:?}"))?;
    let info = groups.groups().iter().find(|g| g.name() == group);
    let state = info
        .map(|g| g.state().to_string())
        .unwrap_or_else(|| "Dead".to_string());
    let mut members = Vec::new();
    let mut owners = Vec::new();
    for member in info.map(|g| g.members()).unwrap_or_default() {
        let assignment = member
            .assignment()
            .and_then(herald_console::assignment::decode)
            .unwrap_or_default();
        for (topic, partitions) in &assignment {
            for partition in partitions {
                owners.push((topic.clone(), *partition, member.client_id().to_string()));
            }
        }
        members.push((
            member.id().to_string(),
            member.client_id().to_string(),
            member.client_host().to_string(),
            assignment,
        ));
    }
    let mut rows = committed(client, group)?;
    // Partitions assigned but never committed still belong in the picture.
    for (topic, partition, _) in &owners {
        if !rows
            .iter()
            .any(|(r, _)| &r.topic == topic && r.partition == *partition)
        {
            let (low, high) = client
                .retry_transient(|remaining| reader.fetch_watermarks(topic, *partition, remaining))
                .with_context(|| format!("reading offsets of {topic}/{partition}"))?;
            rows.push((
                PartitionLag {
                    topic: topic.clone(),
                    partition: *partition,
                    committed: None,
                    log_end_offset: high,
                    owner: None,
                },
                low,
            ));
        }
    }
    for (row, _) in &mut rows {
        row.owner = owners
            .iter()
            .find(|(t, p, _)| t == &row.topic && *p == row.partition)
            .map(|(_, _, o)| o.clone());
    }
    rows.sort_by(|(a, _), (b, _)| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let total: i64 = rows.iter().map(|(r, low)| r.lag(*low)).sum();
    match output {
        OutputFormat::Json => print_json(&json!({
            "group": group,
            "state": state,
            "members": members.iter().map(|(id, client_id, host, assignment)| json!({
                "member_id": id, "client_id": client_id, "host": host,
                "assignment": assignment.iter().map(|(t, p)| json!({"topic": t, "partitions": p})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "partitions": rows.iter().map(|(r, low)| json!({
                "topic": r.topic, "partition": r.partition, "committed_offset": r.committed,
                "log_end_offset": r.log_end_offset, "lag": r.lag(*low), "owner": r.owner,
            })).collect::<Vec<_>>(),
            "total_lag": total,
        })),
        OutputFormat::Table => {
            println!(
                "Group: {group}  State: {state}  Members: {}  Total lag: {total}",
                members.len()
            );
            let mut table =
                Table::new(&["TOPIC", "PARTITION", "COMMITTED", "LOG END", "LAG", "OWNER"]);
            for (r, low) in &rows {
                table.row(vec![
                    r.topic.clone(),
                    r.partition.to_string(),
                    r.committed
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "-".into()),
                    r.log_end_offset.to_string(),
                    r.lag(*low).to_string(),
                    r.owner.clone().unwrap_or_else(|| "-".into()),
                ]);
            }
            print!("{}", table.render());
        }
    }
    Ok(())
}
