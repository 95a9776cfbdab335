//! The outbox relay: publishes committed outbox rows with an idempotent producer, in id order.
//!
//! One round claims a batch of unsent rows (SQLite: the oldest; PostgreSQL: `FOR UPDATE SKIP
//! LOCKED`, see `postgres.rs`), hands all of them to librdkafka in id order, awaits each
//! acknowledgement in that order, and marks the acknowledged rows sent. The relay's producer never
//! gives up on a message (`message.timeout.ms=0`), so a broker outage only stalls the round until
//! the broker is back; combined with idempotence, one key's rows reach the partition in id order.
//! A row is published at least once: if the relay stops between the broker's ack and the row's
//! update, the row is sent again later (consumers deduplicate on `ce_id` with the inbox).
//!
//! A row the broker refuses outright (too large, invalid topic) fails its attempt; after
//! `attempts_max` failed attempts it is left aside with its `last_error`, and later rows of its key
//! are not held back by it.
//!
//! Between rounds the relay waits for `NOTIFY herald_outbox` (PostgreSQL) or polls (SQLite), or is
//! woken at once in-process by `Outbox::committed` (a [`Notify`] shared with the outbox), and
//! every `prune_interval` deletes rows sent more than `prune_after` ago.
//!
//! Not here: writing rows (that is [`Outbox::enqueue`](super::Outbox::enqueue)).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::schema::{last_error_text, now_ms, OutboxRow};
use super::{postgres, sqlite};
use crate::db::{db, Database};
use crate::error::{Error, Result};
use crate::producer::{Producer, ProducerConfig};

/// Rows claimed per round by default.
pub const BATCH_ROWS_DEFAULT: usize = 500;
/// SQLite: how long an idle relay waits before looking for new rows.
pub const POLL_INTERVAL_MS_DEFAULT: u64 = 50;
/// PostgreSQL: how long an idle relay waits for a notification before looking anyway.
pub const LISTEN_FALLBACK_MS_DEFAULT: u64 = 1_000;
/// Sent rows are deleted this long after they were sent, by default (1 hour).
pub const PRUNE_AFTER_MS_DEFAULT: u64 = 3_600_000;
/// How often sent rows are pruned, by default.
pub const PRUNE_INTERVAL_MS_DEFAULT: u64 = 60_000;
/// Failed attempts after which a row is left aside (still in the table, with its `last_error`).
pub const ATTEMPTS_MAX_DEFAULT: i32 = 10;
/// Wait after a failed round (database unreachable, ...) before the next.
pub const ERROR_BACKOFF_MS: u64 = 1_000;
/// Rows published by outbox relays.
pub const PUBLISHED_TOTAL: &str = "herald_outbox_published_total";

/// How a [`Relay`] runs.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    batch_rows: usize,
    poll_interval: Duration,
    listen_fallback: Duration,
    prune_after: Duration,
    prune_interval: Duration,
    attempts_max: i32,
    in_process_wakeup: bool,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_rows: BATCH_ROWS_DEFAULT,
            poll_interval: Duration::from_millis(POLL_INTERVAL_MS_DEFAULT),
            listen_fallback: Duration::from_millis(LISTEN_FALLBACK_MS_DEFAULT),
            prune_after: Duration::from_millis(PRUNE_AFTER_MS_DEFAULT),
            prune_interval: Duration::from_millis(PRUNE_INTERVAL_MS_DEFAULT),
            attempts_max: ATTEMPTS_MAX_DEFAULT,
            in_process_wakeup: true,
        }
    }
}

impl RelayConfig {
    /// Rows claimed and published per round (at most the producer's buffer capacity).
    pub fn batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = rows;
        self
    }

    /// SQLite: how long an idle relay waits before looking for new rows.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// PostgreSQL: how long an idle relay waits for a notification before looking anyway.
    pub fn listen_fallback(mut self, interval: Duration) -> Self {
        self.listen_fallback = interval;
        self
    }

    /// How long sent rows are kept before they are deleted.
    pub fn prune_after(mut self, age: Duration) -> Self {
        self.prune_after = age;
        self
    }

    /// How often sent rows are pruned.
    pub fn prune_interval(mut self, interval: Duration) -> Self {
        self.prune_interval = interval;
        self
    }

    /// Failed attempts after which a row is left aside.
    pub fn attempts_max(mut self, attempts: i32) -> Self {
        self.attempts_max = attempts;
        self
    }

    /// Whether a relay made by [`Outbox::relay`](super::Outbox::relay) wakes as soon as
    /// [`Outbox::committed`](super::Outbox::committed) is called (default `true`); `false` leaves
    /// only the poll (SQLite) or `NOTIFY` (PostgreSQL), e.g. to measure what the wakeup saves.
    pub fn in_process_wakeup(mut self, enabled: bool) -> Self {
        self.in_process_wakeup = enabled;
        self
    }

    pub(crate) fn wakes_in_process(&self) -> bool {
        self.in_process_wakeup
    }
}

/// Publishes outbox rows. Run it with [`Relay::run`] or [`Relay::spawn`].
#[derive(Debug)]
pub struct Relay {
    db: Database,
    producer: Producer,
    config: RelayConfig,
    published: Arc<AtomicU64>,
    /// Woken by `Outbox::committed` in this process.
    wake: Option<Arc<Notify>>,
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundOutcome {
    /// Rows claimed from the table.
    pub claimed: usize,
    /// Rows acknowledged by the broker and marked sent.
    pub published: usize,
    /// Rows whose attempt failed (counted in `attempts`).
    pub failed: usize,
}

/// Rows acknowledged and rows failed in one round, by id.
#[derive(Debug, Default)]
struct Progress {
    sent: Vec<i64>,
    failed: Vec<(i64, String)>,
}

impl Relay {
    /// A relay for the outbox in `db`, publishing with a producer built from `producer`. The
    /// relay's producer retries forever (`message.timeout.ms=0`): an outage only delays rows.
    pub fn new(db: Database, producer: ProducerConfig, config: RelayConfig) -> Result<Self> {
        let producer = Producer::new(producer.message_timeout(Duration::ZERO))?;
        if config.batch_rows == 0 || config.batch_rows > producer.capacity() {
            return Err(Error::config(
                "batch_rows",
                format!(
                    "{} is outside 1..={} (the producer's buffer capacity)",
                    config.batch_rows,
                    producer.capacity()
                ),
            ));
        }
        Ok(Self {
            db,
            producer,
            config,
            published: Arc::new(AtomicU64::new(0)),
            wake: None,
        })
    }

    /// Also wakes when `wake` is notified (set by `Outbox::relay`).
    pub(crate) fn woken_by(mut self, wake: Option<Arc<Notify>>) -> Self {
        self.wake = wake;
        self
    }

    /// Rows this relay has published (acknowledged by the broker).
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Runs one round: claim a batch, publish it, mark what the broker acknowledged.
    /// Stops awaiting acknowledgements when `shutdown` fires (unmarked rows go out again later).
    pub async fn publish_round(&self, shutdown: &CancellationToken) -> Result<RoundOutcome> {
        let attempts_max = self.config.attempts_max;
        let (claimed, progress) = match &self.db {
            Database::Sqlite(pool) => {
                let rows = sqlite::unsent(pool, self.config.batch_rows, attempts_max).await?;
                let progress = self.publish(&rows, shutdown).await;
                self.count_published(&progress);
                sqlite::mark_sent(pool, &progress.sent).await?;
                sqlite::record_failures(pool, &progress.failed).await?;
                (rows.len(), progress)
            }
            Database::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(db("begin relay round"))?;
                let rows = postgres::claim(&mut tx, self.config.batch_rows, attempts_max).await?;
                let progress = self.publish(&rows, shutdown).await;
                self.count_published(&progress);
                postgres::mark_sent(&mut tx, &progress.sent).await?;
                postgres::record_failures(&mut tx, &progress.failed).await?;
                tx.commit().await.map_err(db("commit relay round"))?;
                (rows.len(), progress)
            }
        };
        Ok(RoundOutcome {
            claimed,
            published: progress.sent.len(),
            failed: progress.failed.len(),
        })
    }

    /// Counts acknowledged rows as soon as the broker has them, before they are marked sent, so
    /// `published()` never lags behind the table.
    fn count_published(&self, progress: &Progress) {
        let published = progress.sent.len() as u64;
        self.published.fetch_add(published, Ordering::Relaxed);
        metrics::counter!(PUBLISHED_TOTAL).increment(published);
    }

    /// Hands every row to the producer in id order, then awaits the acknowledgements in order.
    async fn publish(&self, rows: &[OutboxRow], shutdown: &CancellationToken) -> Progress {
        let mut progress = Progress::default();
        let mut pending = Vec::with_capacity(rows.len());
        for row in rows {
            let enqueued = if row.tombstone {
                self.producer.enqueue_tombstone(&row.topic, &row.record)
            } else {
                self.producer.enqueue_encoded(&row.topic, &row.record)
            };
            match enqueued {
                Ok(delivery) => pending.push((row.id, delivery)),
                // A full buffer or a closing producer passes: keep the rest for the next round,
                // so nothing is published ahead of this row.
                Err(error) if error.is_retriable() || matches!(error, Error::Shutdown { .. }) => {
                    tracing::warn!(%error, row = row.id, "outbox relay could not enqueue");
                    break;
                }
                // A row librdkafka refuses outright (an invalid topic name) never succeeds.
                Err(error) => progress.failed.push((row.id, last_error_text(&error))),
            }
        }
        for (id, delivery) in pending {
            tokio::select! {
                biased;
                outcome = delivery => match outcome {
                    Ok(_) => progress.sent.push(id),
                    Err(error) => {
                        tracing::warn!(%error, row = id, "outbox row not delivered");
                        progress.failed.push((id, last_error_text(&error)));
                    }
                },
                () = shutdown.cancelled() => break,
            }
        }
        progress
    }

    /// Deletes rows sent longer ago than `prune_after`; returns how many.
    pub async fn prune(&self) -> Result<u64> {
        let age_ms = i64::try_from(self.config.prune_after.as_millis()).unwrap_or(i64::MAX);
        let sent_before_ms = now_ms().saturating_sub(age_ms);
        match &self.db {
            Database::Sqlite(pool) => sqlite::prune(pool, sent_before_ms).await,
            Database::Postgres(pool) => {
                let mut connection = pool.acquire().await.map_err(db("acquire connection"))?;
                postgres::prune(&mut connection, sent_before_ms).await
            }
        }
    }

    /// Publishes rows until `shutdown` fires, then closes its producer (delivering what it holds).
    /// Errors (database or broker away) are logged and retried; it returns only on shutdown.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let mut waker = Waker::new(&self.db, &self.config).await;
        let wake = self.wake.clone();
        let mut last_prune = Instant::now();
        while !shutdown.is_cancelled() {
            match self.publish_round(&shutdown).await {
                Ok(outcome) if outcome.claimed >= self.config.batch_rows => {}
                Ok(_) => waker.wait(wake.as_deref(), &shutdown).await,
                Err(error) => {
                    tracing::warn!(%error, "outbox relay round failed");
                    sleep_or_shutdown(Duration::from_millis(ERROR_BACKOFF_MS), &shutdown).await;
                }
            }
            if last_prune.elapsed() >= self.config.prune_interval {
                last_prune = Instant::now();
                match self.prune().await {
                    Ok(pruned) => tracing::debug!(pruned, "outbox pruned"),
                    Err(error) => tracing::warn!(%error, "outbox prune failed"),
                }
            }
        }
        self.producer.close().await
    }

    /// Runs the relay on a tokio task; the handle stops it and awaits it.
    pub fn spawn(self) -> RelayHandle {
        let shutdown = CancellationToken::new();
        let published = Arc::clone(&self.published);
        let task = tokio::spawn(self.run(shutdown.clone()));
        RelayHandle {
            shutdown,
            published,
            task,
        }
    }
}

/// A relay running on a task. Stop it with [`RelayHandle::shutdown`].
#[derive(Debug)]
pub struct RelayHandle {
    shutdown: CancellationToken,
    published: Arc<AtomicU64>,
    task: JoinHandle<Result<()>>,
}

impl RelayHandle {
    /// Rows the relay has published.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Stops the relay and waits until it has closed its producer; during a broker outage that
    /// takes up to the producer's close timeout (rows not acknowledged by then go out again
    /// after the next start).
    pub async fn shutdown(self) -> Result<()> {
        self.shutdown.cancel();
        self.task.await.map_err(|_| Error::Shutdown {
            component: "outbox relay",
        })?
    }
}

/// How an idle relay waits for new rows.
enum Waker {
    /// Sleep, then look (SQLite; PostgreSQL when LISTEN is unavailable).
    Poll(Duration),
    /// Wait for `NOTIFY herald_outbox`, or the fallback interval.
    Listen(Box<PgListener>, Duration),
}

impl Waker {
    async fn new(db: &Database, config: &RelayConfig) -> Self {
        let Database::Postgres(pool) = db else {
            return Waker::Poll(config.poll_interval);
        };
        let listener = async {
            let mut listener = PgListener::connect_with(pool).await?;
            listener.listen(postgres::NOTIFY_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listener.await {
            Ok(listener) => Waker::Listen(Box::new(listener), config.listen_fallback),
            Err(error) => {
                tracing::warn!(%error, "outbox relay cannot LISTEN; polling instead");
                Waker::Poll(config.listen_fallback)
            }
        }
    }

    /// Waits for the next reason to look at the table: the poll, a notification, or `wake`.
    async fn wait(&mut self, wake: Option<&Notify>, shutdown: &CancellationToken) {
        let woken = async {
            match wake {
                Some(wake) => wake.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = woken => {}
            () = self.wait_backend(shutdown) => {}
        }
    }

    async fn wait_backend(&mut self, shutdown: &CancellationToken) {
        match self {
            Waker::Poll(interval) => sleep_or_shutdown(*interval, shutdown).await,
            Waker::Listen(listener, fallback) => {
                tokio::select! {
                    notification = listener.recv() => {
                        if let Err(error) = notification {
                            tracing::warn!(%error, "outbox relay lost its LISTEN connection");
                            sleep_or_shutdown(*fallback, shutdown).await;
                        }
                    }
                    () = tokio::time::sleep(*fallback) => {}
                    () = shutdown.cancelled() => {}
                }
            }
        }
    }
}

async fn sleep_or_shutdown(duration: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        () = shutdown.cancelled() => {}
    }
}
