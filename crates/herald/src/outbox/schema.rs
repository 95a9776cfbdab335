//! The outbox table, its migration for SQLite and PostgreSQL, and how a row holds a Kafka record.
//!
//! A row is an [`EncodedEvent`] ready to send (key, value, headers as a length-prefixed blob; a
//! NULL value is a tombstone), its topic, and its relay state (`sent_at_ms`, `attempts`, `last_error`). Rows are published in `id`
//! order; `id` is assigned at insert, so one entity's events leave in the order its transactions
//! inserted them.
//!
//! No queries live here: see `sqlite.rs` and `postgres.rs`.

use crate::db::Migration;
use crate::envelope::EncodedEvent;
use crate::error::{Error, Result};

/// The outbox schema, applied by [`Outbox::new`](super::Outbox::new) through `Database::migrate`.
pub const MIGRATIONS: &[Migration] = &[Migration {
    name: "herald_outbox_0001_create",
    // AUTOINCREMENT: ids only grow, even after the newest rows were pruned.
    sqlite: "CREATE TABLE IF NOT EXISTS herald_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            topic TEXT NOT NULL,
            event_id TEXT NOT NULL,
            record_key BLOB,
            payload BLOB NOT NULL,
            headers BLOB NOT NULL,
            created_at_ms INTEGER NOT NULL,
            sent_at_ms INTEGER,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        CREATE INDEX IF NOT EXISTS herald_outbox_unsent ON herald_outbox (id) WHERE sent_at_ms IS NULL;
        CREATE INDEX IF NOT EXISTS herald_outbox_sent ON herald_outbox (sent_at_ms) WHERE sent_at_ms IS NOT NULL",
    postgres: "CREATE TABLE IF NOT EXISTS herald_outbox (
            id BIGSERIAL PRIMARY KEY,
            topic TEXT NOT NULL,
            event_id TEXT NOT NULL,
            record_key BYTEA,
            payload BYTEA NOT NULL,
            headers BYTEA NOT NULL,
            created_at_ms BIGINT NOT NULL,
            sent_at_ms BIGINT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        CREATE INDEX IF NOT EXISTS herald_outbox_unsent ON herald_outbox (id) WHERE sent_at_ms IS NULL;
        CREATE INDEX IF NOT EXISTS herald_outbox_unsent_key ON herald_outbox (topic, record_key, id) WHERE sent_at_ms IS NULL;
        CREATE INDEX IF NOT EXISTS herald_outbox_sent ON herald_outbox (sent_at_ms) WHERE sent_at_ms IS NOT NULL",
}, Migration {
    // A NULL payload is a tombstone (a record with a null value). SQLite cannot drop a NOT NULL
    // constraint, so the table is rebuilt (inside the migration's transaction), its AUTOINCREMENT
    // counter carried over so ids keep growing past pruned rows.
    name: "herald_outbox_0002_nullable_payload",
    sqlite: "CREATE TABLE herald_outbox_0002 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            topic TEXT NOT NULL,
            event_id TEXT NOT NULL,
            record_key BLOB,
            payload BLOB,
            headers BLOB NOT NULL,
            created_at_ms INTEGER NOT NULL,
            sent_at_ms INTEGER,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        INSERT INTO herald_outbox_0002 (id, topic, event_id, record_key, payload, headers,
            created_at_ms, sent_at_ms, attempts, last_error)
            SELECT id, topic, event_id, record_key, payload, headers, created_at_ms, sent_at_ms,
            attempts, last_error FROM herald_outbox;
        DELETE FROM sqlite_sequence WHERE name = 'herald_outbox_0002';
        INSERT INTO sqlite_sequence (name, seq)
            SELECT 'herald_outbox_0002', seq FROM sqlite_sequence WHERE name = 'herald_outbox';
        DROP TABLE herald_outbox;
        ALTER TABLE herald_outbox_0002 RENAME TO herald_outbox;
        CREATE INDEX herald_outbox_unsent ON herald_outbox (id) WHERE sent_at_ms IS NULL;
        CREATE INDEX herald_outbox_sent ON herald_outbox (sent_at_ms) WHERE sent_at_ms IS NOT NULL",
    postgres: "ALTER TABLE herald_outbox ALTER COLUMN payload DROP NOT NULL",
}];

/// Longest header name or value stored in a row (Kafka itself allows far less in practice).
pub const HEADER_BYTES_MAX: usize = 1 << 20;
/// Longest `last_error` kept for a row.
pub const LAST_ERROR_CHARS_MAX: usize = 1_000;

/// An unsent outbox row, as the relay reads it.
#[derive(Debug, Clone)]
pub(crate) struct OutboxRow {
    pub id: i64,
    pub topic: String,
    /// The record; its payload is empty when `tombstone`.
    pub record: EncodedEvent,
    /// The value is null: the record deletes its key from a compacted topic.
    pub tombstone: bool,
}

/// Reads one claimed row (columns id, topic, record_key, payload, headers) of either backend.
pub(crate) fn read_row<'r, R>(row: &'r R) -> Result<OutboxRow>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    &'r str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<Vec<u8>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let read = |e: sqlx::Error| crate::error::Error::database("read outbox row", e);
    let headers: Vec<u8> = row.try_get("headers").map_err(read)?;
    let payload: Option<Vec<u8>> = row.try_get("payload").map_err(read)?;
    Ok(OutboxRow {
        id: row.try_get("id").map_err(read)?,
        topic: row.try_get("topic").map_err(read)?,
        tombstone: payload.is_none(),
        record: EncodedEvent {
            key: row.try_get("record_key").map_err(read)?,
            payload: payload.unwrap_or_default(),
            headers: decode_headers(&headers)?,
        },
    })
}

/// Encodes headers as `[u32 name length][name][u32 value length][value]...`, big-endian lengths.
pub(crate) fn encode_headers(headers: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut blob = Vec::new();
    for (name, value) in headers {
        for part in [name.as_bytes(), value.as_slice()] {
            let length = u32::try_from(part.len())
                .ok()
                .filter(|length| (*length as usize) <= HEADER_BYTES_MAX)
                .ok_or_else(|| {
                    Error::config(
                        format!("header {name}"),
                        format!("longer than {HEADER_BYTES_MAX} bytes"),
                    )
                })?;
            blob.extend_from_slice(&length.to_be_bytes());
            blob.extend_from_slice(part);
        }
    }
    Ok(blob)
}

/// Decodes what [`encode_headers`] wrote; a damaged blob is a decode error, never a panic.
pub(crate) fn decode_headers(mut blob: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    fn take<'a>(blob: &mut &'a [u8]) -> Result<&'a [u8]> {
        let damaged = || Error::decode("outbox row headers are damaged");
        let (length, rest) = blob.split_first_chunk::<4>().ok_or_else(damaged)?;
        let length = u32::from_be_bytes(*length) as usize;
        if length > rest.len() {
            return Err(damaged());
        }
        let (part, rest) = rest.split_at(length);
        *blob = rest;
        Ok(part)
    }
    let mut headers = Vec::new();
    while !blob.is_empty() {
        let name = take(&mut blob)?;
        let value = take(&mut blob)?;
        let name = String::from_utf8(name.to_vec())
            .map_err(|_| Error::decode("outbox row header name is not UTF-8"))?;
        headers.push((name, value.to_vec()));
    }
    Ok(headers)
}

/// Cuts an error message to [`LAST_ERROR_CHARS_MAX`] characters.
pub(crate) fn last_error_text(error: &Error) -> String {
    error
        .to_string()
        .chars()
        .take(LAST_ERROR_CHARS_MAX)
        .collect()
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Headers survive the blob round trip, and truncated blobs are errors rather than panics.
    #[test]
    fn headers_round_trip_and_damage_is_detected() {
        let headers = vec![
            ("ce_id".to_owned(), b"abc".to_vec()),
            ("bin".to_owned(), vec![0, 255, 7]),
            ("empty".to_owned(), Vec::new()),
        ];
        let blob = encode_headers(&headers).unwrap_or_default();
        assert_eq!(decode_headers(&blob).ok().as_ref(), Some(&headers));
        for cut in 0..blob.len() {
            if let Ok(decoded) = decode_headers(&blob[..cut]) {
                assert!(headers.starts_with(&decoded), "cut {cut}");
            }
        }
        assert!(decode_headers(&[0, 0, 0, 9, 1]).is_err());
        assert!(
            decode_headers(&[0, 0, 0, 1, b'a']).is_err(),
            "a name without a value"
        );
    }
}
