//! Deletes reach the directory: `user_deleted` removes the row, a tombstone alone (null value, the
//! user id as key) removes it too, a redelivered delete changes nothing, and a replay in a new group
//! ends with the same rows. Real events through an in-process herald-broker.
#![allow(clippy::unwrap_used)]

use herald::envelope::Event;
use herald::producer::{Producer, ProducerConfig};
use herald::testing::TestBroker;
use serde_json::{json, Value};

mod common;

use common::{await_json, get, start};

const TOPIC: &str = "user_activity";

fn user(i: u32) -> Value {
    json!({"id": format!("u{i:04}"), "name": format!("User {i}"), "email": format!("u{i}@example.com"),
           "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"})
}

/// A tombstone as the users service's outbox writes it: CloudEvents headers, null value.
fn tombstone(i: u32) -> herald::envelope::EncodedEvent {
    let mut encoded = Event::new(herald::outbox::TOMBSTONE_EVENT_TYPE, &Value::Null)
        .unwrap()
        .key(format!("u{i:04}"))
        .encode("users-service");
    encoded.headers.retain(|(name, _)| name != "content-type");
    encoded
}

// Proves user_deleted and a lone tombstone each delete their user, a redelivered delete is skipped
// by the inbox, and a new group replaying the topic ends with the same rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_and_tombstones_remove_users() {
    let broker = TestBroker::start().await.unwrap();
    let producer = Producer::new(ProducerConfig::new(broker.bootstrap_servers())).unwrap();
    for i in 0..5 {
        let event = Event::new("user_created", &user(i))
            .unwrap()
            .key(format!("u{i:04}"));
        producer.deliver(TOPIC, &event).await.unwrap();
    }
    let deleted = Event::new("user_deleted", &user(1)).unwrap().key("u0001");
    producer.deliver(TOPIC, &deleted).await.unwrap();
    producer.deliver(TOPIC, &deleted).await.unwrap(); // redelivered: same event id
    producer
        .enqueue_tombstone(TOPIC, &tombstone(1))
        .unwrap()
        .await
        .unwrap();
    producer
        .enqueue_tombstone(TOPIC, &tombstone(3))
        .unwrap()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    let mut replicas = Vec::new();
    for (db, group) in [("a.db", "directory"), ("b.db", "directory-2")] {
        let running = start(broker.bootstrap_servers(), TOPIC, url(db), group).await;
        let health = await_json(&format!("{}/health", running.base), |b| {
            b["duplicates_skipped"] == 1
        })
        .await;
        assert_eq!(health["users"], 3, "{group}: {health}");
        for (i, status) in [(0, 200), (1, 404), (2, 200), (3, 404), (4, 200)] {
            let path = format!("{}/users/u{i:04}", running.base);
            assert_eq!(get(&path).await.0, status, "{group} user {i}");
        }
        replicas.push(running);
    }
    for running in replicas {
        running.stop.cancel();
        running.task.await.unwrap().unwrap();
    }
    producer.close().await.unwrap();
}
