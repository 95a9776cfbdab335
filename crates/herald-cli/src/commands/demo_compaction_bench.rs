//! `herald demo --bench --compaction-updates N --users U`: how much a compacted topic speeds up a new
//! replica. N `user_updated` events (each the user's whole state) over U users are produced into two
//! topics: `user_activity` (compacted, with configs that make the broker's cleaner run during the
//! load) and `user_activity_full` (`cleanup.policy=delete`, `retention.ms=-1`: every event kept).
//! Once the cleaner has compacted the first, a brand-new directory bootstraps from it, then another
//! from the second; both times are printed, from the same run on the same machine.
//! Not here: the HTTP figures (`demo_bench.rs`), the demo's compaction check (`demo_compaction.rs`).

use std::time::{Duration, Instant};

use anyhow::Context;
use herald::admin::{Admin, TopicSpec};
use herald::envelope::Event;
use herald::producer::{Producer, ProducerConfig};
use serde_json::json;

use super::demo_compaction::scan_topic;
use super::platform::{Piece, Platform};

/// The compacted topic (the platform's own).
const COMPACTED: &str = "user_activity";
/// The topic that keeps every event.
const FULL: &str = "user_activity_full";
/// Partitions of both topics.
const PARTITIONS: i32 = 3;
/// Segments of the compacted topic roll at this size, so the cleaner works during the load.
const SEGMENT_BYTES: &str = "8388608";
/// Deadline for the cleaner and for each bootstrap.
const WAIT_MS: u64 = 600_000;
/// Interval between two looks at a bootstrapping replica's count.
const COUNT_POLL_MS: u64 = 100;

/// Runs the comparison for `users` users and `updates` events in total.
pub async fn run(p: &mut Platform, users: u32, updates: u32) -> anyhow::Result<()> {
    p.start(Piece::Broker).await?;
    let admin = Admin::new(&p.brokers());
    let compacted = TopicSpec::new(COMPACTED, PARTITIONS)
        .config("cleanup.policy", "compact")
        .config("retention.ms", "-1")
        .config("segment.bytes", SEGMENT_BYTES)
        .config("segment.ms", "1000")
        .config("min.cleanable.dirty.ratio", "0.01");
    let full = TopicSpec::new(FULL, PARTITIONS)
        .config("cleanup.policy", "delete")
        .config("retention.ms", "-1");
    for spec in [&compacted, &full] {
        admin
            .create_topic_if_absent(spec)
            .await
            .with_context(|| format!("creating {}", spec.name))?;
    }
    load(p, users, updates).await?;

    let started = Instant::now();
    let deadline = started + Duration::from_millis(WAIT_MS);
    let target = u64::from(updates / 10).max(u64::from(users) * 2);
    let records = loop {
        let scan = scan_topic(&p.brokers(), COMPACTED).await?;
        if scan.records <= target {
            break scan.records;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the cleaner left {} records",
            scan.records
        );
        println!(
            "    waiting for the cleaner: {} records in {COMPACTED}",
            scan.records
        );
    };
    println!(
        "cleaner: {COMPACTED} down to {records} records of {updates} within {:.1}s after the load",
        started.elapsed().as_secs_f64()
    );

    p.set_extra_args(Piece::Directory2, &["--topic", COMPACTED]);
    let from_compacted = bootstrap(p, Piece::Directory2, users).await?;
    p.stop(Piece::Directory2).await?;
    p.set_extra_args(Piece::Directory, &["--topic", FULL]);
    let from_full = bootstrap(p, Piece::Directory, users).await?;
    println!(
        "bootstrap of {users} users: from the compacted topic ({records} records) {from_compacted:.2}s; from the uncompacted topic ({updates} records) {from_full:.2}s; {:.1}x faster (process start included)",
        from_full / from_compacted.max(f64::EPSILON)
    );
    Ok(())
}

/// Starts `piece` (an empty database, a new group) and times it until it holds `users` users.
async fn bootstrap(p: &mut Platform, piece: Piece, users: u32) -> anyhow::Result<f64> {
    let started = Instant::now();
    p.start(piece).await?;
    let deadline = started + Duration::from_millis(WAIT_MS);
    loop {
        let count = p
            .get_json(piece, "/users")
            .await
            .and_then(|v| v["count"].as_i64());
        if count == Some(i64::from(users)) {
            return Ok(started.elapsed().as_secs_f64());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} stuck at {count:?}",
            piece.name()
        );
        tokio::time::sleep(Duration::from_millis(COUNT_POLL_MS)).await;
    }
}

/// Produces `updates` `user_updated` events, user `n % users` each, into both topics.
async fn load(p: &Platform, users: u32, updates: u32) -> anyhow::Result<()> {
    let producer = Producer::new(
        ProducerConfig::new(p.brokers())
            .source(users_service::SOURCE)
            .linger(Duration::from_millis(20))
            .set("batch.size", "1000000")
            .set("batch.num.messages", "10000"),
    )?;
    let started = Instant::now();
    let base = chrono::Utc::now();
    for n in 0..updates {
        let user = n % users;
        let id = format!("user-{user:09}");
        let at = (base + chrono::Duration::microseconds(i64::from(n)))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let data = json!({"id": id, "name": format!("User {user} v{}", n / users),
            "email": format!("user{user}@example.com"), "created_at": base.to_rfc3339(), "updated_at": at});
        let encoded = Event::new("user_updated", &data)?
            .key(&id)
            .encode(users_service::SOURCE);
        for topic in [COMPACTED, FULL] {
            super::demo_bench::deliver_when_room(&producer, topic, &encoded).await?;
        }
    }
    producer.close().await?;
    let failed = producer.stats().failed;
    anyhow::ensure!(failed == 0, "{failed} events were not delivered");
    println!(
        "load: {updates} user_updated events over {users} users into {COMPACTED} and {FULL} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
