//! The users replica: its schema and the inbox handler that applies user events to it.
//!
//! Runs inside the inbox's transaction, so an event's effect and its inbox row commit together.
//! Not here: HTTP (`http.rs`), the consumer loop (herald's runner).

use herald::consumer::{HandlerResult, Message};
use herald::db::{Migration, Transaction};
use herald::inbox::InboxHandler;
use std::collections::HashMap;

use serde::Deserialize;
use sqlx::{Postgres, QueryBuilder, Sqlite};

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

/// The head of every upsert of `users`; a `VALUES` list follows.
macro_rules! upsert_head {
    () => {
        "INSERT INTO users (id, name, email, created_at, updated_at, replicated_at_ms) "
    };
}
/// The tail of every upsert: a later or equal `updated_at` wins, so an old event replayed after a
/// newer one changes nothing.
macro_rules! upsert_tail {
    () => {
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email,
        updated_at = excluded.updated_at, replicated_at_ms = excluded.replicated_at_ms
        WHERE excluded.updated_at >= users.updated_at"
    };
}
/// One user's upsert.
const UPSERT: &str = concat!(
    upsert_head!(),
    "VALUES ($1, $2, $3, $4, $5, $6)",
    upsert_tail!()
);
/// Users per multi-row upsert (6 bind variables each: well under SQLite's and PostgreSQL's limits).
pub const UPSERT_ROWS_MAX: usize = 1_000;

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

    /// The batch as multi-row upserts. One statement cannot touch a row twice (PostgreSQL refuses),
    /// so each user's winning event is picked first: the latest `updated_at`, the later event on a
    /// tie, exactly what applying the events one by one with [`UPSERT`] would leave.
    async fn process_batch(&self, tx: &mut Transaction, batch: &[Message]) -> HandlerResult {
        let mut users: Vec<UserData> = Vec::with_capacity(batch.len());
        let mut index: HashMap<String, usize> = HashMap::with_capacity(batch.len());
        for message in batch {
            if !matches!(
                message.event.event_type.as_str(),
                "user_created" | "user_updated"
            ) {
                continue;
            }
            let user: UserData = message.event.data_as()?;
            match index.get(&user.id) {
                Some(&i) if users[i].updated_at > user.updated_at => {}
                Some(&i) => users[i] = user,
                None => {
                    index.insert(user.id.clone(), users.len());
                    users.push(user);
                }
            }
        }
        let now = chrono::Utc::now().timestamp_millis();
        for chunk in herald::db::statement_chunks(&users, UPSERT_ROWS_MAX) {
            match tx {
                Transaction::Sqlite(tx) => {
                    upsert_many::<Sqlite>(chunk, now)
                        .build()
                        .execute(&mut **tx)
                        .await?;
                }
                Transaction::Postgres(tx) => {
                    upsert_many::<Postgres>(chunk, now)
                        .build()
                        .execute(&mut **tx)
                        .await?;
                }
            }
        }
        Ok(())
    }

    fn name(&self) -> String {
        "directory".into()
    }
}

/// One multi-row upsert of `users` (distinct ids).
fn upsert_many<'q, DB>(users: &'q [UserData], now: i64) -> QueryBuilder<'q, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut query = QueryBuilder::new(upsert_head!());
    query.push_values(users, |mut row, user| {
        row.push_bind(&user.id)
            .push_bind(&user.name)
            .push_bind(&user.email)
            .push_bind(&user.created_at)
            .push_bind(&user.updated_at)
            .push_bind(now);
    });
    query.push(upsert_tail!());
    query
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
