//! Runs the real `herald broker` binary on a free loopback port and finds its address in the ready line.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a broker may take to print its ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A `herald broker` child process.
pub struct BrokerProcess {
    pub child: Child,
    pub address: SocketAddr,
}

impl BrokerProcess {
    /// Starts `herald broker --listen 127.0.0.1:0 --data-dir DIR` plus `extra` flags and waits for its
    /// ready line.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_at("127.0.0.1:0", data_dir, extra)
    }

    /// Like `start`, on `listen` (e.g. the address of a killed broker, so that clients reconnect to
    /// the restarted one; the listener sets SO_REUSEADDR).
    // The child is waited for in every path: by `Drop` once wrapped, and before the panic if it never
    // becomes ready.
    #[allow(clippy::zombie_processes)]
    pub fn start_at(listen: &str, data_dir: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["broker", "--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn herald broker");
        let stderr = child.stderr.take().unwrap();
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        // Keeps draining stderr for the child's whole life so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[broker] {line}");
                let _ = lines_tx.send(line);
            }
        });
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines_rx.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("herald broker printed no ready line within {READY_TIMEOUT:?}");
            };
            if line.contains("ready") {
                if let Some(address) = address_in(&line) {
                    return Self { child, address };
                }
            }
        }
    }

    /// `host:port` for `-b`.
    pub fn bootstrap(&self) -> String {
        self.address.to_string()
    }

    /// Sends `signal` (e.g. "TERM", "KILL") and waits for the process to exit; returns its exit code.
    pub fn stop_with(mut self, signal: &str) -> Option<i32> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
        self.child.wait().expect("wait for herald broker").code()
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first token of `line` that parses as a socket address (after stripping `key=` and quotes).
fn address_in(line: &str) -> Option<SocketAddr> {
    line.split(|c: char| c.is_whitespace() || c == '=' || c == '"')
        .find_map(|token| token.trim_matches(|c| c == ',' || c == ';').parse().ok())
}

/// Runs kcat with `args`, feeding `stdin`, and returns stdout; panics with stderr if kcat fails.
pub fn kcat(args: &[&str], stdin: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("kcat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat is not installed: apt-get install kcat");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "kcat {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// splitmix64: a seeded schedule for the kill -9 tests, without a dev-dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// The seed in the environment variable `var` (to replay a run), else one from the clock.
pub fn seed_from_env(var: &str) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// Client options the kill -9 tests share: reconnect fast to the restarted broker (librdkafka's
/// default backoff climbs to 10 s, longer than a whole uptime window).
pub fn fast_reconnect_config(bootstrap: &str) -> rdkafka::ClientConfig {
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "200");
    config
}
