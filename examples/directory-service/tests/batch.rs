//! The replica's multi-row batch upsert on real SQLite and PostgreSQL: one batch holding several
//! events of one user leaves what applying them one by one would leave.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use directory_service::{Replica, MIGRATIONS};
use herald::consumer::{Message, Record};
use herald::db::Database;
use herald::envelope::{Event, ReceivedEvent};
use herald::inbox::InboxHandler;
use serde_json::json;

const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn message(event_type: &str, id: &str, name: &str, updated_at: &str, offset: i64) -> Message {
    let data = json!({"id": id, "name": name, "email": format!("{id}@example.com"),
        "created_at": "2026-01-01T00:00:00Z", "updated_at": updated_at});
    let encoded = Event::new(event_type, &data)
        .unwrap()
        .key(id)
        .encode("test");
    let headers = encoded
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), Some(value.as_slice())));
    let event =
        ReceivedEvent::decode(encoded.key.as_deref(), Some(&encoded.payload), headers).unwrap();
    Message {
        event,
        record: Record {
            topic: "user_activity".into(),
            partition: 0,
            offset,
            timestamp_ms: None,
            key: encoded.key.clone(),
            payload: Some(encoded.payload.clone()),
            headers: encoded.headers.iter().cloned().collect(),
        },
        consumer_group: Arc::from("directory"),
    }
}

/// Applies one batch with a create, a newer update, an older update arriving last and another user;
/// checks the stored names.
async fn batch_keeps_the_latest(db: Database) {
    db.migrate(MIGRATIONS).await.unwrap();
    let batch = vec![
        message("user_created", "a", "Ada", "2026-01-01T00:00:00Z", 0),
        message("user_updated", "a", "Ada L.", "2026-01-03T00:00:00Z", 1),
        message("user_updated", "a", "stale", "2026-01-02T00:00:00Z", 2),
        message("user_created", "b", "Bob", "2026-01-01T00:00:00Z", 3),
        message("user_deleted", "b", "ignored", "2026-01-09T00:00:00Z", 4),
        message("user_updated", "b", "Bobby", "2026-01-01T00:00:00Z", 5),
    ];
    let replica = Replica::new("user_activity".into());
    let mut tx = db.begin().await.unwrap();
    replica.process_batch(&mut tx, &batch).await.unwrap();
    tx.commit().await.unwrap();
    // A second batch with an older event changes nothing.
    let mut tx = db.begin().await.unwrap();
    let old = [message(
        "user_updated",
        "a",
        "old",
        "2026-01-01T12:00:00Z",
        6,
    )];
    replica.process_batch(&mut tx, &old).await.unwrap();
    tx.commit().await.unwrap();
    let sql = "SELECT id, name FROM users ORDER BY id";
    let rows: Vec<(String, String)> = match &db {
        Database::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
        Database::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
    };
    let expected = [("a", "Ada L."), ("b", "Bobby")].map(|(i, n)| (i.to_string(), n.to_string()));
    assert_eq!(rows, expected);
    db.close().await;
}

#[tokio::test]
async fn batch_keeps_the_latest_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("d.db").display());
    batch_keeps_the_latest(directory_service::connect(&url).await.unwrap()).await;
}

#[tokio::test]
async fn batch_keeps_the_latest_postgres() {
    let name = format!("directory_batch_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(POSTGRES_ADMIN_URL).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    batch_keeps_the_latest(directory_service::connect(&url).await.unwrap()).await;
    sqlx::query(&format!("DROP DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}
