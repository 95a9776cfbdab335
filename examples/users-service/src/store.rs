//! The `users` table: schema, and the queries the HTTP handlers run (on SQLite or PostgreSQL, the
//! same SQL text with `$n` placeholders, which both accept).
//!
//! Writes take the caller's open [`Transaction`] so that the outbox row joins the same commit.
//! Not here: validation (`validate.rs`) and HTTP status mapping (`http.rs`).

use herald::db::{Database, Migration, Transaction};
use serde::{Deserialize, Serialize};

/// The users schema, applied at start-up.
pub const MIGRATIONS: &[Migration] = &[Migration {
    name: "users_0001_create",
    sqlite: "CREATE TABLE IF NOT EXISTS users (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            email TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )",
    postgres: "CREATE TABLE IF NOT EXISTS users (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            email TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )",
}];

/// Runs `$body` with `$conn` bound to the SQLite or PostgreSQL side of `$value` (a pool or a
/// transaction); the body is compiled once per backend.
macro_rules! on_backend {
    ($value:expr, $enum:ident, |$conn:ident| $body:expr) => {
        match $value {
            $enum::Sqlite($conn) => $body,
            $enum::Postgres($conn) => $body,
        }
    };
}

/// A user as stored, returned by the API and carried as the data of user events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct User {
    /// UUIDv7, assigned by the service.
    pub id: String,
    /// Display name, non-empty.
    pub name: String,
    /// Email address, lower-cased, unique.
    pub email: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
}

const COLUMNS: &str = "id, name, email, created_at, updated_at";

/// Inserts `user` inside `tx`.
pub async fn insert(tx: &mut Transaction, user: &User) -> Result<(), sqlx::Error> {
    let sql =
        "INSERT INTO users (id, name, email, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)";
    on_backend!(tx, Transaction, |tx| {
        sqlx::query(sql)
            .bind(&user.id)
            .bind(&user.name)
            .bind(&user.email)
            .bind(&user.created_at)
            .bind(&user.updated_at)
            .execute(&mut **tx)
            .await
            .map(drop)
    })
}

/// Sets the given fields and `updated_at` of user `id` inside `tx` and returns the user as it is
/// now; `None` when no such user. One UPDATE, no read before it: on SQLite the transaction takes
/// the write lock at once (waiting in the busy handler), instead of upgrading a read snapshot, which
/// fails with SQLITE_BUSY when another writer committed meanwhile.
pub async fn update_fields(
    tx: &mut Transaction,
    id: &str,
    name: Option<&str>,
    email: Option<&str>,
    updated_at: &str,
) -> Result<Option<User>, sqlx::Error> {
    let sql = format!(
        "UPDATE users SET name = COALESCE($1, name), email = COALESCE($2, email), updated_at = $3 \
         WHERE id = $4 RETURNING {COLUMNS}"
    );
    on_backend!(tx, Transaction, |tx| {
        sqlx::query_as::<_, User>(&sql)
            .bind(name)
            .bind(email)
            .bind(updated_at)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
    })
}

/// Deletes user `id` inside `tx`, returning it as it was; `None` when no such user.
pub async fn delete(tx: &mut Transaction, id: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("DELETE FROM users WHERE id = $1 RETURNING {COLUMNS}");
    on_backend!(tx, Transaction, |tx| {
        sqlx::query_as::<_, User>(&sql)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
    })
}

/// The user `id`.
pub async fn find(db: &Database, id: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    on_backend!(db, Database, |pool| {
        sqlx::query_as::<_, User>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await
    })
}

/// Up to `limit` users after `after` (by id, which is time-ordered), and the total count.
pub async fn list(db: &Database, after: &str, limit: i64) -> Result<(Vec<User>, i64), sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2");
    let count_sql = "SELECT COUNT(*) FROM users";
    on_backend!(db, Database, |pool| {
        let users = sqlx::query_as::<_, User>(&sql)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
        let count: i64 = sqlx::query_scalar(count_sql).fetch_one(pool).await?;
        Ok((users, count))
    })
}

/// Whether `error` is a unique-constraint violation (a duplicate email).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}
