//! `Producer::deliver` against an in-process herald-broker, read back by a real Kafka consumer.
#![allow(clippy::unwrap_used)]

mod producer_common;
use producer_common as common;

use std::time::Duration;

use herald::envelope::{EnvelopeFormat, Event};
use herald::producer::{Producer, ProducerConfig};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: Uuid,
    email: String,
}

// deliver returns the partition and offset, and a consumer reads each event back with its headers.
#[tokio::test]
async fn deliver_returns_offsets_and_events_read_back_intact() {
    let dir = tempfile::tempdir().unwrap();
    let broker = common::start_broker_any_port(dir.path()).await;
    let producer =
        Producer::new(ProducerConfig::new(broker.bootstrap_servers()).source("users-service"))
            .unwrap();

    let mut sent = Vec::new();
    for n in 0..3 {
        let user = User {
            id: Uuid::now_v7(),
            email: format!("user{n}@example.com"),
        };
        let event = Event::new("user_created", &user)
            .unwrap()
            .key(user.id)
            .header("traceparent", format!("00-{n}"));
        let delivery = producer.deliver("user_activity", &event).await.unwrap();
        assert_eq!(delivery.partition, 0);
        assert_eq!(delivery.offset, n);
        sent.push((event, user));
    }
    assert_eq!(producer.stats().delivered, 3);

    let received = common::read_events(
        &broker.bootstrap_servers(),
        "user_activity",
        3,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(received.len(), 3);
    for (n, ((event, user), got)) in sent.iter().zip(&received).enumerate() {
        assert_eq!(got.format, EnvelopeFormat::CloudEventsBinary);
        assert_eq!(got.id, event.event_id());
        assert_eq!(got.event_type, "user_created");
        assert_eq!(got.source.as_deref(), Some("users-service"));
        assert_eq!(got.key_str(), Some(user.id.to_string().as_str()));
        assert_eq!(
            got.header("traceparent"),
            Some(format!("00-{n}").as_bytes())
        );
        assert_eq!(&got.data_as::<User>().unwrap(), user);
    }
    producer.close().await.unwrap();
    broker.shutdown().await.unwrap();
}

// After close, both deliver and deliver_async refuse new events with a Shutdown error.
#[tokio::test]
async fn closed_producer_refuses_events() {
    let dir = tempfile::tempdir().unwrap();
    let broker = common::start_broker_any_port(dir.path()).await;
    let producer = Producer::new(ProducerConfig::new(broker.bootstrap_servers())).unwrap();
    let event = Event::new("ping", &serde_json::json!({})).unwrap();
    producer.deliver("pings", &event).await.unwrap();
    producer.close().await.unwrap();

    let refused = producer.deliver_async("pings", &event);
    assert!(
        matches!(refused, Err(herald::Error::Shutdown { .. })),
        "{refused:?}"
    );
    let refused = producer.deliver("pings", &event).await;
    assert!(
        matches!(refused, Err(herald::Error::Shutdown { .. })),
        "{refused:?}"
    );
    broker.shutdown().await.unwrap();
}

// An invalid configuration is a Config error naming the setting, not a panic.
#[test]
fn invalid_config_is_reported() {
    let empty = Producer::new(ProducerConfig::new(" "));
    assert!(
        matches!(empty, Err(herald::Error::Config { ref key, .. }) if key == "bootstrap.servers")
    );
    let zero = Producer::new(ProducerConfig::new("127.0.0.1:1").buffer_capacity(0));
    assert!(matches!(zero, Err(herald::Error::Config { ref key, .. }) if key == "buffer_capacity"));
    let unknown = Producer::new(ProducerConfig::new("127.0.0.1:1").set("no.such.setting", "1"));
    assert!(
        matches!(unknown, Err(herald::Error::Kafka { .. })),
        "{unknown:?}"
    );
}
