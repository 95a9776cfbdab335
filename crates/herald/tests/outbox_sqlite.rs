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

// Outbox::committed wakes a SQLite relay whose poll is 10 minutes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_wakes_the_relay_in_process() {
    let (db, _dir) = producer_common::sqlite_database().await;
    outbox_common::committed_wakes_the_relay_in_process(db).await;
}

// A tombstone leaves the SQLite outbox as a record with a null value and the same key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstone_is_published_with_a_null_value() {
    let (db, _dir) = producer_common::sqlite_database().await;
    outbox_common::tombstone_is_published_with_a_null_value(db).await;
}

// The nullable-payload migration rebuilds a SQLite outbox made by the first schema: its rows stay,
// and ids keep growing past rows already pruned (the AUTOINCREMENT counter is carried over).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nullable_payload_migration_keeps_rows_and_ids() {
    let (db, _dir) = producer_common::sqlite_database().await;
    db.migrate(&herald::outbox::MIGRATIONS[..1]).await.unwrap();
    let herald::db::Database::Sqlite(pool) = &db else {
        panic!("a SQLite database")
    };
    for n in 1..=3 {
        sqlx::query(
            "INSERT INTO herald_outbox (topic, event_id, record_key, payload, headers, created_at_ms) \
             VALUES ('t', ?, 'k', ?, x'', 0)",
        )
        .bind(format!("e{n}"))
        .bind(format!("v{n}").into_bytes())
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query("DELETE FROM herald_outbox WHERE id = 3")
        .execute(pool)
        .await
        .unwrap();
    let outbox = herald::outbox::Outbox::new(db.clone()).await.unwrap();
    let kept: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT id, payload FROM herald_outbox ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(kept, vec![(1, b"v1".to_vec()), (2, b"v2".to_vec())]);
    let mut tx = db.begin().await.unwrap();
    let id = outbox.enqueue_tombstone(&mut tx, "t", "k").await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        id, 4,
        "an id is never reused, even after a prune and the rebuild"
    );
    let null: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT payload FROM herald_outbox WHERE id = 4")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(null, None);
}
