//! The welcome-email table and the inbox handler that fills it from `user_created` events.
//! Not here: HTTP (`http.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use herald::consumer::{HandlerResult, Message};
use herald::db::{Migration, Transaction};
use herald::inbox::InboxHandler;
use serde::Deserialize;

/// The mailer schema: at most one welcome email per user, enforced by the primary key.
pub const MIGRATIONS: &[Migration] = &[Migration {
    name: "mailer_0001_welcome_emails",
    sqlite: "CREATE TABLE IF NOT EXISTS welcome_emails (
            user_id TEXT PRIMARY KEY,
            email TEXT NOT NULL,
            name TEXT NOT NULL,
            event_id TEXT NOT NULL,
            sent_at TEXT NOT NULL
        )",
    postgres: "CREATE TABLE IF NOT EXISTS welcome_emails (
            user_id TEXT PRIMARY KEY,
            email TEXT NOT NULL,
            name TEXT NOT NULL,
            event_id TEXT NOT NULL,
            sent_at TEXT NOT NULL
        )",
}];

const INSERT: &str = "INSERT INTO welcome_emails (user_id, email, name, event_id, sent_at)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO NOTHING";

#[derive(Debug, Deserialize)]
struct NewUser {
    id: String,
    name: String,
    email: String,
}

/// Records a welcome email for each `user_created`; counts the ones the unique key suppressed.
#[derive(Debug, Clone, Default)]
pub struct Mailer {
    topic: String,
    suppressed: Arc<AtomicU64>,
}

impl Mailer {
    /// A mailer fed from `topic`.
    pub fn new(topic: String) -> Self {
        Mailer {
            topic,
            suppressed: Arc::default(),
        }
    }

    /// `user_created` events with a new event id for a user who already has a welcome email.
    pub fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }
}

#[async_trait::async_trait]
impl InboxHandler for Mailer {
    fn subscribes_to(&self) -> Vec<String> {
        vec![self.topic.clone()]
    }

    async fn process(&self, tx: &mut Transaction, message: &Message) -> HandlerResult {
        if message.event.event_type != "user_created" {
            return Ok(());
        }
        let user: NewUser = message.event.data_as()?;
        let event_id = message.event.id.to_string();
        let now = chrono::Utc::now().to_rfc3339();
        let inserted = match tx {
            Transaction::Sqlite(tx) => sqlx::query(INSERT)
                .bind(&user.id)
                .bind(&user.email)
                .bind(&user.name)
                .bind(&event_id)
                .bind(&now)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Transaction::Postgres(tx) => sqlx::query(INSERT)
                .bind(&user.id)
                .bind(&user.email)
                .bind(&user.name)
                .bind(&event_id)
                .bind(&now)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        };
        if inserted == 0 {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(user_id = %user.id, %event_id, "second user_created for one user: no second email");
        } else {
            tracing::debug!(user_id = %user.id, email = %user.email, "welcome email recorded");
        }
        Ok(())
    }

    fn name(&self) -> String {
        "mailer".into()
    }
}
