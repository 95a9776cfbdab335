//! The users replica: its schema and the inbox handler that applies user events to it.
//!
//! Runs inside the inbox's transaction, so an event's effect and its inbox row commit together.
//! `user_created`/`user_updated` upsert the user; `user_deleted` and a tombstone (a record with a
//! null value, keyed by the user id) delete it; deleting a missing row changes nothing, so a
//! replayed delete is harmless.
//! Not here: HTTP (`http.rs`), the consumer loop (herald's runner).

use herald::consumer::{HandlerResult, Message};
use herald::db::{Migration, Transaction};
use herald::inbox::InboxHandler;
use std::collections::{HashMap, HashSet};

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

/// What one record does to the replica.
enum Change {
    Upsert(UserData),
    Delete(String),
}

/// The change `message` asks for; `None` for event types the replica ignores.
fn change(message: &Message) -> Result<Option<Change>, herald::Error> {
    let event = &message.event;
    let key = || event.key_str().map(str::to_owned);
    if event.data.is_null() {
        // A tombstone: whatever its type, the key is gone.
        return Ok(key().map(Change::Delete));
    }
    match event.event_type.as_str() {
        "user_created" | "user_updated" => Ok(Some(Change::Upsert(event.data_as()?))),
        "user_deleted" => {
            let user: UserData = event.data_as()?;
            Ok(Some(Change::Delete(user.id)))
        }
        _ => Ok(None),
    }
}

/// Deletes of users, one statement for a list of ids.
fn delete_many<'q, DB>(ids: &'q [String]) -> QueryBuilder<'q, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut query = QueryBuilder::new("DELETE FROM users WHERE id IN (");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    query.push(")");
    query
}

/// Applies user events to the `users` table (see the module comment); ignores other types.
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
        let user = match change(message)? {
            None => return Ok(()),
            Some(Change::Delete(id)) => {
                let ids = [id];
                match tx {
                    Transaction::Sqlite(tx) => {
                        delete_many::<Sqlite>(&ids)
                            .build()
                            .execute(&mut **tx)
                            .await?;
                    }
                    Transaction::Postgres(tx) => {
                        delete_many::<Postgres>(&ids)
                            .build()
                            .execute(&mut **tx)
                            .await?;
                    }
                }
                return Ok(());
            }
            Some(Change::Upsert(user)) => user,
        };
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

    /// The batch as one multi-row delete and multi-row upserts. One statement cannot touch a row
    /// twice (PostgreSQL refuses), so each user's outcome is decided first: a delete wins over
    /// what came before it in the batch, and among upserts the latest `updated_at` (the later
    /// event on a tie): exactly what applying the events one by one would leave.
    async fn process_batch(&self, tx: &mut Transaction, batch: &[Message]) -> HandlerResult {
        let mut users: Vec<Option<UserData>> = Vec::with_capacity(batch.len());
        let mut index: HashMap<String, usize> = HashMap::with_capacity(batch.len());
        let mut deleted: HashSet<String> = HashSet::new();
        for message in batch {
            match change(message)? {
                None => {}
                Some(Change::Delete(id)) => {
                    if let Some(&i) = index.get(&id) {
                        users[i] = None;
                    }
                    deleted.insert(id);
                }
                Some(Change::Upsert(user)) => match index.get(&user.id) {
                    Some(&i)
                        if users[i]
                            .as_ref()
                            .is_some_and(|u| u.updated_at > user.updated_at) => {}
                    Some(&i) => users[i] = Some(user),
                    None => {
                        index.insert(user.id.clone(), users.len());
                        users.push(Some(user));
                    }
                },
            }
        }
        // Deletes first: an id upserted after its delete in this batch is written back below.
        let deleted: Vec<String> = deleted.into_iter().collect();
        for chunk in herald::db::statement_chunks(&deleted, UPSERT_ROWS_MAX) {
            match tx {
                Transaction::Sqlite(tx) => {
                    delete_many::<Sqlite>(chunk)
                        .build()
                        .execute(&mut **tx)
                        .await?;
                }
                Transaction::Postgres(tx) => {
                    delete_many::<Postgres>(chunk)
                        .build()
                        .execute(&mut **tx)
                        .await?;
                }
            }
        }
        let users: Vec<UserData> = users.into_iter().flatten().collect();
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
