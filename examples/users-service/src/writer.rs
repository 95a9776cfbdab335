//! Group commit of `POST /users`: one task owns the writes of new users, and every create that is
//! waiting when it starts a transaction joins it. Each request gets its answer only after the
//! shared commit, so a 201 still means "the row and its outbox event are committed together".
//!
//! Concurrent requests no longer queue on SQLite's single write lock one transaction at a time (and
//! sleep in its busy handler): under load one commit covers up to [`GROUP_USERS_MAX`] users. If a
//! group fails (a duplicate email among them), it is rolled back and each of its creates is
//! retried alone, so one bad request only fails itself.
//!
//! Durability: the database is opened by `Database::connect` (SQLite WAL, `synchronous=NORMAL`), so a
//! 201 survives a crash of this process; a power loss may lose the last commits, and their events
//! with them (row and event are lost together, never one without the other). Use `FULL` or
//! PostgreSQL when a 201 must survive power loss; herald's broker promise (an acknowledged write
//! is fsynced) is about the topic, not this database.
//! Not here: validation and status codes (`http.rs`), SQL (`store.rs`).

use herald::db::Database;
use herald::envelope::Event;
use herald::outbox::Outbox;
use tokio::sync::{mpsc, oneshot};

use crate::store::{self, User};

/// Most creates committed in one transaction.
pub const GROUP_USERS_MAX: usize = 256;
/// Creates waiting for the writer; a full queue makes requests wait to be queued.
const QUEUE_CREATES_MAX: usize = 4_096;

/// Why a create failed.
#[derive(Debug)]
pub enum CreateError {
    /// The email is taken.
    Duplicate,
    /// Anything else (database, encoding, the writer stopped).
    Internal(String),
}

/// One create waiting for its commit.
struct Job {
    user: User,
    event: Event,
    reply: oneshot::Sender<Result<(), CreateError>>,
}

/// The handle requests queue their creates on; cheap to clone.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("user", &self.user.id).finish()
    }
}

impl Writer {
    /// Spawns the writer task over `db` and `outbox`; it ends when every handle is dropped.
    pub fn spawn(db: Database, outbox: Outbox, topic: std::sync::Arc<str>) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_CREATES_MAX);
        tokio::spawn(run(db, outbox, topic, jobs));
        Writer { queue }
    }

    /// Inserts `user` and writes `event` into the outbox; returns once both are committed.
    pub async fn create(&self, user: User, event: Event) -> Result<(), CreateError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { user, event, reply };
        self.queue
            .send(job)
            .await
            .map_err(|_| CreateError::Internal("the writer stopped".into()))?;
        answer
            .await
            .map_err(|_| CreateError::Internal("the writer stopped".into()))?
    }
}

async fn run(
    db: Database,
    outbox: Outbox,
    topic: std::sync::Arc<str>,
    mut jobs: mpsc::Receiver<Job>,
) {
    let mut group = Vec::with_capacity(GROUP_USERS_MAX);
    while jobs.recv_many(&mut group, GROUP_USERS_MAX).await > 0 {
        match write(&db, &outbox, &topic, &group).await {
            Ok(()) => {
                for job in group.drain(..) {
                    let _ = job.reply.send(Ok(()));
                }
            }
            Err(error) if group.len() == 1 => {
                if let Some(job) = group.pop() {
                    let _ = job.reply.send(Err(error));
                }
            }
            Err(_) => {
                // Someone in the group failed: each create alone, so only that one fails.
                for job in group.drain(..) {
                    let result = write(&db, &outbox, &topic, std::slice::from_ref(&job)).await;
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

/// Every job's row and outbox event in one transaction.
async fn write(
    db: &Database,
    outbox: &Outbox,
    topic: &str,
    group: &[Job],
) -> Result<(), CreateError> {
    let internal = |e: &dyn std::fmt::Display| CreateError::Internal(e.to_string());
    let mut tx = db.begin().await.map_err(|e| internal(&e))?;
    for job in group {
        store::insert(&mut tx, &job.user).await.map_err(|e| {
            if store::is_unique_violation(&e) {
                CreateError::Duplicate
            } else {
                internal(&e)
            }
        })?;
        outbox
            .enqueue(&mut tx, topic, &job.event)
            .await
            .map_err(|e| internal(&e))?;
    }
    tx.commit().await.map_err(|e| internal(&e))?;
    outbox.committed(); // the relay publishes now, not at its next poll
    Ok(())
}
