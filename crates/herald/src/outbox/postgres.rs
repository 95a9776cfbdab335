//! The outbox's queries on PostgreSQL.
//!
//! Several relays may run at once: each claims a batch with `SELECT ... FOR UPDATE SKIP LOCKED`
//! inside its own transaction, so no row is published by two relays at the same time, and leaves
//! out any row whose (topic, key) has an older unsent row claimed by another relay, so one key's
//! events still leave in id order. Enqueueing sends `NOTIFY herald_outbox` (delivered on commit) to
//! wake the relays.

use sqlx::{PgConnection, Row};

use super::schema::{now_ms, read_row, OutboxRow};
use crate::db::db;
use crate::envelope::EncodedEvent;
use crate::error::Result;

/// The LISTEN/NOTIFY channel that wakes relays.
pub const NOTIFY_CHANNEL: &str = "herald_outbox";

/// Inserts one row inside the caller's transaction and notifies relays (on commit); returns its id.
pub(crate) async fn insert(
    connection: &mut PgConnection,
    topic: &str,
    event_id: &str,
    record: &EncodedEvent,
    tombstone: bool,
    headers: &[u8],
) -> Result<i64> {
    let row = sqlx::query(
        "WITH inserted AS ( \
            INSERT INTO herald_outbox (topic, event_id, record_key, payload, headers, created_at_ms) \
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING id), \
         notified AS (SELECT pg_notify($7, '')) \
         SELECT inserted.id FROM inserted, notified",
    )
    .bind(topic)
    .bind(event_id)
    .bind(record.key.as_deref())
    .bind((!tombstone).then_some(record.payload.as_slice()))
    .bind(headers)
    .bind(now_ms())
    .bind(NOTIFY_CHANNEL)
    .fetch_one(connection)
    .await
    .map_err(db("insert outbox row"))?;
    row.try_get(0).map_err(db("read outbox row id"))
}

/// Locks and returns up to `limit` unsent rows in id order, skipping rows other relays hold and
/// rows whose key has an older unsent row held elsewhere. The locks last until the transaction ends.
pub(crate) async fn claim(
    connection: &mut PgConnection,
    limit: usize,
    attempts_max: i32,
) -> Result<Vec<OutboxRow>> {
    let rows = sqlx::query(
        "WITH batch AS ( \
            SELECT id, topic, record_key, payload, headers FROM herald_outbox \
            WHERE sent_at_ms IS NULL AND attempts < $2 \
            ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
         SELECT b.id, b.topic, b.record_key, b.payload, b.headers FROM batch b \
         WHERE b.record_key IS NULL OR NOT EXISTS ( \
            SELECT 1 FROM herald_outbox o \
            WHERE o.sent_at_ms IS NULL AND o.attempts < $2 \
              AND o.topic = b.topic AND o.record_key = b.record_key AND o.id < b.id \
              AND o.id NOT IN (SELECT id FROM batch)) \
         ORDER BY b.id",
    )
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .bind(attempts_max)
    .fetch_all(connection)
    .await
    .map_err(db("claim outbox rows"))?;
    rows.iter().map(read_row).collect()
}

/// Marks rows as sent now.
pub(crate) async fn mark_sent(connection: &mut PgConnection, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("UPDATE herald_outbox SET sent_at_ms = $1 WHERE id = ANY($2)")
        .bind(now_ms())
        .bind(ids)
        .execute(connection)
        .await
        .map_err(db("mark outbox rows sent"))?;
    Ok(())
}

/// Counts a failed attempt for each row and keeps its error.
pub(crate) async fn record_failures(
    connection: &mut PgConnection,
    failures: &[(i64, String)],
) -> Result<()> {
    for (id, error) in failures {
        sqlx::query(
            "UPDATE herald_outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2",
        )
        .bind(error)
        .bind(id)
        .execute(&mut *connection)
        .await
        .map_err(db("record outbox failure"))?;
    }
    Ok(())
}

/// Deletes rows sent before `sent_before_ms`; returns how many.
pub(crate) async fn prune(connection: &mut PgConnection, sent_before_ms: i64) -> Result<u64> {
    let result =
        sqlx::query("DELETE FROM herald_outbox WHERE sent_at_ms IS NOT NULL AND sent_at_ms < $1")
            .bind(sent_before_ms)
            .execute(connection)
            .await
            .map_err(db("prune outbox"))?;
    Ok(result.rows_affected())
}

/// Counts unsent rows (dead ones included).
pub(crate) async fn count_unsent(connection: &mut PgConnection) -> Result<u64> {
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM herald_outbox WHERE sent_at_ms IS NULL")
            .fetch_one(connection)
            .await
            .map_err(db("count unsent outbox rows"))?;
    Ok(u64::try_from(count).unwrap_or(0))
}
