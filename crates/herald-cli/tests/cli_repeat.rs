//! The command pairs that once printed nothing now and then on a busy machine: `topics list` right
//! after `topics create`, and `groups describe` right after `consume --group`. Each pair runs many
//! times against one `herald broker` process; every run must exit 0 and print the new topic or group.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output};

use common::BrokerProcess;
use serde_json::Value;

/// Bounded repetitions: enough to catch a 1-in-4 failure with near certainty (0.75^12 < 4%).
const RUNS: usize = 12;

fn herald(bootstrap: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .args(["--brokers", bootstrap])
        .output()
        .unwrap()
}

/// Stdout of a run that must succeed and print JSON; the failure message carries stderr.
fn json_ok(bootstrap: &str, args: &[&str]) -> Value {
    let output = herald(bootstrap, args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && !stdout.trim().is_empty(),
        "herald {args:?}: status {:?}, stdout {stdout:?}, stderr {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

// `topics list` right after `topics create` lists the new topic with its partitions, every time.
#[test]
fn topics_list_right_after_create_shows_the_topic() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let b = broker.bootstrap();
    for run in 0..RUNS {
        let name = format!("cli_t{run}");
        json_ok(
            &b,
            &[
                "topics",
                "create",
                &name,
                "--partitions",
                "3",
                "--output",
                "json",
            ],
        );
        let list = json_ok(&b, &["topics", "list", "--output", "json"]);
        let listed = list.as_array().unwrap().iter().find(|t| t["topic"] == name);
        assert_eq!(
            listed.map(|t| t["partitions"].clone()),
            Some(3.into()),
            "{list}"
        );
    }
}

// `groups describe` right after `consume --group` describes the group with nothing left to read.
#[test]
fn groups_describe_right_after_consume_shows_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let b = broker.bootstrap();
    json_ok(
        &b,
        &[
            "topics",
            "create",
            "cli_g",
            "--partitions",
            "2",
            "--output",
            "json",
        ],
    );
    let produce = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["produce", "cli_g", "--brokers", &b])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"{\"n\":1}\n{\"n\":2}\n")?;
            child.wait()
        })
        .unwrap();
    assert!(produce.success());
    for run in 0..RUNS {
        let group = format!("cli_group{run}");
        let consume = herald(
            &b,
            &[
                "consume",
                "cli_g",
                "--group",
                &group,
                "--from",
                "earliest",
                "--until-end",
                "--format",
                "raw",
            ],
        );
        assert!(consume.status.success(), "{consume:?}");
        let described = json_ok(&b, &["groups", "describe", &group, "--output", "json"]);
        assert_eq!(described["group"], group.as_str(), "{described}");
        assert_eq!(described["total_lag"], 0, "{described}");
    }
}
