//! The inbox: exactly-once *effects* on the service's own database, on top of at-least-once delivery.
//!
//! Kafka may deliver an event twice (a consumer dies after its database commit and before its offset
//! commit; a rebalance moves a partition mid-batch). The inbox records each event id in the table
//! `herald_inbox (consumer_group, event_id)` *in the same database transaction* as the handler's writes.
//! A redelivered event conflicts on that key: herald rolls back, counts a duplicate and skips it. The
//! runner commits the Kafka offset only after the transaction committed, so an effect is never lost
//! either. In batch mode one transaction covers the whole batch.
//!
//! Use it by implementing [`InboxHandler`] (like [`Consumer`], but `process` receives the open
//! [`Transaction`]) and running [`InboxConsumer::new(inbox, handler)`](InboxConsumer::new). Rows older
//! than the retention (default 7 days) are deleted as processing goes on; choose a retention longer
//! than any redelivery you expect (a replay from the beginning of a topic *is* expected to re-run
//! effects only if its group id is new, since rows are per group).
//!
//! Not here: the outbox (the producer-side mirror image, [`crate::outbox`]).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder, Sqlite};

use crate::consumer::{Consumer, HandlerResult, Message, TopicPartition};
use crate::db::{db, statement_chunks, Database, Migration, Transaction};
use crate::error::{Error, Result};
use crate::middleware::retry_topic::RetryStrategy;

/// Default time an event id is remembered.
pub const RETENTION_DEFAULT: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often expired rows are deleted, at most.
pub const EXPIRY_INTERVAL: Duration = Duration::from_secs(60);
/// Rows per multi-row INSERT in batch mode (6 bind variables each; SQLite allows 32,766).
pub const INSERT_ROWS_MAX: usize = 1_000;

/// The inbox schema.
pub const MIGRATIONS: &[Migration] = &[Migration {
    name: "herald_inbox_0001_create",
    sqlite: "CREATE TABLE IF NOT EXISTS herald_inbox (
            consumer_group TEXT NOT NULL,
            event_id TEXT NOT NULL,
            kafka_topic TEXT NOT NULL,
            kafka_partition INTEGER NOT NULL,
            kafka_offset INTEGER NOT NULL,
            received_at_ms INTEGER NOT NULL,
            PRIMARY KEY (consumer_group, event_id)
        );
        CREATE INDEX IF NOT EXISTS herald_inbox_received_at ON herald_inbox (consumer_group, received_at_ms)",
    postgres: "CREATE TABLE IF NOT EXISTS herald_inbox (
            consumer_group TEXT NOT NULL,
            event_id TEXT NOT NULL,
            kafka_topic TEXT NOT NULL,
            kafka_partition INTEGER NOT NULL,
            kafka_offset BIGINT NOT NULL,
            received_at_ms BIGINT NOT NULL,
            PRIMARY KEY (consumer_group, event_id)
        );
        CREATE INDEX IF NOT EXISTS herald_inbox_received_at ON herald_inbox (consumer_group, received_at_ms)",
}];

/// The inbox table of one database.
#[derive(Debug)]
pub struct Inbox {
    db: Database,
    retention: Duration,
    last_expiry: Mutex<Option<Instant>>,
    duplicates: AtomicU64,
    /// SQLite allows one writer at a time; partition workers queue here instead of spinning in
    /// SQLite's busy handler (which sleeps in growing steps and wastes most of the time).
    sqlite_writer: tokio::sync::Mutex<()>,
}

impl Inbox {
    /// Opens the inbox on `db`, creating its table if needed.
    pub async fn new(db: Database) -> Result<Self> {
        db.migrate(MIGRATIONS).await?;
        Ok(Inbox {
            db,
            retention: RETENTION_DEFAULT,
            last_expiry: Mutex::new(None),
            duplicates: AtomicU64::new(0),
            sqlite_writer: tokio::sync::Mutex::new(()),
        })
    }

    /// Sets how long event ids are remembered.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// The database the inbox lives in.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Duplicates skipped since this inbox was opened.
    pub fn duplicates_skipped(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// Records `message`'s event id in `tx`. `true`: first time, go ahead; `false`: a duplicate.
    pub async fn record(&self, tx: &mut Transaction, message: &Message) -> Result<bool> {
        let now = now_ms();
        let id = message.event.id.to_string();
        let rows = match tx {
            Transaction::Sqlite(tx) => sqlx::query(
                "INSERT INTO herald_inbox (consumer_group, event_id, kafka_topic, kafka_partition, kafka_offset, received_at_ms) \
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(&*message.consumer_group)
            .bind(&id)
            .bind(message.topic())
            .bind(message.partition())
            .bind(message.offset())
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(db("insert inbox row"))?
            .rows_affected(),
            Transaction::Postgres(tx) => sqlx::query(
                "INSERT INTO herald_inbox (consumer_group, event_id, kafka_topic, kafka_partition, kafka_offset, received_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(&*message.consumer_group)
            .bind(&id)
            .bind(message.topic())
            .bind(message.partition())
            .bind(message.offset())
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(db("insert inbox row"))?
            .rows_affected(),
        };
        Ok(rows == 1)
    }

    /// Records every event id of `batch` in `tx` and returns the indexes of the messages seen for the
    /// first time (a duplicate inside the batch counts once).
    ///
    /// The usual case, no id recorded before, costs one multi-row `INSERT ... ON CONFLICT DO NOTHING`
    /// per chunk inside a savepoint. If an insert comes up short, some ids were recorded before: the
    /// savepoint is rolled back and [`record_batch_checked`](Self::record_batch_checked) looks the ids
    /// up first and inserts only the fresh ones.
    pub async fn record_batch(
        &self,
        tx: &mut Transaction,
        batch: &[Message],
    ) -> Result<Vec<usize>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let ids = EventIds::of(batch);
        let mut seen: HashSet<&str> = HashSet::with_capacity(batch.len());
        let fresh: Vec<usize> = (0..batch.len())
            .filter(|&i| seen.insert(ids.get(i)))
            .collect();
        tx.execute_script("SAVEPOINT herald_inbox_batch").await?;
        let now = now_ms();
        let mut complete = true;
        for chunk in statement_chunks(&fresh, INSERT_ROWS_MAX) {
            let rows: Vec<(&Message, &str)> =
                chunk.iter().map(|&i| (&batch[i], ids.get(i))).collect();
            if insert_rows(tx, &rows, now).await? != rows.len() as u64 {
                complete = false;
                break;
            }
        }
        if complete {
            tx.execute_script("RELEASE herald_inbox_batch").await?;
            return Ok(fresh);
        }
        tx.execute_script("ROLLBACK TO herald_inbox_batch; RELEASE herald_inbox_batch")
            .await?;
        self.record_batch_checked(tx, batch, &ids).await
    }

    /// [`record_batch`](Self::record_batch) when some ids may be recorded already: a `SELECT` of
    /// those ids, then one multi-row `INSERT` of the rest per chunk. If another transaction recorded
    /// one of them in between (two members briefly processing the same partition during a
    /// rebalance), the insert comes up short and this returns an error, so the batch is retried and
    /// then sees the id as a duplicate.
    async fn record_batch_checked(
        &self,
        tx: &mut Transaction,
        batch: &[Message],
        ids: &EventIds,
    ) -> Result<Vec<usize>> {
        let Some(first) = batch.first() else {
            return Ok(Vec::new());
        };
        let group: &str = &first.consumer_group;
        let all: Vec<&str> = (0..batch.len()).map(|i| ids.get(i)).collect();
        let mut recorded: HashSet<String> = HashSet::new();
        for chunk in statement_chunks(&all, INSERT_ROWS_MAX) {
            let found = match tx {
                Transaction::Sqlite(tx) => {
                    select_recorded::<Sqlite>(group, chunk)
                        .build_query_scalar::<String>()
                        .fetch_all(&mut **tx)
                        .await
                }
                Transaction::Postgres(tx) => {
                    select_recorded::<Postgres>(group, chunk)
                        .build_query_scalar::<String>()
                        .fetch_all(&mut **tx)
                        .await
                }
            };
            recorded.extend(found.map_err(db("look up inbox rows"))?);
        }
        let mut seen: HashSet<&str> = HashSet::with_capacity(batch.len());
        let fresh: Vec<usize> = (0..batch.len())
            .filter(|&i| !recorded.contains(all[i]) && seen.insert(all[i]))
            .collect();
        let now = now_ms();
        for chunk in statement_chunks(&fresh, INSERT_ROWS_MAX) {
            let rows: Vec<(&Message, &str)> = chunk.iter().map(|&i| (&batch[i], all[i])).collect();
            let inserted = insert_rows(tx, &rows, now).await?;
            if inserted != rows.len() as u64 {
                let reason = format!(
                    "{inserted} of {} inbox rows inserted: recorded concurrently",
                    rows.len()
                );
                return Err(Error::database(
                    "insert inbox rows",
                    sqlx::Error::Protocol(reason),
                ));
            }
        }
        Ok(fresh)
    }

    /// Whether `event_id` was recorded for `consumer_group`.
    pub async fn contains(&self, consumer_group: &str, event_id: uuid::Uuid) -> Result<bool> {
        let id = event_id.to_string();
        let found = match &self.db {
            Database::Sqlite(pool) => {
                sqlx::query("SELECT 1 FROM herald_inbox WHERE consumer_group = ? AND event_id = ?")
                    .bind(consumer_group)
                    .bind(&id)
                    .fetch_optional(pool)
                    .await
                    .map(|row| row.is_some())
            }
            Database::Postgres(pool) => sqlx::query(
                "SELECT 1 FROM herald_inbox WHERE consumer_group = $1 AND event_id = $2",
            )
            .bind(consumer_group)
            .bind(&id)
            .fetch_optional(pool)
            .await
            .map(|row| row.is_some()),
        };
        found.map_err(db("look up inbox row"))
    }

    /// Deletes `consumer_group`'s rows older than the retention; returns how many went.
    pub async fn expire(&self, consumer_group: &str) -> Result<u64> {
        let cutoff = now_ms() - i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX / 2);
        let result = match &self.db {
            Database::Sqlite(pool) => sqlx::query(
                "DELETE FROM herald_inbox WHERE consumer_group = ? AND received_at_ms < ?",
            )
            .bind(consumer_group)
            .bind(cutoff)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
            Database::Postgres(pool) => sqlx::query(
                "DELETE FROM herald_inbox WHERE consumer_group = $1 AND received_at_ms < $2",
            )
            .bind(consumer_group)
            .bind(cutoff)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
        };
        result.map_err(db("expire inbox rows"))
    }

    /// Runs [`expire`](Inbox::expire) if [`EXPIRY_INTERVAL`] passed since the last run.
    async fn expire_if_due(&self, consumer_group: &str) {
        {
            let mut last = self.last_expiry.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < EXPIRY_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        match self.expire(consumer_group).await {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(consumer_group, deleted, "expired inbox rows"),
            Err(error) => tracing::warn!(consumer_group, %error, "inbox expiry failed"),
        }
    }

    /// Serialises this process's SQLite write transactions (a no-op guard on PostgreSQL).
    async fn writer(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.db {
            Database::Sqlite(_) => Some(self.sqlite_writer.lock().await),
            Database::Postgres(_) => None,
        }
    }

    fn count_duplicates(&self, message: &Message, count: u64) {
        if count > 0 {
            self.duplicates.fetch_add(count, Ordering::Relaxed);
            crate::metrics::duplicates_skipped(&message.consumer_group, message.topic(), count);
        }
    }
}

/// The hyphenated event ids of a batch, in one buffer (one allocation, not one per event).
struct EventIds {
    text: String,
}

impl EventIds {
    const LEN: usize = uuid::fmt::Hyphenated::LENGTH;

    fn of(batch: &[Message]) -> Self {
        let mut text = String::with_capacity(batch.len() * Self::LEN);
        let mut buffer = [0u8; Self::LEN];
        for message in batch {
            text.push_str(message.event.id.hyphenated().encode_lower(&mut buffer));
        }
        EventIds { text }
    }

    /// The id of the batch's `index`th message.
    fn get(&self, index: usize) -> &str {
        &self.text[index * Self::LEN..(index + 1) * Self::LEN]
    }
}

/// Inserts inbox rows, skipping ids recorded before; returns how many were inserted.
async fn insert_rows(tx: &mut Transaction, rows: &[(&Message, &str)], now: i64) -> Result<u64> {
    match tx {
        Transaction::Sqlite(tx) => insert_many::<Sqlite>(rows, now)
            .build()
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected()),
        Transaction::Postgres(tx) => insert_many::<Postgres>(rows, now)
            .build()
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected()),
    }
    .map_err(db("insert inbox rows"))
}

/// `SELECT event_id ... WHERE consumer_group = ? AND event_id IN (...)` for a chunk of ids.
fn select_recorded<'a, DB>(group: &'a str, ids: &[&'a str]) -> QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut query = QueryBuilder::new("SELECT event_id FROM herald_inbox WHERE consumer_group = ");
    query.push_bind(group).push(" AND event_id IN (");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(")");
    query
}

/// `INSERT ... VALUES (...), (...) ON CONFLICT DO NOTHING` for a chunk of (message, event id).
fn insert_many<'a, DB>(rows: &[(&'a Message, &'a str)], now: i64) -> QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i32: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut query = QueryBuilder::new(
        "INSERT INTO herald_inbox (consumer_group, event_id, kafka_topic, kafka_partition, kafka_offset, received_at_ms) ",
    );
    query.push_values(rows.iter().copied(), |mut row, (message, id)| {
        row.push_bind(&*message.consumer_group)
            .push_bind(id)
            .push_bind(message.topic())
            .push_bind(message.partition())
            .push_bind(message.offset())
            .push_bind(now);
    });
    query.push(" ON CONFLICT DO NOTHING");
    query
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A handler whose writes go into the inbox's transaction; wrap it in [`InboxConsumer`].
#[async_trait]
pub trait InboxHandler: Send + Sync + 'static {
    /// Topics to subscribe to.
    fn subscribes_to(&self) -> Vec<String>;

    /// Applies one event inside `tx`. `Err` rolls the whole transaction back (inbox row included).
    async fn process(&self, tx: &mut Transaction, message: &Message) -> HandlerResult;

    /// Applies a batch of first-seen events inside one transaction (used when `batch_size > 1`).
    async fn process_batch(&self, tx: &mut Transaction, batch: &[Message]) -> HandlerResult {
        for message in batch {
            self.process(tx, message).await?;
        }
        Ok(())
    }

    /// Name for logs, metrics and the default group id.
    fn name(&self) -> String {
        let full = std::any::type_name::<Self>();
        full.rsplit("::").next().unwrap_or(full).to_string()
    }

    /// Group id override, as [`Consumer::group_id`].
    fn group_id(&self) -> Option<String> {
        None
    }

    /// Retry strategy override, as [`Consumer::retry_strategy`].
    fn retry_strategy(&self) -> Option<RetryStrategy> {
        None
    }
}

/// Turns an [`InboxHandler`] into a [`Consumer`] with exactly-once effects.
pub struct InboxConsumer<H> {
    inbox: Arc<Inbox>,
    handler: H,
}

impl<H: InboxHandler> InboxConsumer<H> {
    /// Wraps `handler`; several consumers may share one inbox (rows are keyed by group).
    pub fn new(inbox: Arc<Inbox>, handler: H) -> Self {
        InboxConsumer { inbox, handler }
    }

    /// The inbox.
    pub fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }
}

#[async_trait]
impl<H: InboxHandler> Consumer for InboxConsumer<H> {
    fn subscribes_to(&self) -> Vec<String> {
        self.handler.subscribes_to()
    }

    async fn process(&self, message: &Message) -> HandlerResult {
        self.inbox.expire_if_due(&message.consumer_group).await;
        let _writer = self.inbox.writer().await;
        let mut tx = self.inbox.db.begin().await?;
        if !self.inbox.record(&mut tx, message).await? {
            tx.rollback().await?;
            self.inbox.count_duplicates(message, 1);
            tracing::debug!(event_id = %message.event.id, "duplicate event skipped");
            return Ok(());
        }
        self.handler.process(&mut tx, message).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn process_batch(&self, batch: &[Message]) -> HandlerResult {
        let Some(first) = batch.first() else {
            return Ok(());
        };
        self.inbox.expire_if_due(&first.consumer_group).await;
        let _writer = self.inbox.writer().await;
        let mut tx = self.inbox.db.begin().await?;
        let fresh = self.inbox.record_batch(&mut tx, batch).await?;
        let duplicates = (batch.len() - fresh.len()) as u64;
        if fresh.len() == batch.len() {
            self.handler.process_batch(&mut tx, batch).await?;
        } else if !fresh.is_empty() {
            let fresh: Vec<Message> = fresh
                .iter()
                .filter_map(|&i| batch.get(i).cloned())
                .collect();
            self.handler.process_batch(&mut tx, &fresh).await?;
        }
        tx.commit().await?;
        self.inbox.count_duplicates(first, duplicates);
        Ok(())
    }

    fn name(&self) -> String {
        self.handler.name()
    }

    fn group_id(&self) -> Option<String> {
        self.handler.group_id()
    }

    fn retry_strategy(&self) -> Option<RetryStrategy> {
        self.handler.retry_strategy()
    }

    async fn on_partitions_assigned(&self, _partitions: &[TopicPartition]) {}
}
