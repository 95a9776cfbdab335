//! Exactly-once effects across a crash: a consumer commits its database transaction but dies before
//! committing the Kafka offset; the next consumer of the group gets the same events again, and the
//! inbox skips them. On SQLite and on PostgreSQL, against a real broker.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use async_trait::async_trait;
use herald::consumer::{HandlerResult, Message, Runner};
use herald::db::{Database, Transaction};
use herald::inbox::{Inbox, InboxConsumer, InboxHandler};
use support::{eventually, produce_user, unique, PgSchema, TestBroker, DEADLINE};
use tokio_util::sync::CancellationToken;

/// Inserts one `effects` row per event; no unique key, so a repeated effect would show twice.
struct RecordEffects {
    topic: String,
}

#[async_trait]
impl InboxHandler for RecordEffects {
    fn subscribes_to(&self) -> Vec<String> {
        vec![self.topic.clone()]
    }

    async fn process(&self, tx: &mut Transaction, message: &Message) -> HandlerResult {
        let id = message.event.id.to_string();
        match tx {
            Transaction::Sqlite(tx) => {
                sqlx::query("INSERT INTO effects (event_id) VALUES (?)")
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
            }
            Transaction::Postgres(tx) => {
                sqlx::query("INSERT INTO effects (event_id) VALUES ($1)")
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }
}

async fn effects(db: &Database) -> i64 {
    let sql = "SELECT COUNT(*) FROM effects";
    match db {
        Database::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    }
}

async fn redelivery_has_its_effect_once(db: &Database, batch_size: usize) {
    const EVENTS: i64 = 20;
    db.execute_script("CREATE TABLE effects (event_id TEXT NOT NULL)")
        .await
        .unwrap();
    let broker = TestBroker::start().await;
    let topic = unique("users");
    broker.create_topic(&topic, 2).await;
    let producer = broker.producer();
    for i in 0..EVENTS {
        produce_user(&producer, &topic, (i % 2) as i32, &format!("u{i}")).await;
    }
    let group = unique("g");

    // First life: database commits happen, offset commits never do (the process "dies" in between).
    let mut config = broker.consumer_config(&group);
    config.batch_size = batch_size;
    config.commit_offsets = false;
    let first_inbox = Arc::new(Inbox::new(db.clone()).await.unwrap());
    let shutdown = CancellationToken::new();
    let consumer = InboxConsumer::new(
        first_inbox.clone(),
        RecordEffects {
            topic: topic.clone(),
        },
    );
    let first = tokio::spawn(
        Runner::new(config.clone())
            .consumer(consumer)
            .run(shutdown.clone()),
    );
    assert!(eventually(DEADLINE, || async { effects(db).await == EVENTS }).await);
    shutdown.cancel();
    first.await.unwrap().unwrap();

    // Second life, same group: everything is delivered again and skipped by the inbox.
    config.commit_offsets = true;
    let second_inbox = Arc::new(Inbox::new(db.clone()).await.unwrap());
    let shutdown = CancellationToken::new();
    let consumer = InboxConsumer::new(
        second_inbox.clone(),
        RecordEffects {
            topic: topic.clone(),
        },
    );
    let second = tokio::spawn(Runner::new(config).consumer(consumer).run(shutdown.clone()));
    assert!(
        eventually(DEADLINE, || async {
            second_inbox.duplicates_skipped() == EVENTS as u64
        })
        .await,
        "skipped {}",
        second_inbox.duplicates_skipped()
    );
    assert_eq!(effects(db).await, EVENTS);
    // And it still applies new events.
    produce_user(&producer, &topic, 0, "new").await;
    assert!(eventually(DEADLINE, || async { effects(db).await == EVENTS + 1 }).await);
    assert_eq!(first_inbox.duplicates_skipped(), 0);
    shutdown.cancel();
    second.await.unwrap().unwrap();
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_redelivery_after_crash_has_its_effect_once() {
    // Proves on SQLite (one message per transaction): redelivered events are skipped, effects once.
    let (db, _dir) = support::sqlite_database().await;
    redelivery_has_its_effect_once(&db, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_redelivery_after_crash_has_its_effect_once() {
    // Proves on PostgreSQL (batches, one transaction each): redelivered events are skipped, effects once.
    let pg = PgSchema::create().await;
    redelivery_has_its_effect_once(&pg.database, 8).await;
    pg.drop().await;
}
