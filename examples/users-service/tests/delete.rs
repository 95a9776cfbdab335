//! `DELETE /users/{id}` over real HTTP: the row goes, `user_deleted` (the user's last state) and then
//! a tombstone (null value, same key) reach the topic, which the service created compacted; unknown
//! ids answer 404. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use herald::admin::Admin;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;
use support::{Backend, Harness};

/// One record as read from the topic: key, ce_type header, value (None: a tombstone).
type Record = (String, String, Option<serde_json::Value>);

/// Reads every record of `key` from all partitions until `count` were seen, with a deadline.
async fn records_of(brokers: &str, key: &str, count: usize) -> Vec<Record> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "delete-test")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(users_service::TOPIC_DEFAULT), Duration::from_secs(10))
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        assignment
            .add_partition_offset(
                users_service::TOPIC_DEFAULT,
                partition.id(),
                Offset::Beginning,
            )
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut found = Vec::new();
    while found.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("records arrive in time")
            .unwrap();
        let record_key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        if record_key != key {
            continue;
        }
        let ce_type = message
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == "ce_type"))
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        let value = message
            .payload()
            .map(|p| serde_json::from_slice(p).unwrap());
        found.push((record_key, ce_type, value));
    }
    found
}

async fn delete_publishes_event_then_tombstone(backend: Backend) {
    let h = Harness::start(backend).await;
    let brokers = h.broker.bootstrap_servers().to_string();
    let configs = Admin::new(&brokers)
        .topic_configs(users_service::TOPIC_DEFAULT)
        .await
        .unwrap();
    assert_eq!(
        configs.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    assert_eq!(configs.get("retention.ms").map(String::as_str), Some("-1"));

    let (status, user) = h
        .post_json("/users", json!({"name": "Ada", "email": "ada@example.com"}))
        .await;
    assert_eq!(status, 201);
    let id = user["id"].as_str().unwrap().to_string();
    let response = h
        .http
        .delete(h.url(&format!("/users/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let deleted: serde_json::Value = response.json().await.unwrap();
    assert_eq!(deleted, user, "DELETE answers the user as it was");
    assert_eq!(h.get_json(&format!("/users/{id}")).await.0, 404);
    assert_eq!(h.get_json("/users").await.1["count"], 0);
    let again = h
        .http
        .delete(h.url(&format!("/users/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status().as_u16(),
        404,
        "a second DELETE finds nothing"
    );
    let unknown = h
        .http
        .delete(h.url("/users/no-such-id"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);

    let records = records_of(&brokers, &id, 3).await;
    assert_eq!(
        records[0],
        (id.clone(), "user_created".into(), Some(user.clone()))
    );
    assert_eq!(records[1], (id.clone(), "user_deleted".into(), Some(user)));
    assert_eq!(
        records[2],
        (
            id.clone(),
            herald::outbox::TOMBSTONE_EVENT_TYPE.into(),
            None
        ),
        "the last record of the key is a tombstone"
    );
    let metrics = h
        .http
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("users_deleted_total 1"), "{metrics}");
    h.stop().await;
}

// Proves DELETE on SQLite removes the row, publishes user_deleted then a tombstone, and 404s after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_publishes_event_then_tombstone_sqlite() {
    delete_publishes_event_then_tombstone(Backend::Sqlite).await;
}

// Proves the same on PostgreSQL (nullable outbox payload there too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_publishes_event_then_tombstone_postgres() {
    delete_publishes_event_then_tombstone(Backend::Postgres).await;
}
