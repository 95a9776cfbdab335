//! The users replica: its schema and the inbox handler that applies user events to it.
//!
//! Runs inside the inbox's transaction, so an event's effect and its inbox row commit together.
//! Not here: HTTP (`http.rs`), the consumer loop (herald's runner).

use herald::consumer::{HandlerResult, Message};
use herald::db::{Migration, Transaction};
use herald::inbox::InboxHandler;
use serde::Deserialize;

/// The replica schema. `replicated_at_ms` is when this service applied the latest event (for
/// end-to-end latency figures); it is not part of the user.
pub const MIGRATIONS: &[Migration] = &[Migration {
    name: "directory_0001_users",
    sqlite: "CREATE TABLE IF NOT EXISTS users (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            email TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            replicated_at_ms INTEGER NOT NULL
        )",
    postgres: "CREATE TABLE IF NOT EXISTS users (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            email TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            replicated_at_ms BIGINT NOT NULL
        )",
}];

/// A later or equal `updated_at` wins, so an old event replayed after a newer one changes nothing.
const UPSERT: &str = "INSERT INTO users (id, name, email, created_at, updated_at, replicated_at_ms)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email,
        updated_at = excluded.updated_at, replicated_at_ms = excluded.replicated_at_ms
    WHERE excluded.updated_at >= users.updated_at";

/// The user as the users service publishes it.
#[derive(Debug, Deserialize)]
struct UserData {
    id: String,
    name: String,
    email: String,
    created_at: String,
    updated_at: String,
}

/// Applies `user_created` and `user_updated` events to the `users` table; ignores other types.
#[derive(Debug, Clone)]
pub struct Replica {
    topic: String,
}

impl Replica {
    /// A replica fed from `topic`.
    pub fn new(topic: String) -> Self {
        Replica { topic }
    }
}

#[async_trait::async_trait]
impl InboxHandler for Replica {
    fn subscribes_to(&self) -> Vec<String> {
        vec![self.topic.clone()]
    }

    async fn process(&self, tx: &mut Transaction, message: &Message) -> HandlerResult {
        if !matches!(
            message.event.event_type.as_str(),
            "user_created" | "user_updated"
        ) {
            return Ok(());
        }
        let user: UserData = message.event.data_as()?;
        let now = chrono::Utc::now().timestamp_millis();
        match tx {
            Transaction::Sqlite(tx) => {
                bind(sqlx::query(UPSERT), &user, now)
                    .execute(&mut **tx)
                    .await?;
            }
            Transaction::Postgres(tx) => {
                bind(sqlx::query(UPSERT), &user, now)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }

    fn name(&self) -> String {
        "directory".into()
    }
}

fn bind<'q, DB>(
    query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    user: &'q UserData,
    now: i64,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(&user.id)
        .bind(&user.name)
        .bind(&user.email)
        .bind(&user.created_at)
        .bind(&user.updated_at)
        .bind(now)
}
