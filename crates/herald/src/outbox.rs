//! The transactional outbox: an event is written in the same database transaction as the business
//! row, and a relay publishes it afterwards.
//!
//! [`Outbox::enqueue`] inserts the encoded event into the `herald_outbox` table inside the
//! service's own transaction: if the transaction rolls back, the event never existed; if it
//! commits, the event will be published, however long the broker is away. A [`Relay`] publishes
//! committed rows in id order with an idempotent producer that never gives up, marks them sent, and
//! prunes them later. On PostgreSQL several relays may run at once (`FOR UPDATE SKIP LOCKED`,
//! woken by `LISTEN/NOTIFY`); on SQLite run one relay per database (it polls on a short interval).
//! A relay made by [`Outbox::relay`] is also woken in-process by [`Outbox::committed`], so an event
//! leaves right after its transaction commits. [`Outbox::enqueue_tombstone`] writes a record with
//! a null value (Kafka's delete marker on a compacted topic).
//!
//! Guarantees: every committed event is published at least once (a relay that stops between the
//! broker's ack and the row's update publishes that row again; the [inbox](crate::inbox) makes the
//! duplicate harmless), and events with the same topic and key are published in the order their
//! rows were inserted. A broker outage delays events; it never loses them nor fails the request.
//!
//! ```no_run
//! # async fn demo() -> herald::Result<()> {
//! use herald::db::Database;
//! use herald::envelope::Event;
//! use herald::outbox::{Outbox, RelayConfig};
//! use herald::producer::ProducerConfig;
//!
//! let db = Database::connect("sqlite://users.db").await?;
//! let outbox = Outbox::new(db.clone()).await?.source("users-service");
//! let relay = outbox.relay(ProducerConfig::new("127.0.0.1:9092"), RelayConfig::default())?.spawn();
//!
//! let mut tx = db.begin().await?;
//! // ... insert the user with sqlx in `tx` ...
//! let event = Event::new("user_created", &serde_json::json!({"id": 7}))?.key(7);
//! outbox.enqueue(&mut tx, "user_activity", &event).await?;
//! tx.commit().await?;
//! outbox.committed(); // wakes the relay now rather than at its next poll
//!
//! relay.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! Not here: publishing without a database ([`crate::producer`]).

mod postgres;
mod relay;
mod schema;
mod sqlite;

use std::sync::Arc;

use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection};
use tokio::sync::Notify;

pub use postgres::NOTIFY_CHANNEL;
pub use relay::{
    Relay, RelayConfig, RelayHandle, RoundOutcome, ATTEMPTS_MAX_DEFAULT, BATCH_ROWS_DEFAULT,
    ERROR_BACKOFF_MS, LISTEN_FALLBACK_MS_DEFAULT, POLL_INTERVAL_MS_DEFAULT, PRUNE_AFTER_MS_DEFAULT,
    PRUNE_INTERVAL_MS_DEFAULT, PUBLISHED_TOTAL,
};
pub use schema::{HEADER_BYTES_MAX, LAST_ERROR_CHARS_MAX, MIGRATIONS};

use crate::db::{db, Database, Transaction};
use crate::envelope::{default_source, Event};
use crate::error::Result;
use crate::producer::ProducerConfig;

/// A borrowed open transaction to write outbox rows in: herald's [`Transaction`], or a plain
/// sqlx transaction on SQLite or PostgreSQL.
#[derive(Debug)]
pub enum OutboxTx<'a> {
    /// A SQLite connection inside a transaction.
    Sqlite(&'a mut SqliteConnection),
    /// A PostgreSQL connection inside a transaction.
    Postgres(&'a mut PgConnection),
}

impl<'a> From<&'a mut Transaction> for OutboxTx<'a> {
    fn from(tx: &'a mut Transaction) -> Self {
        match tx {
            Transaction::Sqlite(tx) => OutboxTx::Sqlite(tx),
            Transaction::Postgres(tx) => OutboxTx::Postgres(tx),
        }
    }
}

impl<'a, 'c> From<&'a mut sqlx::Transaction<'c, Sqlite>> for OutboxTx<'a> {
    fn from(tx: &'a mut sqlx::Transaction<'c, Sqlite>) -> Self {
        OutboxTx::Sqlite(tx)
    }
}

impl<'a, 'c> From<&'a mut sqlx::Transaction<'c, Postgres>> for OutboxTx<'a> {
    fn from(tx: &'a mut sqlx::Transaction<'c, Postgres>) -> Self {
        OutboxTx::Postgres(tx)
    }
}

/// `ce_type` of the tombstones written by [`Outbox::enqueue_tombstone`].
pub const TOMBSTONE_EVENT_TYPE: &str = "tombstone";

/// The outbox table of one database.
#[derive(Debug, Clone)]
pub struct Outbox {
    db: Database,
    source: String,
    /// Shared with the relays made by [`Outbox::relay`]: [`Outbox::committed`] wakes one at once.
    wake: Arc<Notify>,
}

impl Outbox {
    /// Opens the outbox in `db`, creating its table if needed.
    pub async fn new(db: Database) -> Result<Self> {
        db.migrate(MIGRATIONS).await?;
        Ok(Self {
            db,
            source: default_source().to_owned(),
            wake: Arc::new(Notify::new()),
        })
    }

    /// The `ce_source` of events that do not set one: this service's name.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// The database the outbox lives in.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Writes `event` for `topic` into the outbox inside `tx`, the caller's own transaction; it is
    /// published after `tx` commits, and never if `tx` rolls back. Returns the row id.
    pub async fn enqueue<'t>(
        &self,
        tx: impl Into<OutboxTx<'t>>,
        topic: &str,
        event: &Event,
    ) -> Result<i64> {
        let record = event.encode(&self.source);
        let headers = schema::encode_headers(&record.headers)?;
        let event_id = event.event_id().to_string();
        insert(tx.into(), topic, &event_id, &record, false, &headers).await
    }

    /// Writes a tombstone for `key` (a record with a null value: on a compacted topic it deletes
    /// the key once the cleaner ran) into the outbox inside `tx`. It carries CloudEvents headers
    /// with `ce_type` [`TOMBSTONE_EVENT_TYPE`] and an id of its own, so an inbox records it like any
    /// event. Returns the row id.
    pub async fn enqueue_tombstone<'t>(
        &self,
        tx: impl Into<OutboxTx<'t>>,
        topic: &str,
        key: &str,
    ) -> Result<i64> {
        let event = Event::new(TOMBSTONE_EVENT_TYPE, &serde_json::Value::Null)?.key(key);
        let mut record = event.encode(&self.source);
        // No value, so no content type.
        record
            .headers
            .retain(|(name, _)| name != crate::envelope::HEADER_CONTENT_TYPE);
        let headers = schema::encode_headers(&record.headers)?;
        let event_id = event.event_id().to_string();
        insert(tx.into(), topic, &event_id, &record, true, &headers).await
    }

    /// Tells this process's relay that a transaction which enqueued events has committed, so it
    /// publishes them now instead of at its next poll. Call it after the commit (before, the
    /// relay may look too early and wait for its poll). Relays in other processes are woken by
    /// `NOTIFY` on PostgreSQL and poll on SQLite.
    pub fn committed(&self) {
        self.wake.notify_one();
    }

    /// Rows not yet published (including rows left aside after too many failed attempts).
    pub async fn unsent(&self) -> Result<u64> {
        match &self.db {
            Database::Sqlite(pool) => sqlite::count_unsent(pool).await,
            Database::Postgres(pool) => {
                let mut connection = pool.acquire().await.map_err(db("acquire connection"))?;
                postgres::count_unsent(&mut connection).await
            }
        }
    }

    /// A relay for this outbox, publishing with a producer built from `producer`.
    /// The relay is woken by [`Outbox::committed`] unless `config` turns the in-process wakeup off.
    pub fn relay(&self, producer: ProducerConfig, config: RelayConfig) -> Result<Relay> {
        let wake = config.wakes_in_process().then(|| Arc::clone(&self.wake));
        Ok(Relay::new(self.db.clone(), producer, config)?.woken_by(wake))
    }
}

/// Inserts one row on either backend.
async fn insert(
    tx: OutboxTx<'_>,
    topic: &str,
    event_id: &str,
    record: &crate::envelope::EncodedEvent,
    tombstone: bool,
    headers: &[u8],
) -> Result<i64> {
    match tx {
        OutboxTx::Sqlite(connection) => {
            sqlite::insert(connection, topic, event_id, record, tombstone, headers).await
        }
        OutboxTx::Postgres(connection) => {
            postgres::insert(connection, topic, event_id, record, tombstone, headers).await
        }
    }
}
