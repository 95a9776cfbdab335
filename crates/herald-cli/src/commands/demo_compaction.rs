//! The demo's compaction step: a history that never expires and still stays small. One user is
//! deleted (`user_deleted` then a tombstone), the topic's configs are changed so the broker's cleaner
//! runs within a second (`segment.ms`, `min.cleanable.dirty.ratio`, `delete.retention.ms`), and every
//! user is updated many times. The step waits, by reading the whole log, until the cleaner has kept
//! about one record per user and removed the deleted user's tombstone; the bootstrap that follows
//! (`demo.rs`) then replays far fewer records than were produced.
//! Not here: the other steps (`demo.rs`), process management (`platform.rs`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use herald::admin::Admin;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;

use super::demo::{await_value, Demo, CATCH_UP_TIMEOUT_MS, TOPIC};
use super::platform::{Piece, Platform};

/// The topic configs the step sets: segments roll after 100 ms (the cleaner never touches the
/// active segment), a partition is cleaned as soon as 1% of it is dirty, tombstones live 500 ms.
pub const COMPACTION_CONFIGS: [(&str, &str); 4] = [
    ("segment.ms", "100"),
    ("min.cleanable.dirty.ratio", "0.01"),
    ("delete.retention.ms", "500"),
    ("min.compaction.lag.ms", "0"),
];
/// PUTs in flight during an update round (one per user at a time, so each user's updates keep
/// their order).
const CONCURRENT_UPDATES: usize = 8;
/// How long one read of the whole log may take (the compaction benchmark reads millions).
const SCAN_TIMEOUT_MS: u64 = 300_000;
/// The log counts as compacted when it holds at most this many records per live user (the
/// latest one in a cleaned segment, plus at most one newer in the active segment).
const RECORDS_PER_USER_MAX: u64 = 2;

/// What one read of the whole topic found.
#[derive(Debug, Default)]
pub struct LogScan {
    /// Records from the log start to the high watermark of every partition.
    pub records: u64,
    /// Records per key.
    pub per_key: HashMap<String, u64>,
    /// The partition of each key.
    pub partition_of: HashMap<String, i32>,
}

/// One id of `ids` per partition that holds any of them.
fn one_per_partition(scan: &LogScan, ids: &[String]) -> Vec<String> {
    let mut chosen: HashMap<i32, String> = HashMap::new();
    for id in ids {
        if let Some(partition) = scan.partition_of.get(id) {
            chosen.entry(*partition).or_insert_with(|| id.clone());
        }
    }
    chosen.into_values().collect()
}

impl Demo {
    /// Deletes a user, forces compaction with the topic's configs and updates every user until
    /// the log is compacted and the tombstone is gone.
    pub(super) async fn compact(&mut self, p: &mut Platform) -> anyhow::Result<()> {
        let mut ids = user_ids(p).await?;
        let deleted = ids.pop().context("no user to delete")?;
        self.delete_user(p, &deleted).await?;

        let admin = Admin::new(&p.brokers());
        let changes: Vec<(&str, Option<&str>)> = COMPACTION_CONFIGS
            .iter()
            .map(|(k, v)| (*k, Some(*v)))
            .collect();
        let configs = admin
            .alter_topic_configs(TOPIC, &changes)
            .await
            .context("altering user_activity's configs")?;
        println!(
            "    {TOPIC} configs now: {}",
            configs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        );

        let started = Instant::now();
        let deadline = started + Duration::from_millis(CATCH_UP_TIMEOUT_MS);
        let live = ids.len() as u64;
        let (mut updated, mut attempted) = (0, 0);
        for round in 1..=self.updates_per_user {
            updated += self.update_round(p, &ids, round).await;
            attempted += live;
        }
        // The cleaner never touches a partition's active segment, and a segment rolls only when
        // a record arrives after segment.ms: keep one user per partition updated until the log
        // is compacted and the tombstone's delete.retention.ms has passed.
        let mut scan = scan_log(&p.brokers()).await?;
        let heartbeat = one_per_partition(&scan, &ids);
        let mut round = self.updates_per_user;
        let compacted = loop {
            let tombstone_gone = !scan.per_key.contains_key(&deleted);
            if tombstone_gone && scan.records <= live * RECORDS_PER_USER_MAX {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            round += 1;
            updated += self.update_round(p, &heartbeat, round).await;
            attempted += heartbeat.len() as u64;
            scan = scan_log(&p.brokers()).await?;
        };
        let waited = started.elapsed();
        self.record(
            "the cleaner compacts user_activity (configs set live)",
            compacted,
            format!(
                "{} records produced, {} left in the log for {live} users after {} updates each ({:.1}s)",
                self.produced,
                scan.records,
                self.updates_per_user,
                waited.as_secs_f64()
            ),
        );
        self.record(
            "the deleted user's tombstone leaves the log after delete.retention.ms",
            !scan.per_key.contains_key(&deleted),
            format!(
                "{} records of key {deleted}",
                scan.per_key.get(&deleted).copied().unwrap_or(0)
            ),
        );
        let same = await_value(CATCH_UP_TIMEOUT_MS, || async {
            let sql = "SELECT id, name, email FROM users ORDER BY id";
            let users = super::demo::rows(p, Piece::Users, sql).await.ok();
            let directory = super::demo::rows(p, Piece::Directory, sql).await.ok();
            users.is_some() && users == directory
        })
        .await;
        self.record(
            "every update (200) reaches the directory (row for row)",
            same && updated == attempted,
            format!("{updated} of {attempted} PUTs answered 200, over {live} users"),
        );
        Ok(())
    }

    /// DELETE /users/{id}: gone from users-service and the directory, no email from the mailer.
    async fn delete_user(&mut self, p: &Platform, id: &str) -> anyhow::Result<()> {
        let status = p
            .http()
            .delete(format!("{}/users/{id}", p.url(Piece::Users)))
            .send()
            .await?
            .status()
            .as_u16();
        if status == 200 {
            self.deleted.push(id.to_string());
            self.produced += 2; // user_deleted and its tombstone
        }
        let status_of = |piece: Piece| {
            let url = format!("{}/users/{id}", p.url(piece));
            async move {
                match p.http().get(url).send().await {
                    Ok(response) => response.status().as_u16(),
                    Err(_) => 0,
                }
            }
        };
        let gone = await_value(CATCH_UP_TIMEOUT_MS, || async {
            status_of(Piece::Directory).await == 404
        })
        .await;
        let users_status = status_of(Piece::Users).await;
        let emails = p
            .get_json(Piece::Mailer, "/emails")
            .await
            .and_then(|e| e["count"].as_i64());
        self.record(
            "DELETE /users/{id} removes the user from users-service and the directory",
            status == 200 && users_status == 404 && gone && emails == Some(i64::from(self.created)),
            format!(
                "DELETE answered {status}; then users-service {users_status}, directory {}; {} emails for {} users ever created",
                if gone { 404 } else { 200 },
                emails.unwrap_or(-1),
                self.created
            ),
        );
        Ok(())
    }

    /// One PUT per user in `ids`, renaming it for `round`; returns (and counts as produced events)
    /// the 200s.
    async fn update_round(&mut self, p: &Platform, ids: &[String], round: u32) -> u64 {
        let url = p.url(Piece::Users);
        let ok = futures::stream::iter(ids)
            .map(|id| {
                let request = p
                    .http()
                    .put(format!("{url}/users/{id}"))
                    .json(&json!({"name": format!("Updated {round}")}));
                async move {
                    request
                        .send()
                        .await
                        .is_ok_and(|r| r.status().as_u16() == 200)
                }
            })
            .buffer_unordered(CONCURRENT_UPDATES)
            .filter(|ok| std::future::ready(*ok))
            .count()
            .await;
        self.produced += ok as u64;
        ok as u64
    }
}

/// Every user id the users service holds, page by page.
async fn user_ids(p: &Platform) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    loop {
        let after = ids.last().cloned().unwrap_or_default();
        let page = p
            .get_json(Piece::Users, &format!("/users?limit=1000&after={after}"))
            .await
            .context("listing users")?;
        let users = page["users"].as_array().cloned().unwrap_or_default();
        if users.is_empty() {
            return Ok(ids);
        }
        ids.extend(
            users
                .iter()
                .filter_map(|u| u["id"].as_str().map(String::from)),
        );
    }
}

/// Reads every partition of the demo's topic from its log start to its end.
pub async fn scan_log(brokers: &str) -> anyhow::Result<LogScan> {
    scan_topic(brokers, TOPIC).await
}

/// Reads every partition of `topic` from its log start to its end with a bare consumer.
pub async fn scan_topic(brokers: &str, topic: &str) -> anyhow::Result<LogScan> {
    let (brokers, topic) = (brokers.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", "herald-demo-scan")
            .set("enable.auto.commit", "false")
            // EOF events tell when each partition has been read to its end.
            .set("enable.partition.eof", "true")
            .create()?;
        let timeout = Duration::from_millis(SCAN_TIMEOUT_MS);
        let metadata = consumer.fetch_metadata(Some(&topic), timeout)?;
        let mut assignment = TopicPartitionList::new();
        for found in metadata.topics() {
            for partition in found.partitions() {
                assignment.add_partition_offset(&topic, partition.id(), Offset::Beginning)?;
            }
        }
        let partitions = assignment.count();
        consumer.assign(&assignment)?;
        let deadline = Instant::now() + timeout;
        let mut scan = LogScan::default();
        let mut ended = std::collections::HashSet::new();
        while ended.len() < partitions {
            anyhow::ensure!(Instant::now() < deadline, "reading {topic} took too long");
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    scan.records += 1;
                    let key = String::from_utf8_lossy(message.key().unwrap_or_default());
                    let key = key.into_owned();
                    scan.partition_of.insert(key.clone(), message.partition());
                    *scan.per_key.entry(key).or_default() += 1;
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    ended.insert(partition);
                }
                Some(Err(error)) => return Err(error.into()),
                None => {}
            }
        }
        Ok(scan)
    })
    .await?
}
