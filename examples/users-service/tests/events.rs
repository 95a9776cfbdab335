//! What the users service publishes: each write's event reaches the topic (key = user id, data =
//! the user), and writes made while the broker is down still answer 201 and are published after.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use herald::consumer::{Consumer, ConsumerConfig, HandlerResult, Message, Runner};
use serde_json::{json, Value};
use support::{Backend, Harness};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Forwards every event's (type, key, data) to the test.
struct Collect(mpsc::Sender<(String, String, Value)>);

#[async_trait::async_trait]
impl Consumer for Collect {
    fn subscribes_to(&self) -> Vec<String> {
        vec![users_service::TOPIC_DEFAULT.into()]
    }
    async fn process(&self, message: &Message) -> HandlerResult {
        let key = message.event.key_str().unwrap_or_default().to_string();
        let event = (
            message.event.event_type.clone(),
            key,
            message.event.data.to_value(),
        );
        self.0.send(event).await?;
        Ok(())
    }
}

/// Receives `count` events, with a deadline.
async fn receive(
    rx: &mut mpsc::Receiver<(String, String, Value)>,
    count: usize,
) -> Vec<(String, String, Value)> {
    let mut events = Vec::new();
    while events.len() < count {
        let next = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await;
        events.push(next.expect("events arrive in time").unwrap());
    }
    events
}

// Proves a create and an update publish user_created and user_updated keyed by the user id, and that
// users created during a broker outage get 201 and their events are published after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_publish_events_even_through_an_outage() {
    let mut h = Harness::start(Backend::Sqlite).await;
    let (tx, mut rx) = mpsc::channel(64);
    let stop = CancellationToken::new();
    let config = ConsumerConfig {
        brokers: h.broker.bootstrap_servers().to_string(),
        group_id: Some("events-test".into()),
        ..ConsumerConfig::default()
    };
    let runner = tokio::spawn(Runner::new(config).consumer(Collect(tx)).run(stop.clone()));

    let (status, user) = h
        .post_json("/users", json!({"name": "Ada", "email": "ada@example.com"}))
        .await;
    assert_eq!(status, 201);
    let id = user["id"].as_str().unwrap().to_string();
    h.put_json(&format!("/users/{id}"), json!({"name": "Ada King"}))
        .await;
    let events = receive(&mut rx, 2).await;
    assert_eq!(events[0], ("user_created".into(), id.clone(), user));
    assert_eq!(
        (events[1].0.as_str(), events[1].1.as_str()),
        ("user_updated", id.as_str())
    );
    assert_eq!(events[1].2["name"], "Ada King");

    let (base, http) = (h.base.clone(), h.http.clone());
    let mut during = Vec::new();
    h.broker
        .restart(|| async {
            for n in 0..3 {
                let body = json!({"name": "N", "email": format!("n{n}@example.com")});
                let response = http
                    .post(format!("{base}/users"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                during.push(response.status().as_u16());
            }
        })
        .await
        .unwrap();
    assert_eq!(during, vec![201, 201, 201]);
    let after = receive(&mut rx, 3).await;
    assert!(
        after.iter().all(|(kind, _, _)| kind == "user_created"),
        "{after:?}"
    );
    stop.cancel();
    runner.await.unwrap().unwrap();
    h.stop().await;
}
