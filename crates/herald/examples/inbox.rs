//! Guarantee shown: EXACTLY-ONCE EFFECTS on the service's own database (on top of at-least-once
//! delivery).
//!
//! The inbox writes each event id into `herald_inbox` in the same transaction as the handler's own
//! writes, and the runner commits the Kafka offset only after that transaction committed. Here the
//! first consumer "crashes" between its database commit and its offset commit (offset commits are
//! switched off); the second consumer in the same group receives every event again, and the inbox
//! skips them all: each user row exists once.
//!
//! `cargo run -p herald --example inbox` (SQLite in a temp dir; set `HERALD_DATABASE_URL` to a
//! `postgres://` URL for PostgreSQL, `HERALD_BROKERS` for a real cluster).

use std::sync::Arc;
use std::time::Duration;

use herald::consumer::{ConsumerConfig, HandlerResult, Message, Runner};
use herald::db::{Database, Transaction};
use herald::envelope::Event;
use herald::inbox::{Inbox, InboxConsumer, InboxHandler};
use herald::producer::{Producer, ProducerConfig};
use tokio_util::sync::CancellationToken;

const EVENTS: i64 = 5;

/// Copies users into this service's own `users` table.
struct UsersTable;

#[async_trait::async_trait]
impl InboxHandler for UsersTable {
    fn subscribes_to(&self) -> Vec<String> {
        vec!["user_activity".into()]
    }

    async fn process(&self, tx: &mut Transaction, message: &Message) -> HandlerResult {
        let name = message.event.data["user"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let id = message.event.id.to_string();
        match tx {
            Transaction::Sqlite(tx) => {
                sqlx::query("INSERT INTO users (event_id, name) VALUES (?, ?)")
                    .bind(id)
                    .bind(name)
                    .execute(&mut **tx)
                    .await?;
            }
            Transaction::Postgres(tx) => {
                sqlx::query("INSERT INTO users (event_id, name) VALUES ($1, $2)")
                    .bind(id)
                    .bind(name)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }
}

async fn users(db: &Database) -> Result<i64, sqlx::Error> {
    match db {
        Database::Sqlite(pool) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await
        }
        Database::Postgres(pool) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await
        }
    }
}

/// Runs one consumer life until `users` has `EVENTS` rows and `inbox` skipped `duplicates`.
async fn run_until(
    config: ConsumerConfig,
    db: &Database,
    duplicates: u64,
) -> Result<Arc<Inbox>, Box<dyn std::error::Error>> {
    let inbox = Arc::new(Inbox::new(db.clone()).await?);
    let stop = CancellationToken::new();
    let runner = tokio::spawn(
        Runner::new(config)
            .consumer(InboxConsumer::new(inbox.clone(), UsersTable))
            .run(stop.clone()),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while (users(db).await? < EVENTS || inbox.duplicates_skipped() < duplicates)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    runner.await??;
    Ok(inbox)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (brokers, _broker) = brokers().await?;
    let dir = tempfile::tempdir()?;
    let url = std::env::var("HERALD_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("users-service.db").display()));
    let db = Database::connect(&url).await?;
    db.execute_script(
        "CREATE TABLE IF NOT EXISTS users (event_id TEXT NOT NULL, name TEXT NOT NULL)",
    )
    .await?;

    let producer = Producer::new(ProducerConfig::new(brokers.clone()).source("users-service"))?;
    for i in 0..EVENTS {
        let event = Event::new(
            "user_created",
            &serde_json::json!({ "user": { "name": format!("user{i}") } }),
        )?;
        producer.deliver("user_activity", &event).await?;
    }
    let group = format!("users-copy-{}", uuid::Uuid::new_v4().simple());
    let config = ConsumerConfig {
        brokers,
        group_id: Some(group),
        ..ConsumerConfig::default()
    };

    // Life 1: database commits happen, the offset commit never does (a crash right in between).
    run_until(
        ConsumerConfig {
            commit_offsets: false,
            ..config.clone()
        },
        &db,
        0,
    )
    .await?;
    println!("after the crash: {} user rows", users(&db).await?);
    // Life 2: Kafka redelivers all events; the inbox recognises each one.
    let inbox = run_until(config, &db, EVENTS as u64).await?;
    println!(
        "after redelivery: {} user rows, {} duplicates skipped",
        users(&db).await?,
        inbox.duplicates_skipped()
    );
    Ok(())
}

/// `HERALD_BROKERS`, or an in-process herald-broker in a temp dir (kept alive by the returned guard).
async fn brokers() -> Result<
    (
        String,
        Option<(herald_broker::BrokerHandle, tempfile::TempDir)>,
    ),
    Box<dyn std::error::Error>,
> {
    if let Ok(brokers) = std::env::var("HERALD_BROKERS") {
        return Ok((brokers, None));
    }
    let dir = tempfile::tempdir()?;
    let broker =
        herald_broker::Broker::start(herald_broker::BrokerConfig::for_tests(dir.path())).await?;
    Ok((broker.bootstrap_servers(), Some((broker, dir))))
}
