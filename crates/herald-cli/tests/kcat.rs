//! kcat (librdkafka's command-line client) against the real `herald broker` binary: metadata, keyed
//! produce, consume to the end, a clean SIGTERM stop, restart on the same data, and kill -9 durability.
#![allow(clippy::unwrap_used)]

mod common;

use common::{kcat, BrokerProcess};

/// `count` keyed lines `user-N:{"n":N}` as kcat's `-K:` input expects.
fn keyed_lines(count: usize) -> String {
    (0..count)
        .map(|n| format!("user-{n}:{{\"n\":{n}}}\n"))
        .collect()
}

fn read_all(bootstrap: &str, topic: &str) -> String {
    kcat(
        &[
            "-b",
            bootstrap,
            "-C",
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%k:%s\n",
        ],
        b"",
    )
}

// kcat lists the broker, produces a file of keyed messages and reads back exactly that file; after a
// SIGTERM (exit 0) and a restart on the same directory the data is still all there.
#[test]
fn kcat_round_trip_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();

    let metadata = kcat(&["-b", &bootstrap, "-L"], b"");
    assert!(
        metadata.contains("1 brokers"),
        "unexpected metadata: {metadata}"
    );

    let input = keyed_lines(500);
    kcat(
        &["-b", &bootstrap, "-P", "-t", "kcat_round_trip", "-K:"],
        input.as_bytes(),
    );
    assert_eq!(read_all(&bootstrap, "kcat_round_trip"), input);

    assert_eq!(
        broker.stop_with("TERM"),
        Some(0),
        "SIGTERM must stop the broker with exit 0"
    );

    let broker = BrokerProcess::start(dir.path(), &[]);
    assert_eq!(read_all(&broker.bootstrap(), "kcat_round_trip"), input);
}

// With the default flush policy every message kcat got an acknowledgement for (acks=all) is still there
// after the broker is killed with SIGKILL and restarted.
#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let input = keyed_lines(2_000);
    kcat(
        &[
            "-b",
            &broker.bootstrap(),
            "-P",
            "-t",
            "kill_nine",
            "-K:",
            "-X",
            "acks=all",
        ],
        input.as_bytes(),
    );
    assert_eq!(
        broker.stop_with("KILL"),
        None,
        "SIGKILL leaves no exit code"
    );

    let broker = BrokerProcess::start(dir.path(), &[]);
    assert_eq!(read_all(&broker.bootstrap(), "kill_nine"), input);
}

// Two kcat balanced consumers (-G) in one group split a 3-partition topic between them and together read
// every record.
#[test]
fn kcat_balanced_consumers_share_a_topic() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path(), &["--default-partitions", "3"]);
    let bootstrap = broker.bootstrap();
    let input = keyed_lines(300);
    kcat(
        &["-b", &bootstrap, "-P", "-t", "balanced", "-K:"],
        input.as_bytes(),
    );

    let member = || {
        Command::new("kcat")
            .args([
                "-b",
                &bootstrap,
                "-G",
                "kcat_group",
                "-o",
                "beginning",
                "-e",
                "-q",
            ])
            .args(["-f", "%p %k:%s\n", "balanced"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kcat is not installed: apt-get install kcat")
    };
    let (first, second) = (member(), member());
    let mut keys = std::collections::BTreeSet::new();
    for child in [first, second] {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for line in String::from_utf8(output.stdout).unwrap().lines() {
            let (_partition, record) = line.split_once(' ').unwrap();
            keys.insert(record.to_string());
        }
    }
    let expected: std::collections::BTreeSet<String> = input.lines().map(str::to_string).collect();
    assert_eq!(keys, expected, "the group as a whole read every record");
}
