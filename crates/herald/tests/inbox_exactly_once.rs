//! The inbox on SQLite and PostgreSQL without Kafka: duplicates are skipped in the handler's own
//! transaction, failures roll the inbox row back, batches use one transaction, old rows expire.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use herald::consumer::{Consumer, HandlerResult, Message};
use herald::db::{Database, Transaction};
use herald::inbox::{Inbox, InboxConsumer, InboxHandler};
use support::{message, PgSchema};
use uuid::Uuid;

/// Inserts one `effects` row per event (no unique key: a duplicate effect would show as two rows).
struct RecordEffects {
    fail_on: Option<String>,
}

#[async_trait]
impl InboxHandler for RecordEffects {
    fn subscribes_to(&self) -> Vec<String> {
        vec!["user_activity".into()]
    }

    async fn process(&self, tx: &mut Transaction, message: &Message) -> HandlerResult {
        let name = message.event.data["user"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if self.fail_on.as_deref() == Some(name.as_str()) {
            return Err(format!("refusing {name}").into());
        }
        let id = message.event.id.to_string();
        match tx {
            Transaction::Sqlite(tx) => {
                sqlx::query("INSERT INTO effects (event_id, name) VALUES (?, ?)")
                    .bind(id)
                    .bind(name)
                    .execute(&mut **tx)
                    .await?;
            }
            Transaction::Postgres(tx) => {
                sqlx::query("INSERT INTO effects (event_id, name) VALUES ($1, $2)")
                    .bind(id)
                    .bind(name)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }
}

async fn setup(db: &Database) -> Arc<Inbox> {
    db.execute_script("CREATE TABLE effects (event_id TEXT NOT NULL, name TEXT NOT NULL)")
        .await
        .unwrap();
    Arc::new(Inbox::new(db.clone()).await.unwrap())
}

async fn effects(db: &Database) -> i64 {
    match db {
        Database::Sqlite(pool) => sqlx::query_scalar("SELECT COUNT(*) FROM effects")
            .fetch_one(pool)
            .await
            .unwrap(),
        Database::Postgres(pool) => sqlx::query_scalar("SELECT COUNT(*) FROM effects")
            .fetch_one(pool)
            .await
            .unwrap(),
    }
}

async fn duplicate_is_skipped(db: &Database) {
    let inbox = setup(db).await;
    let consumer = InboxConsumer::new(inbox.clone(), RecordEffects { fail_on: None });
    let id = Uuid::new_v4();
    consumer
        .process(&message("g1", id, 0, "ada"))
        .await
        .unwrap();
    consumer
        .process(&message("g1", id, 7, "ada"))
        .await
        .unwrap();
    assert_eq!(effects(db).await, 1);
    assert_eq!(inbox.duplicates_skipped(), 1);
    assert!(inbox.contains("g1", id).await.unwrap());
    // Another group has its own inbox rows: the same event is new to it.
    consumer
        .process(&message("g2", id, 0, "ada"))
        .await
        .unwrap();
    assert_eq!(effects(db).await, 2);
}

async fn failure_rolls_back_the_inbox_row(db: &Database) {
    let inbox = setup(db).await;
    let failing = InboxConsumer::new(
        inbox.clone(),
        RecordEffects {
            fail_on: Some("bob".into()),
        },
    );
    let id = Uuid::new_v4();
    assert!(failing.process(&message("g", id, 0, "bob")).await.is_err());
    assert!(!inbox.contains("g", id).await.unwrap());
    let fixed = InboxConsumer::new(inbox.clone(), RecordEffects { fail_on: None });
    fixed.process(&message("g", id, 0, "bob")).await.unwrap();
    assert_eq!(effects(db).await, 1);
    assert_eq!(inbox.duplicates_skipped(), 0);
}

async fn batch_skips_old_and_repeated_ids(db: &Database) {
    let inbox = setup(db).await;
    let consumer = InboxConsumer::new(inbox.clone(), RecordEffects { fail_on: None });
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    consumer.process(&message("g", a, 0, "a")).await.unwrap();
    let batch = vec![
        message("g", a, 0, "a"),
        message("g", b, 1, "b"),
        message("g", b, 2, "b"),
        message("g", c, 3, "c"),
    ];
    consumer.process_batch(&batch).await.unwrap();
    assert_eq!(effects(db).await, 3);
    assert_eq!(inbox.duplicates_skipped(), 2);
    // Only fresh ids, one of them repeated: the one-statement path, repeat skipped.
    let (f, g) = (Uuid::new_v4(), Uuid::new_v4());
    let fresh = vec![
        message("g", f, 6, "f"),
        message("g", g, 7, "g"),
        message("g", f, 8, "f"),
    ];
    consumer.process_batch(&fresh).await.unwrap();
    assert_eq!(effects(db).await, 5);
    assert_eq!(inbox.duplicates_skipped(), 3);
    assert!(inbox.contains("g", f).await.unwrap() && inbox.contains("g", g).await.unwrap());
    // A failing batch leaves no inbox rows behind: all of it can be retried.
    let failing = InboxConsumer::new(
        inbox.clone(),
        RecordEffects {
            fail_on: Some("e".into()),
        },
    );
    let (d, e) = (Uuid::new_v4(), Uuid::new_v4());
    assert!(failing
        .process_batch(&[message("g", d, 4, "d"), message("g", e, 5, "e")])
        .await
        .is_err());
    assert!(!inbox.contains("g", d).await.unwrap());
    assert_eq!(effects(db).await, 5);
}

async fn old_rows_expire(db: &Database) {
    let inbox = Inbox::new(db.clone())
        .await
        .unwrap()
        .with_retention(Duration::from_millis(1));
    let mut tx = db.begin().await.unwrap();
    let id = Uuid::new_v4();
    assert!(inbox
        .record(&mut tx, &message("g", id, 0, "x"))
        .await
        .unwrap());
    tx.commit().await.unwrap();
    assert!(
        support::eventually(Duration::from_secs(5), || async {
            inbox.expire("g").await.unwrap() == 1
        })
        .await
    );
    assert!(!inbox.contains("g", id).await.unwrap());
}

#[tokio::test]
async fn sqlite_duplicate_is_skipped() {
    // Proves on SQLite: a redelivered event has its effect once; other groups are independent.
    let (db, _dir) = support::sqlite_database().await;
    duplicate_is_skipped(&db).await;
}

#[tokio::test]
async fn postgres_duplicate_is_skipped() {
    // Proves on PostgreSQL: a redelivered event has its effect once; other groups are independent.
    let pg = PgSchema::create().await;
    duplicate_is_skipped(&pg.database).await;
    pg.drop().await;
}

#[tokio::test]
async fn sqlite_failure_rolls_back_the_inbox_row() {
    // Proves on SQLite: a failed handler leaves no inbox row, so the retry applies the effect.
    let (db, _dir) = support::sqlite_database().await;
    failure_rolls_back_the_inbox_row(&db).await;
}

#[tokio::test]
async fn postgres_failure_rolls_back_the_inbox_row() {
    // Proves on PostgreSQL: a failed handler leaves no inbox row, so the retry applies the effect.
    let pg = PgSchema::create().await;
    failure_rolls_back_the_inbox_row(&pg.database).await;
    pg.drop().await;
}

#[tokio::test]
async fn sqlite_batch_skips_old_and_repeated_ids() {
    // Proves on SQLite: one batch transaction skips ids seen before and ids repeated in the batch.
    let (db, _dir) = support::sqlite_database().await;
    batch_skips_old_and_repeated_ids(&db).await;
}

#[tokio::test]
async fn postgres_batch_skips_old_and_repeated_ids() {
    // Proves on PostgreSQL: one batch transaction skips ids seen before and ids repeated in the batch.
    let pg = PgSchema::create().await;
    batch_skips_old_and_repeated_ids(&pg.database).await;
    pg.drop().await;
}

#[tokio::test]
async fn sqlite_old_rows_expire() {
    // Proves on SQLite: rows older than the retention are deleted.
    let (db, _dir) = support::sqlite_database().await;
    old_rows_expire(&db).await;
}

#[tokio::test]
async fn postgres_old_rows_expire() {
    // Proves on PostgreSQL: rows older than the retention are deleted.
    let pg = PgSchema::create().await;
    old_rows_expire(&pg.database).await;
    pg.drop().await;
}
