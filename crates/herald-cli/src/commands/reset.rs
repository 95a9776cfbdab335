//! `herald groups reset GROUP --topic T --to POSITION [--dry-run]` and `herald replay GROUP --topic T`:
//! move a group's committed offsets, e.g. to replay history into a service's database.
//!
//! Refused while the group has live members: their next commit would overwrite the reset. Stop the
//! service, reset, start it again. `replay --wait` then shows the group catching up.

use std::time::Duration;

use anyhow::Context;
use herald::admin::{Admin, OffsetReset, PartitionOffset};
use serde_json::json;

use crate::client::ClientArgs;
use crate::output::{print_json, OutputFormat, Table};
use crate::position::Position;

/// How often `replay --wait` reads the group's progress.
const PROGRESS_POLL_MS: u64 = 500;

/// Flags of `herald groups reset`.
#[derive(Debug, clap::Args)]
pub struct ResetArgs {
    /// The consumer group.
    group: String,
    /// The topic whose offsets move.
    #[arg(long)]
    topic: String,
    /// Where to: earliest, latest, an offset, or an RFC 3339 timestamp.
    #[arg(long)]
    to: Position,
    /// Show the new offsets without committing them.
    #[arg(long)]
    dry_run: bool,
}

/// Flags of `herald replay`: a reset to earliest, so the group's service processes the whole history.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The consumer group (a service's group id).
    group: String,
    /// The topic to replay.
    #[arg(long)]
    topic: String,
    /// Show the new offsets without committing them.
    #[arg(long)]
    dry_run: bool,
    /// After the reset, wait with a progress bar until the group has consumed everything again.
    #[arg(long)]
    wait: bool,
}

fn admin(client: &ClientArgs) -> Admin {
    Admin::with_config(&client.brokers, client.settings.iter().cloned())
}

/// Runs `herald groups reset`.
pub async fn reset(
    args: ResetArgs,
    client: &ClientArgs,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let to = match args.to {
        Position::Earliest => OffsetReset::Earliest,
        Position::Latest => OffsetReset::Latest,
        Position::Offset(offset) => OffsetReset::Offset(offset),
        Position::Timestamp(ms) => OffsetReset::Timestamp(ms),
    };
    apply(client, &args.group, &args.topic, to, args.dry_run, output).await?;
    Ok(())
}

/// Runs `herald replay`.
pub async fn replay(
    args: ReplayArgs,
    client: &ClientArgs,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let targets = apply(
        client,
        &args.group,
        &args.topic,
        OffsetReset::Earliest,
        args.dry_run,
        output,
    )
    .await?;
    if args.wait && !args.dry_run {
        wait_for_catch_up(client, &args.group, &args.topic, &targets).await?;
    }
    Ok(())
}

/// Checks, computes and (unless a dry run) commits the new offsets, printing before and after.
async fn apply(
    client: &ClientArgs,
    group: &str,
    topic: &str,
    to: OffsetReset,
    dry_run: bool,
    output: OutputFormat,
) -> anyhow::Result<Vec<PartitionOffset>> {
    let admin = admin(client);
    let before = admin
        .committed_offsets(group, topic)
        .await
        .context("reading committed offsets")?;
    let after = if dry_run {
        admin.planned_offsets(group, topic, to).await?
    } else {
        admin.reset_offsets(group, topic, to).await?
    };
    let previous = |partition: i32| {
        before
            .iter()
            .find(|p| p.partition == partition)
            .and_then(|p| p.offset)
    };
    match output {
        OutputFormat::Json => print_json(&json!({
            "group": group, "topic": topic, "dry_run": dry_run,
            "partitions": after.iter().map(|p| json!({
                "partition": p.partition, "previous_offset": previous(p.partition), "new_offset": p.offset,
            })).collect::<Vec<_>>(),
        })),
        OutputFormat::Table => {
            let verb = if dry_run {
                "would move (dry run)"
            } else {
                "moved"
            };
            println!("Group {group} on {topic}: offsets {verb}");
            let mut table = Table::new(&["PARTITION", "PREVIOUS", "NEW"]);
            for p in &after {
                let show = |o: Option<i64>| o.map(|o| o.to_string()).unwrap_or_else(|| "-".into());
                table.row(vec![
                    p.partition.to_string(),
                    show(previous(p.partition)),
                    show(p.offset),
                ]);
            }
            print!("{}", table.render());
        }
    }
    Ok(after)
}

/// Shows the group's progress from the reset offsets to the log end until it has caught up.
async fn wait_for_catch_up(
    client: &ClientArgs,
    group: &str,
    topic: &str,
    from: &[PartitionOffset],
) -> anyhow::Result<()> {
    let rows = super::group_offsets::committed(client, group)?;
    let end: i64 = rows
        .iter()
        .filter(|(r, _)| r.topic == topic)
        .map(|(r, _)| r.log_end_offset)
        .sum();
    let start: i64 = from.iter().filter_map(|p| p.offset).sum();
    let bar = crate::progress::bar(end.saturating_sub(start).max(0) as u64, "replaying", true);
    loop {
        let rows = super::group_offsets::committed(client, group)?;
        let done: i64 = rows
            .iter()
            .filter(|(r, _)| r.topic == topic)
            .map(|(r, _)| r.committed.unwrap_or(0))
            .sum();
        bar.set_position(done.saturating_sub(start).max(0) as u64);
        if done >= end {
            bar.finish_and_clear();
            println!("group {group} has consumed {topic} up to its end again");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(PROGRESS_POLL_MS)).await;
    }
}
