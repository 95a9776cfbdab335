//! The service's own database, as herald's inbox and outbox see it: SQLite or PostgreSQL through sqlx.
//!
//! This is deliberately small. [`Database`] is an enum over a `SqlitePool` and a `PgPool` (the pools are
//! public, so a service keeps using sqlx directly for its own queries), [`Transaction`] is the matching
//! enum over their transactions, and [`Migration`] is one versioned piece of DDL written once per backend.
//! It is not an ORM and does not hide SQL dialects: code that runs inside a herald transaction matches on
//! the backend and runs its own sqlx queries.
//!
//! ```no_run
//! # async fn demo() -> herald::Result<()> {
//! use herald::db::{Database, Transaction};
//! let db = Database::connect("sqlite://service.db").await?;
//! let mut tx = db.begin().await?;
//! match &mut tx {
//!     Transaction::Sqlite(tx) => {
//!         sqlx::query("CREATE TABLE IF NOT EXISTS t (x INTEGER)").execute(&mut **tx).await
//!             .map_err(|e| herald::Error::database("create t", e))?;
//!     }
//!     Transaction::Postgres(tx) => {
//!         sqlx::query("CREATE TABLE IF NOT EXISTS t (x BIGINT)").execute(&mut **tx).await
//!             .map_err(|e| herald::Error::database("create t", e))?;
//!     }
//! }
//! tx.commit().await?;
//! # Ok(()) }
//! ```

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};

use crate::error::{Error, Result};

/// How long a SQLite writer waits for another writer's lock before failing with SQLITE_BUSY.
/// Partition workers write concurrently; SQLite serialises them, so waiting is the normal case.
pub const SQLITE_BUSY_TIMEOUT_MS: u64 = 10_000;
/// Connections in a pool opened by [`Database::connect`].
pub const POOL_CONNECTIONS_MAX: u32 = 8;

/// Which database a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: the embedded default.
    Sqlite,
    /// PostgreSQL: the production path.
    Postgres,
}

/// A connection pool to the service's own database.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite database (`sqlite://path.db`, `sqlite::memory:`).
    Sqlite(SqlitePool),
    /// A PostgreSQL database (`postgres://user@host:port/db`).
    Postgres(PgPool),
}

/// An open transaction on a [`Database`]; dropped without [`Transaction::commit`] it rolls back.
#[derive(Debug)]
pub enum Transaction {
    /// A SQLite transaction; run queries with `.execute(&mut **tx)`.
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    /// A PostgreSQL transaction; run queries with `.execute(&mut **tx)`.
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// One versioned schema change, written once per backend. Applied at most once per database, in order,
/// and recorded in `herald_migrations`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Unique, stable name, e.g. `inbox_0001_create`.
    pub name: &'static str,
    /// DDL for SQLite (may hold several `;`-separated statements).
    pub sqlite: &'static str,
    /// DDL for PostgreSQL (may hold several `;`-separated statements).
    pub postgres: &'static str,
}

impl Database {
    /// Opens a pool for `url`: `sqlite:` URLs (the file is created if missing, WAL journal) or
    /// `postgres:`/`postgresql:` URLs.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with_sqlite_pragmas(url, &[]).await
    }

    /// As [`Database::connect`], with extra `PRAGMA`s on every SQLite connection (e.g. a larger
    /// `cache_size` or a rarer `wal_autocheckpoint` for a service that replays millions of events);
    /// ignored on PostgreSQL.
    pub async fn connect_with_sqlite_pragmas(
        url: &str,
        pragmas: &[(&'static str, String)],
    ) -> Result<Self> {
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| Error::config("database url", e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(POOL_CONNECTIONS_MAX)
                .connect_with(options)
                .await
                .map_err(db("connect"))?;
            return Ok(Database::Postgres(pool));
        }
        // WAL lets readers run beside the one writer. synchronous=FULL fsyncs the WAL at every commit:
        // with NORMAL a power loss can take back the last commits after the runner committed their
        // Kafka offsets (an inbox effect lost for good) or after a 201 was answered (an outbox event
        // lost). A service that accepts that trade passes ("synchronous", "NORMAL") as a pragma.
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::config("database url", e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS));
        let options = pragmas.iter().fold(options, |options, (name, value)| {
            options.pragma(*name, value.clone())
        });
        // An in-memory database exists once per connection: keep exactly one.
        let connections = if url.contains(":memory:") || url.contains("mode=memory") {
            1
        } else {
            POOL_CONNECTIONS_MAX
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(connections)
            .connect_with(options)
            .await
            .map_err(db("connect"))?;
        Ok(Database::Sqlite(pool))
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite(_) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }

    /// Begins a transaction.
    pub async fn begin(&self) -> Result<Transaction> {
        Ok(match self {
            Database::Sqlite(pool) => Transaction::Sqlite(pool.begin().await.map_err(db("begin"))?),
            Database::Postgres(pool) => {
                Transaction::Postgres(pool.begin().await.map_err(db("begin"))?)
            }
        })
    }

    /// Applies the `migrations` not yet recorded in `herald_migrations`, each in its own transaction.
    pub async fn migrate(&self, migrations: &[Migration]) -> Result<()> {
        self.execute_script(
            "CREATE TABLE IF NOT EXISTS herald_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .await?;
        for migration in migrations {
            let mut tx = self.begin().await?;
            let now = chrono::Utc::now().to_rfc3339();
            let inserted = match &mut tx {
                Transaction::Sqlite(tx) => {
                    sqlx::query("INSERT INTO herald_migrations (name, applied_at) VALUES (?, ?) ON CONFLICT DO NOTHING")
                        .bind(migration.name)
                        .bind(&now)
                        .execute(&mut **tx)
                        .await
                        .map_err(db("record migration"))?
                        .rows_affected()
                }
                Transaction::Postgres(tx) => {
                    sqlx::query("INSERT INTO herald_migrations (name, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                        .bind(migration.name)
                        .bind(&now)
                        .execute(&mut **tx)
                        .await
                        .map_err(db("record migration"))?
                        .rows_affected()
                }
            };
            if inserted == 0 {
                continue; // applied before
            }
            tx.execute_script(match self.backend() {
                Backend::Sqlite => migration.sqlite,
                Backend::Postgres => migration.postgres,
            })
            .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Runs `;`-separated statements outside a transaction.
    pub async fn execute_script(&self, script: &str) -> Result<()> {
        for statement in statements(script) {
            match self {
                Database::Sqlite(pool) => {
                    sqlx::query(statement)
                        .execute(pool)
                        .await
                        .map_err(db("execute script"))?;
                }
                Database::Postgres(pool) => {
                    sqlx::query(statement)
                        .execute(pool)
                        .await
                        .map_err(db("execute script"))?;
                }
            }
        }
        Ok(())
    }

    /// Closes every connection of the pool.
    pub async fn close(&self) {
        match self {
            Database::Sqlite(pool) => pool.close().await,
            Database::Postgres(pool) => pool.close().await,
        }
    }
}

impl Transaction {
    /// Which backend this transaction runs on.
    pub fn backend(&self) -> Backend {
        match self {
            Transaction::Sqlite(_) => Backend::Sqlite,
            Transaction::Postgres(_) => Backend::Postgres,
        }
    }

    /// Commits the transaction.
    pub async fn commit(self) -> Result<()> {
        match self {
            Transaction::Sqlite(tx) => tx.commit().await.map_err(db("commit"))?,
            Transaction::Postgres(tx) => tx.commit().await.map_err(db("commit"))?,
        }
        Ok(())
    }

    /// Rolls the transaction back.
    pub async fn rollback(self) -> Result<()> {
        match self {
            Transaction::Sqlite(tx) => tx.rollback().await.map_err(db("rollback"))?,
            Transaction::Postgres(tx) => tx.rollback().await.map_err(db("rollback"))?,
        }
        Ok(())
    }

    /// Runs `;`-separated statements inside this transaction.
    pub async fn execute_script(&mut self, script: &str) -> Result<()> {
        for statement in statements(script) {
            match self {
                Transaction::Sqlite(tx) => {
                    sqlx::query(statement)
                        .execute(&mut **tx)
                        .await
                        .map_err(db("execute script"))?;
                }
                Transaction::Postgres(tx) => {
                    sqlx::query(statement)
                        .execute(&mut **tx)
                        .await
                        .map_err(db("execute script"))?;
                }
            }
        }
        Ok(())
    }
}

/// Maps a sqlx error to [`Error::Database`] for `operation`.
pub(crate) fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::database(operation, source)
}

/// Cuts `rows` into chunks for multi-row statements (`INSERT ... VALUES (...), (...)`): chunks of
/// `max_rows`, then the rest in powers of two, largest first.
///
/// sqlx prepares and caches one statement per distinct SQL text, per connection. Cutting batches
/// of any length into at most `1 + log2(max_rows)` sizes keeps every statement a cache hit; plain
/// `rows.chunks(n)` makes a new statement for every new length of the last chunk, and preparing
/// one with thousands of bind variables costs milliseconds. Choose `max_rows` so that rows times
/// bind variables per row stays under the backend's limit (SQLite: 32,766; PostgreSQL: 65,535).
pub fn statement_chunks<T>(mut rows: &[T], max_rows: usize) -> Vec<&[T]> {
    let max_rows = max_rows.max(1);
    let mut chunks = Vec::new();
    while !rows.is_empty() {
        let size = if rows.len() >= max_rows {
            max_rows
        } else {
            // The largest power of two not above what is left.
            1 << rows.len().ilog2()
        };
        let (chunk, rest) = rows.split_at(size);
        chunks.push(chunk);
        rows = rest;
    }
    chunks
}

/// Splits a DDL script on `;` (herald's migrations hold no `;` inside literals).
fn statements(script: &str) -> impl Iterator<Item = &str> {
    script.split(';').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_chunks_use_few_sizes_and_keep_every_row() {
        // Proves batches of any length are cut into max_rows and powers of two below it, in
        // order and without losing or repeating a row.
        let mut sizes = std::collections::BTreeSet::new();
        for len in 0..2100 {
            let rows: Vec<usize> = (0..len).collect();
            let chunks = statement_chunks(&rows, 1000);
            assert_eq!(chunks.concat(), rows);
            assert!(chunks.iter().all(|c| !c.is_empty() && c.len() <= 1000));
            sizes.extend(chunks.iter().map(|c| c.len()));
        }
        let powers: Vec<usize> = (0..10).map(|p| 1 << p).collect();
        assert_eq!(
            sizes
                .iter()
                .copied()
                .filter(|&s| s != 1000)
                .collect::<Vec<_>>(),
            powers
        );
        assert!(sizes.contains(&1000));
        assert_eq!(statement_chunks(&[1, 2, 3], 0).len(), 3);
    }

    #[test]
    fn statements_skip_blank_pieces() {
        // Proves that a script splits into its statements and ignores trailing separators and blanks.
        let got: Vec<&str> =
            statements("CREATE TABLE a (x INT);\n ;CREATE INDEX i ON a (x);\n").collect();
        assert_eq!(
            got,
            vec!["CREATE TABLE a (x INT)", "CREATE INDEX i ON a (x)"]
        );
    }
}
