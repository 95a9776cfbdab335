//! `herald demo` end to end: the real binary starts the broker and the three services as processes,
//! kills and restarts them, and must report every check passed.

use std::process::Command;

// Proves the demo's walk-through (outbox through outages, catch-up, replay, delete, compaction,
// bootstrap from the compacted topic, database comparison) passes every check and exits 0, within
// its time budget.
#[test]
fn demo_passes_every_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["demo", "--users", "10", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("running herald demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "demo failed\n{stdout}\n{stderr}");
    let summary = stdout
        .lines()
        .find(|line| line.starts_with("checks: "))
        .unwrap_or_else(|| panic!("no check summary\n{stdout}"));
    assert!(summary.contains(" 0 failed"), "{summary}");
    assert!(summary.starts_with("checks: 18 passed"), "{summary}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(started.elapsed().as_secs() < 120, "demo too slow: {stdout}");
}
