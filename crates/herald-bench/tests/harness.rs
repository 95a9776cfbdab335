//! The whole harness at a tiny size against real servers: herald (as a child process), redis-server
//! and nats-server, at both durability classes.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::process::Command;

const WORKLOAD_ROWS: [&str; 6] = [
    "produce 100 B",
    "consume 100 B",
    "produce 1 KiB",
    "consume 1 KiB",
    "e2e latency at 2000 records/s",
    "8 producers + 8 consumers, 8 partitions",
];

// A tiny run writes both reports with every system and workload present and nothing lost.
#[test]
fn tiny_run_reports_every_system_and_workload_with_matching_counts() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_herald-bench"))
        .args([
            "--records",
            "2000",
            "--latency-seconds",
            "1",
            "--latency-rate",
            "2000",
        ])
        .args(["--partitions", "8", "--embedded-herald", "--out-dir"])
        .arg(out.path())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "herald-bench failed: {status}");

    let markdown = std::fs::read_to_string(out.path().join("latest.md")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("latest.json")).unwrap())
            .unwrap();
    assert!(json["machine"]["cores"].as_u64().unwrap() > 0);
    assert!(json["machine"]["redis_version"]
        .as_str()
        .unwrap()
        .contains("v=7"));

    let rows = json["measurements"].as_array().unwrap();
    let mut seen = BTreeSet::new();
    for row in rows {
        let workload = row["workload"].as_str().unwrap().to_owned();
        let kind = row["target"]["kind"].as_str().unwrap().to_owned();
        let durability = row["target"]["durability"].as_str().unwrap().to_owned();
        assert!(
            row["error"].is_null(),
            "{kind}/{durability}/{workload}: {}",
            row["error"]
        );
        let produced = row["records_produced"].as_u64().unwrap();
        assert!(
            produced > 0,
            "{kind}/{durability}/{workload} produced nothing"
        );
        assert_eq!(
            produced,
            row["records_consumed"].as_u64().unwrap(),
            "{kind}/{durability}/{workload}"
        );
        assert!(row["records_per_second"].as_f64().unwrap() > 0.0);
        assert!(row["server_peak_rss_kib"].as_u64().unwrap() > 0);
        if workload.starts_with("e2e") {
            assert!(row["latency_p99_us"].as_u64().unwrap() > 0);
        }
        assert!(markdown.contains(&workload));
        seen.insert((kind, durability, workload));
    }
    for kind in ["herald", "redis", "nats"] {
        for durability in ["equal", "relaxed"] {
            for workload in WORKLOAD_ROWS {
                let key = (kind.to_owned(), durability.to_owned(), workload.to_owned());
                assert!(seen.contains(&key), "missing {key:?}");
            }
        }
    }
    assert_eq!(rows.len(), 3 * 2 * WORKLOAD_ROWS.len());
}
