//! The directory replica fed by real events through an in-process herald-broker: creates, updates,
//! duplicate deliveries and a replay in a new group.
#![allow(clippy::unwrap_used)]

use herald::envelope::Event;
use herald::producer::{Producer, ProducerConfig};
use herald::testing::TestBroker;
use serde_json::{json, Value};

mod common;

use common::{await_json, get, start};

fn user(i: u32, name: &str, updated_at: &str) -> Value {
    json!({"id": format!("u{i:04}"), "name": name, "email": format!("u{i}@example.com"),
           "created_at": "2026-01-01T00:00:00Z", "updated_at": updated_at})
}

// Proves creates and updates reach the replica, a redelivered event changes nothing, and a new group
// rebuilds an identical replica from the whole topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_applies_events_once_and_rebuilds() {
    let broker = TestBroker::start().await.unwrap();
    let producer = Producer::new(ProducerConfig::new(broker.bootstrap_servers())).unwrap();
    let mut created = Vec::new();
    for i in 0..20 {
        let event = Event::new("user_created", &user(i, "old", "2026-01-01T00:00:00Z"))
            .unwrap()
            .key(i);
        producer.deliver("user_activity", &event).await.unwrap();
        created.push(event);
    }
    let update = Event::new("user_updated", &user(3, "Renamed", "2026-01-02T00:00:00Z"))
        .unwrap()
        .key(3);
    producer.deliver("user_activity", &update).await.unwrap();
    // The same create again (same event id), as a relay retrying after a crash would publish it.
    producer
        .deliver("user_activity", &created[3])
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    let first = start(
        broker.bootstrap_servers(),
        "user_activity",
        url("a.db"),
        "directory",
    )
    .await;
    let health = await_json(&format!("{}/health", first.base), |b| {
        b["duplicates_skipped"] == 1
    })
    .await;
    assert_eq!(health["users"], 20);
    let (status, three) = get(&format!("{}/users/u0003", first.base)).await;
    assert_eq!(status, 200);
    assert_eq!(
        three["name"], "Renamed",
        "the duplicate create must not undo the update"
    );
    assert_eq!(get(&format!("{}/users/nobody", first.base)).await.0, 404);
    assert_eq!(get(&format!("{}/users", first.base)).await.1["count"], 20);

    // A brand-new directory in a new group replays everything into an empty database.
    let second = start(
        broker.bootstrap_servers(),
        "user_activity",
        url("b.db"),
        "directory-2",
    )
    .await;
    await_json(&format!("{}/health", second.base), |b| {
        b["duplicates_skipped"] == 1
    })
    .await;
    for i in 0..20 {
        let path = format!("/users/u{i:04}");
        assert_eq!(
            get(&format!("{}{path}", first.base)).await,
            get(&format!("{}{path}", second.base)).await
        );
    }
    for running in [first, second] {
        running.stop.cancel();
        running.task.await.unwrap().unwrap();
    }
    producer.close().await.unwrap();
}
