//! `herald acls list|add|remove`, the real binary against an in-process herald-broker (and once
//! against `herald broker`) with SASL users and an ACL file, logged in through `-X sasl.*` as a real
//! cluster would need: a binding added is listed (table and JSON) and enforced at once, removing it
//! takes it back, a binding of the ACL file cannot be removed (the broker's reason, exit 1), a broker
//! without `--acl` is a clear SECURITY_DISABLED error, and flag mistakes are usage errors (exit 2).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::BrokerProcess;
use herald_broker::api::acl_fields::SECURITY_DISABLED_MESSAGE;
use herald_broker::auth::users::{credential_line, Mechanism};
use herald_broker::{Broker, BrokerConfig, BrokerHandle};
use serde_json::Value;

const ALICE_PASSWORD: &str = "alice-secret";
const BOB_PASSWORD: &str = "bob-secret";

/// alice administers everything; bob has nothing until a test grants it.
const ACL_FILE: &str = "
User:alice  cluster  *  all
User:alice  topic    *  all
";

/// Writes a users file (alice, bob) and the ACL file above into `dir`; returns their paths.
fn write_files(dir: &Path) -> (PathBuf, PathBuf) {
    let users = dir.join("users.txt");
    let lines = [
        credential_line("alice", Mechanism::Plain, ALICE_PASSWORD),
        credential_line("bob", Mechanism::Plain, BOB_PASSWORD),
    ];
    std::fs::write(&users, lines.join("\n")).unwrap();
    let acl = dir.join("acl.txt");
    std::fs::write(&acl, ACL_FILE).unwrap();
    (users, acl)
}

/// A broker on port 0 with SASL users alice and bob and, when `acl`, the ACL file above; data and
/// files in `dir`.
fn start_broker(runtime: &tokio::runtime::Runtime, dir: &Path, acl: bool) -> BrokerHandle {
    let (users, acl_path) = write_files(dir);
    let mut config = BrokerConfig::for_tests(dir.join("data"));
    config.sasl_users = Some(users);
    config.acl = acl.then_some(acl_path);
    runtime.block_on(Broker::start(config)).unwrap()
}

/// Runs `herald COMMAND` (split on whitespace) against `bootstrap`, logged in as `user` with SASL
/// PLAIN through `-X`, as against a real cluster.
fn herald_as(bootstrap: &str, user: &str, command: &str) -> Output {
    let password = if user == "alice" {
        ALICE_PASSWORD
    } else {
        BOB_PASSWORD
    };
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(command.split_whitespace())
        .args(["--brokers", bootstrap, "--timeout", "10s"])
        .args(["-X", "security.protocol=SASL_PLAINTEXT"])
        .args(["-X", "sasl.mechanism=PLAIN"])
        .args(["-X", &format!("sasl.username={user}")])
        .args(["-X", &format!("sasl.password={password}")])
        .output()
        .unwrap()
}

/// Like [`herald_as`] but requires exit 0 and returns stdout.
fn ok_as(bootstrap: &str, user: &str, command: &str) -> String {
    let output = herald_as(bootstrap, user, command);
    assert!(
        output.status.success(),
        "herald {command} as {user} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The JSON list of `herald acls list --output json FILTERS`, as alice.
fn listed(bootstrap: &str, filters: &str) -> Vec<Value> {
    let command = format!("acls list --output json {filters}");
    json(&ok_as(bootstrap, "alice", &command))
        .as_array()
        .unwrap()
        .clone()
}

fn is_bobs_prefixed_describe(binding: &Value) -> bool {
    binding["principal"] == "User:bob"
        && binding["permission"] == "allow"
        && binding["operation"] == "describe"
        && binding["resource_type"] == "topic"
        && binding["pattern_type"] == "prefixed"
        && binding["resource_name"] == "orders."
        && binding["host"] == "*"
}

// alice grants bob DESCRIBE on every topic starting with `orders.`: the binding is listed (table and
// JSON, and by filters), bob can describe orders.eu at once, and removing it takes it back.
#[test]
fn added_binding_is_listed_enforced_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let broker = start_broker(&runtime, dir.path(), true);
    let b = &broker.bootstrap_servers();
    ok_as(b, "alice", "topics create orders.eu");
    let refused = herald_as(b, "bob", "topics describe orders.eu");
    assert_eq!(refused.status.code(), Some(1), "bob has no grant yet");

    let grant =
        "acls add --allow --principal User:bob --operation describe --topic orders. --prefixed";
    let added = ok_as(b, "alice", grant);
    assert!(
        added.contains("User:bob") && added.contains("prefixed"),
        "{added}"
    );

    let table = ok_as(b, "alice", "acls list");
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("PRINCIPAL") && header.contains("RESOURCE TYPE"),
        "{table}"
    );
    let row = [
        "User:bob", "allow", "describe", "topic", "prefixed", "orders.", "*",
    ];
    assert!(
        table.lines().any(|line| line.split_whitespace().eq(row)),
        "{table}"
    );
    let all = listed(b, "");
    assert!(all.iter().any(is_bobs_prefixed_describe), "{all:?}");
    let file_binding =
        |acl: &Value| acl["resource_type"] == "cluster" && acl["principal"] == "User:alice";
    assert!(
        all.iter().any(file_binding),
        "the file's bindings are listed too: {all:?}"
    );
    let bobs = listed(b, "--principal User:bob --resource-type topic");
    assert_eq!(bobs.len(), 1, "{bobs:?}");
    let matching = listed(b, "--resource orders.eu --pattern match");
    assert!(
        matching.iter().any(is_bobs_prefixed_describe),
        "{matching:?}"
    );

    let described = ok_as(b, "bob", "topics describe orders.eu --output json");
    assert_eq!(json(&described)["topic"], "orders.eu");

    let revoke = "acls remove --principal User:bob --topic orders. --prefixed --operation any";
    let removed = json(&ok_as(b, "alice", &format!("{revoke} --output json")));
    let removed = removed["removed"].as_array().unwrap();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(is_bobs_prefixed_describe(&removed[0]));
    assert!(!listed(b, "").iter().any(is_bobs_prefixed_describe));
    let refused = herald_as(b, "bob", "topics describe orders.eu");
    assert_eq!(refused.status.code(), Some(1), "the grant is gone");
    runtime.block_on(broker.shutdown()).unwrap();
}

// The same round trip against the broker `herald broker --sasl-users FILE --acl FILE` runs.
#[test]
fn round_trip_against_herald_broker_process() {
    let dir = tempfile::tempdir().unwrap();
    let (users, acl) = write_files(dir.path());
    let broker = BrokerProcess::start(
        &dir.path().join("data"),
        &[
            "--sasl-users",
            users.to_str().unwrap(),
            "--acl",
            acl.to_str().unwrap(),
        ],
    );
    let b = &broker.bootstrap();
    ok_as(
        b,
        "alice",
        "acls add --allow --principal User:bob --operation read --group mailer",
    );
    let groups = listed(b, "--resource-type group");
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0]["resource_name"], "mailer");
    let removed = ok_as(b, "alice", "acls remove --group mailer");
    assert!(removed.contains("mailer"), "{removed}");
    assert!(listed(b, "--resource-type group").is_empty());
}

// A deny binding is added and listed as a deny; the ACL file's own cluster binding cannot be removed:
// exit 1 with the broker's reason (naming the file), and it is still listed.
#[test]
fn deny_is_listed_and_file_bindings_stay() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let broker = start_broker(&runtime, dir.path(), true);
    let b = &broker.bootstrap_servers();
    let deny = "acls add --deny --principal User:bob --operation read,write --topic audit";
    ok_as(b, "alice", deny);
    let denies = listed(b, "--principal User:bob");
    let mut operations: Vec<&str> = denies
        .iter()
        .filter(|acl| acl["permission"] == "deny" && acl["pattern_type"] == "literal")
        .map(|acl| acl["operation"].as_str().unwrap())
        .collect();
    operations.sort();
    assert_eq!(operations, ["read", "write"], "{denies:?}");

    let refused = herald_as(b, "alice", "acls remove --cluster --operation any");
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("acl.txt") && stderr.contains("refused"),
        "{stderr}"
    );
    let cluster = listed(b, "--resource-type cluster");
    assert_eq!(cluster.len(), 1, "the file's binding stays: {cluster:?}");
    runtime.block_on(broker.shutdown()).unwrap();
}

// Without `--acl` the broker answers SECURITY_DISABLED, and the CLI says so (exit 1, the broker's
// message) instead of printing an empty list.
#[test]
fn broker_without_acls_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let broker = start_broker(&runtime, dir.path(), false);
    let b = &broker.bootstrap_servers();
    for command in [
        "acls list",
        "acls add --allow --principal User:bob --operation read --topic t",
        "acls remove --topic t",
    ] {
        let output = herald_as(b, "alice", command);
        assert_eq!(output.status.code(), Some(1), "{command}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(SECURITY_DISABLED_MESSAGE),
            "{command}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{command}: nothing on stdout");
    }
    runtime.block_on(broker.shutdown()).unwrap();
}

// Missing, conflicting or malformed flags are usage errors (exit 2) found before any broker is asked.
#[test]
fn flag_mistakes_are_usage_errors() {
    let bob_reads = "--principal User:bob --operation read";
    let cases = [
        format!("acls add {bob_reads} --topic t"), // neither --allow nor --deny
        format!("acls add --allow --deny {bob_reads} --topic t"),
        format!("acls add --allow {bob_reads} --topic t --group g"),
        format!("acls add --allow {bob_reads}"), // no resource
        format!("acls add --allow {bob_reads} --cluster --prefixed"),
        "acls add --allow --principal bob --operation read --topic t".to_string(),
        "acls add --allow --principal User:bob --operation any --topic t".to_string(),
        "acls add --allow --principal User:bob --operation fly --topic t".to_string(),
        "acls list --pattern sometimes".to_string(),
        "acls remove --operation read".to_string(),
    ];
    for command in &cases {
        let output = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(command.split_whitespace())
            .args(["--brokers", "127.0.0.1:9"])
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
