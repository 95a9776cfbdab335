//! `herald topics alter` (IncrementalAlterConfigs SET / DELETE / validate-only) and `herald topics
//! purge` (DeleteRecords before an offset or a time) through the real binary against an in-process
//! broker, with kcat producing the records.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output};

use common::kcat;
use herald_broker::{Broker, BrokerConfig};
use serde_json::Value;

fn herald(bootstrap: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .args(["--brokers", bootstrap])
        .output()
        .unwrap()
}

fn herald_json(bootstrap: &str, args: &[&str]) -> Value {
    let output = herald(bootstrap, args);
    assert!(
        output.status.success(),
        "herald {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn config(bootstrap: &str, topic: &str, name: &str) -> (String, bool) {
    let described = herald_json(
        bootstrap,
        &["topics", "describe", topic, "--output", "json"],
    );
    let entry = &described["configs"][name];
    (
        entry["value"].as_str().unwrap().to_string(),
        entry["default"].as_bool().unwrap(),
    )
}

/// (old, new) log start offsets per partition from `herald topics purge --output json`.
fn purged(bootstrap: &str, topic: &str, before: &str) -> Vec<(i64, i64)> {
    let out = herald_json(
        bootstrap,
        &[
            "topics", "purge", topic, "--before", before, "--output", "json",
        ],
    );
    out["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["old_log_start_offset"].as_i64().unwrap(),
                p["new_log_start_offset"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn alter_and_purge(b: &str) {
    let created = herald(b, &["topics", "create", "events", "--partitions", "2"]);
    assert!(created.status.success());

    // SET two configs, then DELETE one: the other override stays (incremental, not replace-all).
    herald_json(
        b,
        &[
            "topics",
            "alter",
            "events",
            "--config",
            "compression.type=zstd",
            "--config",
            "retention.ms=60000",
            "--output",
            "json",
        ],
    );
    assert_eq!(
        config(b, "events", "compression.type"),
        ("zstd".into(), false)
    );
    assert_eq!(config(b, "events", "retention.ms"), ("60000".into(), false));
    herald_json(
        b,
        &[
            "topics",
            "alter",
            "events",
            "--delete-config",
            "retention.ms",
            "--output",
            "json",
        ],
    );
    assert_eq!(
        config(b, "events", "retention.ms"),
        ("604800000".into(), true)
    );
    assert_eq!(
        config(b, "events", "compression.type"),
        ("zstd".into(), false)
    );

    // validate-only changes nothing; an invalid value is refused with the broker's reason.
    let validated = herald_json(
        b,
        &[
            "topics",
            "alter",
            "events",
            "--config",
            "compression.type=lz4",
            "--validate-only",
            "--output",
            "json",
        ],
    );
    assert_eq!(validated["validated"], true);
    assert_eq!(
        config(b, "events", "compression.type"),
        ("zstd".into(), false)
    );
    let refused = herald(
        b,
        &[
            "topics",
            "alter",
            "events",
            "--config",
            "compression.type=brotli",
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("compression.type"), "{stderr}");
    let empty = herald(b, &["topics", "alter", "events"]);
    assert_eq!(empty.status.code(), Some(1));

    // purge: 10 records in each partition; before offset 4, then a week ago (nothing that old:
    // nothing moves), then a time after every record (up to the high watermark).
    for partition in ["0", "1"] {
        let lines: String = (0..10).map(|i| format!("k{i}:v{i}\n")).collect();
        kcat(
            &["-b", b, "-P", "-t", "events", "-p", partition, "-K:"],
            lines.as_bytes(),
        );
    }
    assert_eq!(purged(b, "events", "4"), vec![(0, 4), (0, 4)]);
    assert_eq!(purged(b, "events", "7d"), vec![(4, 4), (4, 4)]);
    let read = kcat(
        &[
            "-b",
            b,
            "-C",
            "-t",
            "events",
            "-p",
            "0",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%o\\n",
        ],
        b"",
    );
    assert_eq!(
        read.lines().next(),
        Some("4"),
        "kcat starts at the new log start"
    );
    assert_eq!(
        purged(b, "events", "2100-01-01T00:00:00Z"),
        vec![(4, 10), (4, 10)]
    );
    let bad = herald(b, &["topics", "purge", "events", "--before", "soon"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "clap refuses an unparsable --before"
    );
}

// alter and purge work against a broker embedded in this test process.
#[test]
fn topics_alter_and_purge() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let broker = runtime
        .block_on(Broker::start(BrokerConfig::for_tests(dir.path())))
        .unwrap();
    alter_and_purge(&broker.bootstrap_servers());
    runtime.block_on(broker.shutdown()).unwrap();
}
