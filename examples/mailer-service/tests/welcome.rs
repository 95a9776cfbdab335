//! The mailer fed by real events through an in-process herald-broker: one welcome email per user
//! under duplicate deliveries, re-published creates and a restart of the service.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use herald::envelope::Event;
use herald::producer::{Producer, ProducerConfig};
use herald::testing::TestBroker;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

async fn emails(base: &str) -> Value {
    match reqwest::get(format!("{base}/emails")).await {
        Ok(response) if response.status().is_success() => {
            response.json().await.unwrap_or(Value::Null)
        }
        _ => Value::Null,
    }
}

/// Polls `/emails` until `done` holds, with a deadline.
async fn await_emails(base: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let body = emails(base).await;
        if done(&body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "last answer {body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// Proves duplicates (same event id) are skipped by the inbox, a re-published create (new event id)
// is suppressed by the unique key, and updates send nothing: one email per user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_welcome_email_per_user() {
    let broker = TestBroker::start().await.unwrap();
    let producer = Producer::new(ProducerConfig::new(broker.bootstrap_servers())).unwrap();
    let user =
        |i: u32| json!({"id": format!("u{i}"), "name": "N", "email": format!("u{i}@example.com")});
    let mut first = None;
    for i in 0..10 {
        let event = Event::new("user_created", &user(i)).unwrap().key(i);
        producer.deliver("user_activity", &event).await.unwrap();
        first.get_or_insert(event);
    }
    let first = first.unwrap();
    producer.deliver("user_activity", &first).await.unwrap(); // same id: a redelivery
    let republished = Event::new("user_created", &user(0)).unwrap().key(0); // new id, same user
    producer
        .deliver("user_activity", &republished)
        .await
        .unwrap();
    let update = Event::new("user_updated", &user(1)).unwrap().key(1);
    producer.deliver("user_activity", &update).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = mailer_service::Config {
        listen: listener.local_addr().unwrap(),
        database_url: format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("mailer.db").display()
        ),
        topic: "user_activity".into(),
        group: "mailer".into(),
        session_timeout_ms: 6_000,
        instance_id: String::new(),
    };
    let stop = CancellationToken::new();
    let (token, brokers) = (stop.clone(), broker.bootstrap_servers().to_string());
    let task =
        tokio::spawn(async move { mailer_service::serve(listener, config, &brokers, token).await });
    let body = await_emails(&base, |b| {
        b["duplicates_skipped"] == 1 && b["suppressed"] == 1
    })
    .await;
    assert_eq!(body["count"], 10, "{body}");
    stop.cancel();
    task.await.unwrap().unwrap();
    producer.close().await.unwrap();
}
