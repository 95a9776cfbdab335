//! The real `herald` binary against herald-broker: topics, produce, consume, groups, and the error
//! paths (unknown topic, unreachable broker, bad flag). Each scenario runs against a broker started
//! in-process and against one started by `herald broker`, so both embeddings are covered.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::BrokerProcess;
use herald_broker::{Broker, BrokerConfig};
use serde_json::Value;

/// Runs `herald ARGS --brokers BOOTSTRAP` with `stdin`, returning its output.
fn herald(bootstrap: &str, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
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
    child.wait_with_output().unwrap()
}

/// Like [`herald`] but requires success and returns stdout.
fn herald_ok(bootstrap: &str, args: &[&str], stdin: &str) -> String {
    let output = herald(bootstrap, args, stdin);
    assert!(
        output.status.success(),
        "herald {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Topics: create with a config, list, describe, refuse a duplicate, delete, refuse an unknown one.
fn topics_scenario(b: &str) {
    herald_ok(
        b,
        &[
            "topics",
            "create",
            "orders",
            "--partitions",
            "3",
            "--config",
            "retention.ms=3600000",
        ],
        "",
    );
    let list = json(&herald_ok(b, &["topics", "list", "--output", "json"], ""));
    let orders = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == "orders")
        .unwrap();
    assert_eq!(orders["partitions"], 3);

    let describe = json(&herald_ok(
        b,
        &["topics", "describe", "orders", "--output", "json"],
        "",
    ));
    assert_eq!(describe["partitions"].as_array().unwrap().len(), 3);
    assert_eq!(describe["configs"]["retention.ms"]["value"], "3600000");

    let duplicate = herald(b, &["topics", "create", "orders"], "");
    assert_eq!(duplicate.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("orders"));

    herald_ok(b, &["topics", "delete", "orders"], "");
    let list = json(&herald_ok(b, &["topics", "list", "--output", "json"], ""));
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["topic"] != "orders"));

    let unknown = herald(b, &["topics", "describe", "no_such_topic"], "");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("does not exist"));
}

/// Produce wraps lines as CloudEvents keyed by id; consume decodes them and the Rails shape; a group
/// that consumed everything has no lag, and lag grows with new records.
fn produce_consume_groups_scenario(b: &str) {
    herald_ok(
        b,
        &["topics", "create", "user_activity", "--partitions", "2"],
        "",
    );
    let input = "{\"id\":\"u1\",\"email\":\"a@example.com\"}\n{\"id\":\"u2\",\"email\":\"b@example.com\"}\n";
    let produced = herald_ok(
        b,
        &[
            "produce",
            "user_activity",
            "--type",
            "user_created",
            "--output",
            "json",
        ],
        input,
    );
    assert_eq!(
        produced.lines().count(),
        2,
        "one line per record: {produced}"
    );
    let rails = r#"{"name":"user_created","data":{"id":"0192f5a4-5b6c-7d8e-9f00-112233445566","email":"c@example.com"}}"#;
    herald_ok(
        b,
        &["produce", "user_activity", "--key", "u3"],
        &format!("{rails}\n"),
    );

    let consumed = herald_ok(
        b,
        &[
            "consume",
            "user_activity",
            "--from",
            "earliest",
            "--until-end",
            "--format",
            "json",
        ],
        "",
    );
    let records: Vec<Value> = consumed.lines().map(json).collect();
    assert_eq!(records.len(), 3, "{consumed}");
    let mut emails: Vec<&str> = records
        .iter()
        .map(|r| r["event"]["data"]["email"].as_str().unwrap())
        .collect();
    emails.sort();
    assert_eq!(emails, ["a@example.com", "b@example.com", "c@example.com"]);
    assert!(records.iter().all(|r| r["event"]["type"] == "user_created"));
    let u1 = records.iter().find(|r| r["key"] == "u1").unwrap();
    assert_eq!(u1["headers"]["ce_source"], "herald-cli");

    let one = herald_ok(
        b,
        &[
            "consume",
            "user_activity",
            "--from",
            "earliest",
            "--max",
            "1",
            "--format",
            "raw",
        ],
        "",
    );
    assert_eq!(one.lines().count(), 1);

    herald_ok(
        b,
        &[
            "consume",
            "user_activity",
            "--group",
            "mailer",
            "--from",
            "earliest",
            "--until-end",
            "--format",
            "raw",
        ],
        "",
    );
    let groups = json(&herald_ok(b, &["groups", "list", "--output", "json"], ""));
    assert!(
        groups
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["group"] == "mailer"),
        "{groups}"
    );
    let described = json(&herald_ok(
        b,
        &["groups", "describe", "mailer", "--output", "json"],
        "",
    ));
    assert_eq!(described["total_lag"], 0, "{described}");

    herald_ok(
        b,
        &["produce", "user_activity", "--key", "u4"],
        "{\"n\":4}\n{\"n\":5}\n",
    );
    let described = json(&herald_ok(
        b,
        &["groups", "describe", "mailer", "--output", "json"],
        "",
    ));
    assert_eq!(described["total_lag"], 2, "{described}");
}

/// Reset: a dry run changes nothing, a reset to earliest replays everything into the group, and a reset
/// of a group with a live member is refused with a reason.
fn reset_scenario(b: &str) {
    herald_ok(
        b,
        &["produce", "ledger", "--key", "k"],
        "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n",
    );
    let read_as_group = || {
        herald_ok(
            b,
            &[
                "consume",
                "ledger",
                "--group",
                "books",
                "--from",
                "earliest",
                "--until-end",
                "--format",
                "raw",
            ],
            "",
        )
        .lines()
        .count()
    };
    assert_eq!(read_as_group(), 3);
    assert_eq!(
        read_as_group(),
        0,
        "a group resumes from its committed offsets"
    );

    let dry = json(&herald_ok(
        b,
        &[
            "groups",
            "reset",
            "books",
            "--topic",
            "ledger",
            "--to",
            "earliest",
            "--dry-run",
            "--output",
            "json",
        ],
        "",
    ));
    assert_eq!(dry["partitions"][0]["previous_offset"], 3);
    assert_eq!(dry["partitions"][0]["new_offset"], 0);
    assert_eq!(read_as_group(), 0, "a dry run commits nothing");

    herald_ok(b, &["replay", "books", "--topic", "ledger"], "");
    assert_eq!(
        read_as_group(),
        3,
        "replay hands the whole history to the group again"
    );
    herald_ok(
        b,
        &["groups", "reset", "books", "--topic", "ledger", "--to", "1"],
        "",
    );
    assert_eq!(read_as_group(), 2);

    // A member that stays: the reset must be refused while it lives.
    let mut live = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "consume",
            "ledger",
            "--group",
            "books",
            "--format",
            "raw",
            "--brokers",
            b,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let described = json(&herald_ok(
            b,
            &["groups", "describe", "books", "--output", "json"],
            "",
        ));
        if described["members"]
            .as_array()
            .is_some_and(|m| m.len() == 1)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the live member never joined: {described}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let refused = herald(
        b,
        &[
            "groups", "reset", "books", "--topic", "ledger", "--to", "earliest",
        ],
        "",
    );
    live.kill().unwrap();
    live.wait().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("live member"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

fn all_scenarios(bootstrap: &str) {
    topics_scenario(bootstrap);
    produce_consume_groups_scenario(bootstrap);
    reset_scenario(bootstrap);
}

// Every command works against a broker embedded in this test process.
#[test]
fn commands_against_in_process_broker() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let broker = runtime
        .block_on(Broker::start(BrokerConfig::for_tests(dir.path())))
        .unwrap();
    all_scenarios(&broker.bootstrap_servers());
    runtime.block_on(broker.shutdown()).unwrap();
}

// Every command works against the broker that `herald broker` runs.
#[test]
fn commands_against_herald_broker_process() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path(), &[]);
    all_scenarios(&broker.bootstrap());
}

// An unreachable broker fails within the timeout with exit 1 and a one-line reason naming it.
#[test]
fn unreachable_broker_is_a_clear_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let started = Instant::now();
    let output = herald(&closed, &["topics", "list", "--timeout", "2s"], "");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&closed),
        "reason should name the brokers: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

// A bad flag is a usage error: exit 2.
#[test]
fn bad_flag_is_a_usage_error() {
    let output = herald(
        "127.0.0.1:9",
        &["topics", "create", "t", "--partitions", "zero"],
        "",
    );
    assert_eq!(output.status.code(), Some(2));
    let output = herald("127.0.0.1:9", &["consume", "t", "--from", "yesterday"], "");
    assert_eq!(output.status.code(), Some(2));
}
