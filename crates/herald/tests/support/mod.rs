//! Shared helpers for herald's consumer-side integration tests: databases (SQLite in a tempdir,
//! PostgreSQL in a throw-away schema), messages, and awaiting conditions with a deadline.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use herald::consumer::{Message, Record};
use herald::db::Database;
use herald::envelope::ReceivedEvent;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

/// The PostgreSQL every machine here has (trust auth).
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A SQLite database in a fresh tempdir (kept alive by the returned guard).
pub async fn sqlite_database() -> (Database, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("service.db").display());
    (Database::connect(&url).await.unwrap(), dir)
}

/// A PostgreSQL database confined to a new schema, so parallel tests never see each other's tables.
pub struct PgSchema {
    pub database: Database,
    pub schema: String,
}

impl PgSchema {
    pub async fn create() -> PgSchema {
        let schema = format!("herald_test_{}", Uuid::new_v4().simple());
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(POSTGRES_URL)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let options = PgConnectOptions::from_str(POSTGRES_URL)
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap();
        PgSchema {
            database: Database::Postgres(pool),
            schema,
        }
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self) {
        self.database.close().await;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(POSTGRES_URL)
            .await
            .unwrap();
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
    }
}

/// A Rails-shaped `user_created` payload with event id `id`.
pub fn rails_payload(id: Uuid, name: &str) -> Vec<u8> {
    serde_json::json!({"name": "user_created", "data": {"id": id, "user": {"name": name}}})
        .to_string()
        .into_bytes()
}

/// A decoded message as the runner would hand it to a consumer of `group`.
pub fn message(group: &str, id: Uuid, offset: i64, name: &str) -> Message {
    let payload = rails_payload(id, name);
    let event =
        ReceivedEvent::decode(Some(b"k".as_slice()), Some(&payload), std::iter::empty()).unwrap();
    Message {
        event,
        record: Record {
            topic: "user_activity".into(),
            partition: 0,
            offset,
            timestamp_ms: None,
            key: Some(b"k".to_vec()),
            payload: Some(payload),
            headers: Vec::new(),
        },
        consumer_group: Arc::from(group),
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
