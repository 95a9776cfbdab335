//! What the directory's integration tests share: a directory service started in-process on port 0,
//! and HTTP reads polled until they show what a test waits for.
#![allow(clippy::unwrap_used, dead_code)]

use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub struct Running {
    pub base: String,
    pub stop: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts the directory on `topic` with its own group, as its main does.
pub async fn start(brokers: &str, topic: &str, database_url: String, group: &str) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = directory_service::Config {
        listen: listener.local_addr().unwrap(),
        database_url,
        topic: topic.into(),
        group: group.into(),
        session_timeout_ms: 6_000,
        instance_id: String::new(),
    };
    let stop = CancellationToken::new();
    let (token, brokers) = (stop.clone(), brokers.to_string());
    let task =
        tokio::spawn(
            async move { directory_service::serve(listener, config, &brokers, token).await },
        );
    Running { base, stop, task }
}

pub async fn get(url: &str) -> (u16, Value) {
    match reqwest::get(url).await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

/// Polls `url` until `done(body)` holds, with a deadline.
pub async fn await_json(url: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(url).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url}: last answer {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
