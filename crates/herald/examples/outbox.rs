//! Guarantee shown: an event written with the outbox in the same transaction as the business row
//! is published if and only if that transaction commits — at least once, in per-key order — even
//! when the broker is down at commit time: the outage delays the event, it neither loses it nor
//! fails the request.
//!
//! Run: `cargo run -p herald --release --example outbox` (SQLite in a temp dir, in-process
//! herald-broker). `HERALD_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test` uses PostgreSQL
//! instead (it creates `users` and `herald_outbox` tables there).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use herald::db::{Database, Transaction};
use herald::envelope::Event;
use herald::outbox::{Outbox, RelayConfig};
use herald::producer::ProducerConfig;
use herald_broker::{Broker, BrokerConfig, BrokerHandle};

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Users created while the broker is down.
const USERS: u64 = 1_000;

async fn start_broker(dir: &std::path::Path, listen: SocketAddr) -> AnyResult<BrokerHandle> {
    let mut config = BrokerConfig::for_tests(dir.join("broker"));
    config.listen = listen;
    Ok(Broker::start(config).await?)
}

/// The service's request handler: insert the user and its event in one transaction.
async fn create_user(db: &Database, outbox: &Outbox, id: u64, commit: bool) -> AnyResult<()> {
    let mut tx = db.begin().await?;
    let email = format!("user{id}@example.com");
    match &mut tx {
        Transaction::Sqlite(tx) => {
            sqlx::query("INSERT INTO users (id, email) VALUES (?, ?)")
                .bind(id as i64)
                .bind(&email)
                .execute(&mut **tx)
                .await?;
        }
        Transaction::Postgres(tx) => {
            sqlx::query("INSERT INTO users (id, email) VALUES ($1, $2)")
                .bind(id as i64)
                .bind(&email)
                .execute(&mut **tx)
                .await?;
        }
    }
    let event = Event::new(
        "user_created",
        &serde_json::json!({"id": id, "email": email}),
    )?
    .key(id);
    outbox.enqueue(&mut tx, "user_activity", &event).await?;
    if commit {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> AnyResult<()> {
    let dir = tempfile::tempdir()?;
    let url = std::env::var("HERALD_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("users.db").display()));
    let db = Database::connect(&url).await?;
    db.execute_script(
        "CREATE TABLE IF NOT EXISTS users (id BIGINT PRIMARY KEY, email TEXT NOT NULL)",
    )
    .await?;
    let outbox = Outbox::new(db.clone()).await?.source("users-service");

    // The broker is down from the start: reserve an address, then stop it.
    let broker = start_broker(dir.path(), SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let address = broker.local_addr();
    broker.shutdown().await?;
    let producer = ProducerConfig::new(address.to_string()).set("reconnect.backoff.max.ms", "200");
    let relay = outbox.relay(producer, RelayConfig::default())?.spawn();

    let started = Instant::now();
    for id in 1..=USERS {
        create_user(&db, &outbox, id, true).await?;
    }
    create_user(&db, &outbox, USERS + 1, false).await?; // rolled back: never published
    println!(
        "broker down: {USERS} users committed in {:?}, none failed; {} events waiting in the outbox",
        started.elapsed(),
        outbox.unsent().await?
    );

    let restarted = Instant::now();
    let broker = start_broker(dir.path(), address).await?;
    while outbox.unsent().await? > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "broker back: all {} events published {:?} after restart (the rolled-back one never)",
        relay.published(),
        restarted.elapsed()
    );
    relay.shutdown().await?;
    broker.shutdown().await?;
    Ok(())
}
