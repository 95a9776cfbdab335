//! The soak harness at a small size: a broker child process (`herald-bench serve-herald`), 200 client
//! connections producing and consuming for 15 s, then the report's figures checked.
#![allow(clippy::unwrap_used)]

use std::process::Command;

const CONNECTIONS: u64 = 200;

// A short soak loses nothing, reports no error, opens the expected connections and keeps the broker's
// descriptors and heap bounded.
#[test]
fn short_soak_loses_nothing_and_stays_bounded() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_herald-bench"))
        .args(["soak", "--connections", &CONNECTIONS.to_string()])
        .args(["--duration", "15", "--warmup", "5", "--sample-seconds", "1"])
        .args(["--ramp-seconds", "2"])
        .args(["--rate", "2000", "--partitions", "20", "--embedded-herald"])
        .arg("--out-dir")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "soak failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("soak.json")).unwrap())
            .unwrap();
    let summary = &json["summary"];
    let number = |key: &str| summary[key].as_u64().unwrap_or_else(|| panic!("{key}"));

    assert_eq!(number("delivery_errors"), 0, "{summary}");
    assert_eq!(number("consumer_errors"), 0, "{summary}");
    assert_eq!(number("client_errors"), 0, "{summary}");
    assert_eq!(number("consumers_mismatched"), 0, "{summary}");
    assert!(number("records_produced") > 1_000, "{summary}");
    assert!(number("records_expected") >= number("records_produced"));
    assert_eq!(
        number("records_consumed"),
        number("records_expected"),
        "{summary}"
    );

    // Every client connection is open at once, and descriptors stay within them plus a constant.
    let connections = number("client_connections_at_warmup_end");
    assert!(
        (CONNECTIONS..=CONNECTIONS + 4).contains(&connections),
        "{connections} connections: {summary}"
    );
    let fds_max = number("fds_max");
    assert!(fds_max <= CONNECTIONS + 128, "{fds_max} fds: {summary}");
    assert!(number("fds_max_after_warmup") - number("fds_min_after_warmup") <= 4);

    // The broker's heap after the warm-up grows by far less than the data written (a generous bound:
    // a debug build on a shared machine).
    let growth = summary["rss_anon_growth_kib"].as_i64().unwrap();
    assert!(growth < 64 * 1024, "heap grew {growth} KiB: {summary}");
    assert!(json["samples"].as_array().unwrap().len() >= 10);
    assert!(std::fs::read_to_string(out.path().join("soak.md"))
        .unwrap()
        .contains("RSS at warm-up end"));
}
