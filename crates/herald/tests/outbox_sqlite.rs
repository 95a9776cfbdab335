//! The transactional outbox on SQLite against an in-process herald-broker.
#![allow(clippy::unwrap_used)]

mod outbox_common;
mod producer_common;

// A rolled-back transaction publishes nothing; a committed one is published once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_publishes_nothing() {
    let (db, _dir) = producer_common::sqlite_database().await;
    outbox_common::rollback_publishes_nothing(db).await;
}

// 10,000 events committed while the broker is down are delivered once each, in per-key order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_survive_an_outage() {
    let (db, _dir) = producer_common::sqlite_database().await;
    outbox_common::outage_only_delays(db, 50, 200).await;
}

// A relay round publishes and marks rows; pruning deletes sent rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_then_prune() {
    let (db, _dir) = producer_common::sqlite_database().await;
    outbox_common::round_then_prune(db).await;
}
