//! Static membership with real processes: two directory-service instances (`herald service
//! directory`) share a group; one is killed with SIGKILL and restarted under the same instance id.
//! It takes its partitions back without a rebalance of the other member, and catches up long before
//! the session timeout would have freed its partitions.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_broker::{Broker, BrokerConfig};

/// The members' session timeout: without static membership a killed member's partitions would wait
/// this long.
const SESSION_TIMEOUT_MS: u64 = 30_000;
/// Loose bound on the restarted member's catch-up (the demo's target is 1.5 s).
const CATCH_UP_BOUND: Duration = Duration::from_secs(10);
/// How long any other awaited condition may take.
const DEADLINE: Duration = Duration::from_secs(60);
/// Users produced before the kill and while the member is dead.
const USERS_PER_ROUND: usize = 20;

/// A directory-service process whose stderr lines are kept.
struct Instance {
    child: Child,
    url: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    fn start(brokers: &str, dir: &Path, instance: &str, port: u16) -> Instance {
        let listen = format!("127.0.0.1:{port}");
        let database = format!(
            "sqlite://{}?mode=rwc",
            dir.join(format!("{instance}.db")).display()
        );
        let session = SESSION_TIMEOUT_MS.to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args([
                "service",
                "directory",
                "--listen",
                &listen,
                "--database-url",
                &database,
            ])
            .args(["--group", "directory", "--instance-id", instance])
            .args(["--session-timeout-ms", &session, "--brokers", brokers])
            .env("RUST_LOG", "warn,herald::consumer=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        // Drains stderr for the child's whole life so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Instance {
            child,
            url: format!("http://{listen}"),
            lines,
        }
    }

    /// Rebalance callbacks this member logged so far.
    fn rebalances(&self) -> usize {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|l| l.contains("partitions assigned") || l.contains("partitions revoked"))
            .count()
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The user count an instance serves, `None` while it does not answer.
async fn count(http: &reqwest::Client, instance: &Instance) -> Option<i64> {
    let response = http
        .get(format!("{}/users", instance.url))
        .send()
        .await
        .ok()?;
    let body: serde_json::Value = response.json().await.ok()?;
    body["count"].as_i64()
}

async fn until(what: &str, deadline: Duration, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn produce_users(brokers: &str, from: usize) {
    let lines: String = (from..from + USERS_PER_ROUND)
        .map(|i| {
            format!(
                "{{\"id\":\"u{i}\",\"name\":\"User {i}\",\"email\":\"u{i}@example.com\",\
                 \"created_at\":\"2026-12-01T00:00:00Z\",\"updated_at\":\"2026-12-01T00:00:00Z\"}}\n"
            )
        })
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "produce",
            "user_activity",
            "--type",
            "user_created",
            "--brokers",
            brokers,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// A member killed with SIGKILL and restarted with its instance id gets its partitions back with no
// rebalance of the other member and catches up well within the session timeout.
#[test]
fn killed_static_member_restarts_without_a_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let broker = runtime
        .block_on(Broker::start(BrokerConfig::for_tests(
            dir.path().join("broker"),
        )))
        .unwrap();
    let b = broker.bootstrap_servers();
    let created = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "topics",
            "create",
            "user_activity",
            "--partitions",
            "2",
            "--brokers",
            &b,
        ])
        .status()
        .unwrap();
    assert!(created.success());
    let http = reqwest::Client::new();
    let (port_a, port_b) = (free_port(), free_port());
    let a = Instance::start(&b, dir.path(), "directory-a", port_a);
    let first_b = Instance::start(&b, dir.path(), "directory-b", port_b);
    runtime.block_on(async {
        // Both members hold a partition once each serves some of a round of users.
        let mut round = 0;
        until("both members to hold a partition", DEADLINE, async || {
            produce_users(&b, round * USERS_PER_ROUND);
            round += 1;
            let (x, y) = (count(&http, &a).await, count(&http, &first_b).await);
            tokio::time::sleep(Duration::from_millis(500)).await;
            x.unwrap_or(0) > 0 && y.unwrap_or(0) > 0
        })
        .await;
        let produced = (round * USERS_PER_ROUND) as i64;
        until("the first rounds to be consumed", DEADLINE, async || {
            let (x, y) = (count(&http, &a).await, count(&http, &first_b).await);
            x.unwrap_or(0) + y.unwrap_or(0) == produced
        })
        .await;
        let before = a.rebalances();
        first_b.kill();
        produce_users(&b, produced as usize);
        let b_again = Instance::start(&b, dir.path(), "directory-b", port_b);
        until("the restarted member to answer", DEADLINE, async || {
            count(&http, &b_again).await.is_some()
        })
        .await;
        let restarted = Instant::now();
        let want = produced + USERS_PER_ROUND as i64;
        until(
            "the restarted member to catch up",
            CATCH_UP_BOUND,
            async || {
                let (x, y) = (count(&http, &a).await, count(&http, &b_again).await);
                x.unwrap_or(0) + y.unwrap_or(0) == want
            },
        )
        .await;
        eprintln!("restarted member caught up in {:?}", restarted.elapsed());
        // Give a rebalance, were one coming, the time to reach the other member.
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(
            a.rebalances(),
            before,
            "the other member saw a rebalance: {:?}",
            a.lines.lock().unwrap()
        );
    });
    drop(a);
    runtime.block_on(broker.shutdown()).unwrap();
}
