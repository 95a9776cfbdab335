//! The outbox's queries on SQLite.
//!
//! SQLite has one writer at a time, so ids are assigned in commit order and one relay per database
//! reads unsent rows in id order without locking. Running two relays on one SQLite database would
//! publish rows twice (harmless for an inbox consumer, but wasteful): run one.

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::schema::{now_ms, read_row, OutboxRow};
use crate::db::db;
use crate::envelope::EncodedEvent;
use crate::error::Result;

/// Inserts one row inside the caller's transaction; returns its id.
pub(crate) async fn insert(
    connection: &mut SqliteConnection,
    topic: &str,
    event_id: &str,
    record: &EncodedEvent,
    tombstone: bool,
    headers: &[u8],
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO herald_outbox (topic, event_id, record_key, payload, headers, created_at_ms) \
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(topic)
    .bind(event_id)
    .bind(record.key.as_deref())
    .bind((!tombstone).then_some(record.payload.as_slice()))
    .bind(headers)
    .bind(now_ms())
    .fetch_one(connection)
    .await
    .map_err(db("insert outbox row"))?;
    row.try_get(0).map_err(db("read outbox row id"))
}

/// The oldest unsent rows that have not used up their attempts, in id order.
pub(crate) async fn unsent(
    pool: &SqlitePool,
    limit: usize,
    attempts_max: i32,
) -> Result<Vec<OutboxRow>> {
    let rows = sqlx::query(
        "SELECT id, topic, record_key, payload, headers FROM herald_outbox \
         WHERE sent_at_ms IS NULL AND attempts < ? ORDER BY id LIMIT ?",
    )
    .bind(attempts_max)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
    .map_err(db("select unsent outbox rows"))?;
    rows.iter().map(read_row).collect()
}

/// Marks rows as sent now.
pub(crate) async fn mark_sent(pool: &SqlitePool, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut query = QueryBuilder::<Sqlite>::new("UPDATE herald_outbox SET sent_at_ms = ");
    query.push_bind(now_ms()).push(" WHERE id IN (");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(")");
    query
        .build()
        .execute(pool)
        .await
        .map_err(db("mark outbox rows sent"))?;
    Ok(())
}

/// Counts a failed attempt for each row and keeps its error.
pub(crate) async fn record_failures(pool: &SqlitePool, failures: &[(i64, String)]) -> Result<()> {
    for (id, error) in failures {
        sqlx::query(
            "UPDATE herald_outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
        )
        .bind(error)
        .bind(id)
        .execute(pool)
        .await
        .map_err(db("record outbox failure"))?;
    }
    Ok(())
}

/// Deletes rows sent before `sent_before_ms`; returns how many.
pub(crate) async fn prune(pool: &SqlitePool, sent_before_ms: i64) -> Result<u64> {
    let result =
        sqlx::query("DELETE FROM herald_outbox WHERE sent_at_ms IS NOT NULL AND sent_at_ms < ?")
            .bind(sent_before_ms)
            .execute(pool)
            .await
            .map_err(db("prune outbox"))?;
    Ok(result.rows_affected())
}

/// Counts unsent rows (dead ones included).
pub(crate) async fn count_unsent(pool: &SqlitePool) -> Result<u64> {
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM herald_outbox WHERE sent_at_ms IS NULL")
            .fetch_one(pool)
            .await
            .map_err(db("count unsent outbox rows"))?;
    Ok(u64::try_from(count).unwrap_or(0))
}
