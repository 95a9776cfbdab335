//! `herald dlq` against a real in-process broker and dead letters a herald runner really wrote:
//! list counts them, show explains them, replay republishes each exactly once across runs.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use herald::consumer::{Consumer, ConsumerConfig, HandlerResult, Message, Runner};
use herald::middleware::retry::RetryPolicy;
use herald_broker::{Broker, BrokerConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// How long the dead letters may take to appear.
const DEADLINE: Duration = Duration::from_secs(60);

/// How long one `herald` command may run before the test fails naming it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `herald ARGS --brokers BOOTSTRAP` with `stdin`; a command that hangs fails the test.
fn herald(bootstrap: &str, args: &[&str], stdin: &str) -> Output {
    use std::io::{Read, Write};
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .args(["--brokers", bootstrap])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    // Drained on threads so that the child never blocks on a full pipe while we wait.
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let stdout = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        out.read_to_end(&mut buffer).map(|_| buffer)
    });
    let stderr = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        err.read_to_end(&mut buffer).map(|_| buffer)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("herald {args:?} still running after {COMMAND_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap().unwrap(),
        stderr: stderr.join().unwrap().unwrap(),
    }
}

/// Like [`herald`], requiring success; stdout parsed as one JSON document, or as one per line.
fn herald_json(bootstrap: &str, args: &[&str]) -> Value {
    let output = herald(bootstrap, args, "");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "herald {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|_| {
        Value::Array(
            stdout
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        )
    })
}

/// Fails every order whose id starts with "bad", once (max_attempts = 1), so it is dead-lettered.
struct Orders;

#[async_trait]
impl Consumer for Orders {
    fn subscribes_to(&self) -> Vec<String> {
        vec!["orders".into()]
    }

    async fn process(&self, message: &Message) -> HandlerResult {
        let id = message.event.data["id"].as_str().unwrap_or_default();
        if id.starts_with("bad") {
            return Err(format!("order {id} is bad").into());
        }
        Ok(())
    }
}

/// Produces two good and two bad orders and runs the consumer until both bad ones are dead letters.
fn dead_letters_written(runtime: &tokio::runtime::Runtime, b: &str) {
    let out = herald(b, &["topics", "create", "orders"], "");
    assert!(out.status.success());
    let lines = ["ok1", "bad1", "ok2", "bad2"]
        .map(|id| format!("{{\"id\":\"{id}\"}}\n"))
        .concat();
    let out = herald(b, &["produce", "orders", "--type", "order_created"], &lines);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = ConsumerConfig {
        brokers: b.to_string(),
        group_id: Some("orders-service".into()),
        commit_interval_ms: 100,
        retry: RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        },
        ..ConsumerConfig::default()
    };
    let shutdown = CancellationToken::new();
    let runner = runtime.spawn(
        Runner::new(config)
            .consumer(Arc::new(Orders))
            .run(shutdown.clone()),
    );
    let started = Instant::now();
    loop {
        let list = herald_json(b, &["dlq", "list", "--output", "json"]);
        if list[0]["letters"] == 2 {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "no dead letters: {list}");
        std::thread::sleep(Duration::from_millis(100));
    }
    shutdown.cancel();
    let stopped = runtime.block_on(async { tokio::time::timeout(DEADLINE, runner).await });
    stopped.expect("the runner stops").unwrap().unwrap();
}

fn replayed_count(b: &str, args: &[&str]) -> (usize, u64) {
    let result = herald_json(b, args);
    (
        result["replayed"].as_array().unwrap().len(),
        result["already_replayed"].as_u64().unwrap(),
    )
}

// list counts the letters, show explains them, and replay republishes each exactly once: by offset,
// then the rest with --all, and nothing when run again.
#[test]
fn dead_letters_are_listed_shown_and_replayed_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let broker = runtime
        .block_on(Broker::start(BrokerConfig::for_tests(dir.path())))
        .unwrap();
    let b = broker.bootstrap_servers();
    dead_letters_written(&runtime, &b);

    let list = herald_json(&b, &["dlq", "list", "--output", "json"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["topic"], "orders.dlq");
    assert_eq!(
        (list[0]["replayed"].clone(), list[0]["pending"].clone()),
        (0.into(), 2.into())
    );

    let shown = herald_json(&b, &["dlq", "show", "orders.dlq", "--output", "json"]);
    let letters = shown.as_array().unwrap();
    assert_eq!(letters.len(), 2, "{shown}");
    for (letter, (id, original_offset)) in letters.iter().zip([("bad1", 1), ("bad2", 3)]) {
        assert_eq!(letter["reason"], format!("order {id} is bad"));
        assert_eq!(letter["kind"], "processing");
        assert_eq!(letter["attempts"], 1);
        assert_eq!(letter["original_topic"], "orders");
        assert_eq!(letter["original_partition"], 0);
        assert_eq!(letter["original_offset"], original_offset);
        assert_eq!(letter["consumer"], "Orders");
        assert_eq!(letter["consumer_group"], "orders-service");
        assert_eq!(letter["event_type"], "order_created");
        assert_eq!(letter["replayed"], false);
        let failed_at = letter["failed_at"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(failed_at).is_ok(),
            "{failed_at}"
        );
    }
    let table = herald(&b, &["dlq", "show", "orders.dlq"], "");
    assert!(String::from_utf8_lossy(&table.stdout).contains("order bad2 is bad"));

    let replay_second = [
        "dlq",
        "replay",
        "orders.dlq",
        "--offset",
        "1",
        "--output",
        "json",
    ];
    let replay_all = ["dlq", "replay", "orders.dlq", "--all", "--output", "json"];
    assert_eq!(replayed_count(&b, &replay_second), (1, 0));
    let shown = herald_json(&b, &["dlq", "show", "orders.dlq", "--output", "json"]);
    assert_eq!(
        (shown[0]["replayed"].clone(), shown[1]["replayed"].clone()),
        (false.into(), true.into())
    );
    assert_eq!(replayed_count(&b, &replay_second), (0, 1));
    assert_eq!(replayed_count(&b, &replay_all), (1, 1));
    assert_eq!(replayed_count(&b, &replay_all), (0, 2));
    let list = herald_json(&b, &["dlq", "list", "--output", "json"]);
    assert_eq!(
        (list[0]["replayed"].clone(), list[0]["pending"].clone()),
        (2.into(), 0.into())
    );

    let records = herald_json(
        &b,
        &[
            "consume",
            "orders",
            "--from",
            "earliest",
            "--until-end",
            "--format",
            "json",
        ],
    );
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 6, "4 originals and 2 copies: {records:?}");
    let mut copies: Vec<(&str, &str)> = records
        .iter()
        .filter_map(|r| {
            let from = r["headers"]["herald-republished-from"].as_str()?;
            Some((from, r["event"]["data"]["id"].as_str().unwrap()))
        })
        .collect();
    copies.sort();
    assert_eq!(
        copies,
        [("orders.dlq/0/0", "bad1"), ("orders.dlq/0/1", "bad2")]
    );
    assert!(records
        .iter()
        .all(|r| r["headers"]["herald-error-reason"].is_null()));

    let missing = herald(&b, &["dlq", "replay", "orders.dlq", "--offset", "9"], "");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no dead letter"));
    let neither = herald(&b, &["dlq", "replay", "orders.dlq"], "");
    assert_eq!(
        neither.status.code(),
        Some(2),
        "--offset or --all is required"
    );
    runtime.block_on(broker.shutdown()).unwrap();
}
