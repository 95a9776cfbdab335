//! `herald console` as a process: it serves the cluster's pages on the address it prints and stops
//! cleanly on SIGTERM; a writable console on a non-loopback address without auth is refused.
#![allow(clippy::unwrap_used)]

use std::io::BufRead;
use std::process::{Command, Stdio};

use herald_broker::{Broker, BrokerConfig};

// It prints its URL, serves the overview for the cluster, and exits 0 on SIGTERM.
#[test]
fn console_serves_the_cluster_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let broker = runtime
        .block_on(Broker::start(BrokerConfig::for_tests(dir.path())))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--brokers", &broker.bootstrap_servers()])
        .args(["console", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut first = String::new();
    // Kept open until the end: the console prints again when it stops.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_string();
    let page = runtime.block_on(async {
        let response = reqwest::get(format!("{url}/")).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    });
    assert_eq!(page.0, 200, "{}", page.1);
    assert!(page.1.contains("herald console"));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "a clean stop exits 0");
    drop(stdout);
    runtime.block_on(broker.shutdown()).unwrap();
}

// Anyone who can reach a non-loopback address could change the cluster: refused without auth.
#[test]
fn writable_console_on_a_public_address_needs_auth() {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "--brokers",
            "127.0.0.1:9",
            "console",
            "--listen",
            "0.0.0.0:0",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--auth-users"), "{stderr}");
}
