//! The transactional outbox on PostgreSQL (one schema per test) against an in-process herald-broker.
#![allow(clippy::unwrap_used)]

mod outbox_common;
mod producer_common;

use producer_common::PgSchema;

// A rolled-back transaction publishes nothing; a committed one is published once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_publishes_nothing() {
    let pg = PgSchema::create().await;
    outbox_common::rollback_publishes_nothing(pg.database.clone()).await;
    pg.drop_schema().await;
}

// 10,000 events committed while the broker is down are delivered once each, in per-key order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_survive_an_outage() {
    let pg = PgSchema::create().await;
    outbox_common::outage_only_delays(pg.database.clone(), 50, 200).await;
    pg.drop_schema().await;
}

// Two relays at once (FOR UPDATE SKIP LOCKED) publish each row once and keep per-key order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_publish_each_row_once() {
    let pg = PgSchema::create().await;
    outbox_common::concurrent_relays_publish_once(pg.database.clone(), 20, 100).await;
    pg.drop_schema().await;
}

// A relay round publishes and marks rows; pruning deletes sent rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_then_prune() {
    let pg = PgSchema::create().await;
    outbox_common::round_then_prune(pg.database.clone()).await;
    pg.drop_schema().await;
}

// LISTEN/NOTIFY wakes an idle relay at commit, long before its (here 10-minute) fallback poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_wakes_an_idle_relay() {
    let pg = PgSchema::create().await;
    outbox_common::commit_wakes_an_idle_relay(pg.database.clone()).await;
    pg.drop_schema().await;
}

// A tombstone leaves the PostgreSQL outbox as a record with a null value and the same key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstone_is_published_with_a_null_value() {
    let pg = PgSchema::create().await;
    outbox_common::tombstone_is_published_with_a_null_value(pg.database.clone()).await;
    pg.drop_schema().await;
}
