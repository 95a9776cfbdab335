//! The example platform as child processes of `herald`: herald-broker (`herald broker`) and the
//! users, directory and mailer services (`herald service ...`), each a separate process of this same
//! binary on its own loopback port, with its data and log file under one directory.
//!
//! Used by `herald demo` (which kills and restarts pieces) and `herald up` (which leaves them
//! running). Main type: [`Platform`]. Not here: what the demo checks (`demo.rs`).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

/// How long a piece has to answer after it was started.
pub const START_TIMEOUT_MS: u64 = 20_000;
/// How long a clean stop may take before the process is killed.
pub const STOP_TIMEOUT_MS: u64 = 15_000;
/// Interval between two looks at a condition being awaited.
pub const POLL_INTERVAL_MS: u64 = 20;
/// The broker's retention and cleaner interval: short, so that the demo sees compaction within a
/// second (a few partitions make each look cheap).
pub const BROKER_RETENTION_CHECK_INTERVAL_MS: u64 = 200;

/// One piece of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Piece {
    /// herald-broker.
    Broker,
    /// users-service.
    Users,
    /// directory-service (group `directory`).
    Directory,
    /// mailer-service (group `mailer`).
    Mailer,
    /// A second directory-service, new group, empty database: bootstrapped by replay.
    Directory2,
    /// The web console (`herald console`), for `herald up`.
    Console,
}

impl Piece {
    /// Its name in logs and file names.
    pub fn name(self) -> &'static str {
        match self {
            Piece::Broker => "broker",
            Piece::Users => "users",
            Piece::Directory => "directory",
            Piece::Mailer => "mailer",
            Piece::Directory2 => "directory-2",
            Piece::Console => "console",
        }
    }
}

/// The platform's processes, addresses and files.
pub struct Platform {
    exe: PathBuf,
    dir: PathBuf,
    addresses: BTreeMap<Piece, SocketAddr>,
    children: BTreeMap<Piece, Child>,
    extra_args: BTreeMap<Piece, Vec<String>>,
    http: reqwest::Client,
}

/// A loopback address on `preferred` if it is free, else on any free port.
pub fn free_address(preferred: u16) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", preferred))
        .or_else(|_| TcpListener::bind("127.0.0.1:0"))
        .context("finding a free loopback port")?;
    Ok(listener.local_addr()?)
}

impl Platform {
    /// A platform with its data under `dir`; `preferred` ports are used when free (0: any).
    pub fn new(dir: &Path, preferred: &[(Piece, u16)]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir.join("logs"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let mut addresses = BTreeMap::new();
        for (piece, port) in preferred {
            addresses.insert(*piece, free_address(*port)?);
        }
        Ok(Platform {
            exe: std::env::current_exe().context("locating the herald binary")?,
            dir: dir.to_path_buf(),
            addresses,
            children: BTreeMap::new(),
            extra_args: BTreeMap::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
        })
    }

    /// Flags added to `piece`'s command line from its next start on.
    pub fn set_extra_args(&mut self, piece: Piece, args: &[&str]) {
        self.extra_args
            .insert(piece, args.iter().map(|a| (*a).to_string()).collect());
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The HTTP client used for every call.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `host:port` of the broker.
    pub fn brokers(&self) -> String {
        self.address(Piece::Broker).to_string()
    }

    /// The address `piece` listens on.
    pub fn address(&self, piece: Piece) -> SocketAddr {
        self.addresses
            .get(&piece)
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// `http://host:port` of a service.
    pub fn url(&self, piece: Piece) -> String {
        format!("http://{}", self.address(piece))
    }

    /// The SQLite URL of a service's database.
    pub fn database_url(&self, piece: Piece) -> String {
        format!("sqlite://{}?mode=rwc", self.database_path(piece).display())
    }

    /// The SQLite file of a service's database.
    pub fn database_path(&self, piece: Piece) -> PathBuf {
        self.dir.join(format!("{}.db", piece.name()))
    }

    fn arguments(&self, piece: Piece) -> Vec<String> {
        let listen = self.address(piece).to_string();
        let mut args: Vec<String> = match piece {
            Piece::Broker => {
                let data = self.dir.join("broker").display().to_string();
                // 3 partitions: the consumers process them concurrently, each key keeps its order.
                let interval = BROKER_RETENTION_CHECK_INTERVAL_MS.to_string();
                return ["broker", "--listen", &listen, "--data-dir", &data]
                    .into_iter()
                    .chain(["--default-partitions", "3"])
                    .chain(["--retention-check-interval-ms", &interval])
                    .map(String::from)
                    .collect();
            }
            Piece::Console => {
                return ["console", "--listen", &listen, "--brokers", &self.brokers()]
                    .into_iter()
                    .map(String::from)
                    .collect();
            }
            Piece::Users => vec!["service".into(), "users".into()],
            Piece::Directory => vec!["service".into(), "directory".into()],
            Piece::Mailer => vec!["service".into(), "mailer".into()],
            Piece::Directory2 => ["service", "directory", "--group", "directory-2"]
                .map(String::from)
                .to_vec(),
        };
        args.extend([
            "--listen".into(),
            listen,
            "--database-url".into(),
            self.database_url(piece),
            "--brokers".into(),
            self.brokers(),
        ]);
        args.extend(self.extra_args.get(&piece).into_iter().flatten().cloned());
        args
    }

    /// Starts `piece` as a child process (its output goes to `logs/<name>.log`) and waits until it
    /// answers: the broker on TCP, services on `GET /health`.
    pub async fn start(&mut self, piece: Piece) -> anyhow::Result<()> {
        if let std::collections::btree_map::Entry::Vacant(entry) = self.addresses.entry(piece) {
            entry.insert(free_address(0)?);
        }
        let log_path = self.dir.join("logs").join(format!("{}.log", piece.name()));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let child = Command::new(&self.exe)
            .args(self.arguments(piece))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", piece.name()))?;
        self.children.insert(piece, child);
        self.await_ready(piece).await
    }

    async fn await_ready(&mut self, piece: Piece) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(START_TIMEOUT_MS);
        loop {
            let ready = match piece {
                Piece::Broker => tokio::net::TcpStream::connect(self.address(piece))
                    .await
                    .is_ok(),
                _ => self
                    .http
                    .get(format!("{}/health", self.url(piece)))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success()),
            };
            if ready {
                return Ok(());
            }
            if let Some(child) = self.children.get_mut(&piece) {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "{} exited with {status}; see {}",
                        piece.name(),
                        self.dir.join("logs").display()
                    );
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("{} did not become ready", piece.name());
            }
            tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
        }
    }

    /// Kills `piece` with SIGKILL (no chance to clean up) and reaps it.
    pub async fn kill(&mut self, piece: Piece) -> anyhow::Result<()> {
        if let Some(mut child) = self.children.remove(&piece) {
            child.start_kill().ok();
            child.wait().await?;
        }
        Ok(())
    }

    /// Stops `piece` with SIGTERM and waits for it to exit (killing it after a deadline).
    pub async fn stop(&mut self, piece: Piece) -> anyhow::Result<()> {
        let Some(mut child) = self.children.remove(&piece) else {
            return Ok(());
        };
        if let Some(pid) = child.id() {
            // No signal API in std and no unsafe here: `kill` is on every Unix.
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        match tokio::time::timeout(Duration::from_millis(STOP_TIMEOUT_MS), child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                child.start_kill().ok();
                child.wait().await?;
            }
        }
        Ok(())
    }

    /// Stops every piece, services first and the broker last.
    pub async fn stop_all(&mut self) -> anyhow::Result<()> {
        let mut pieces: Vec<Piece> = self.children.keys().copied().collect();
        pieces.sort_by_key(|p| *p == Piece::Broker);
        for piece in pieces {
            self.stop(piece).await?;
        }
        Ok(())
    }

    /// Whether `piece` answers `GET /health` right now.
    pub async fn healthy(&self, piece: Piece) -> bool {
        self.http
            .get(format!("{}/health", self.url(piece)))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// `GET` a service path as JSON (`None` when unreachable or not 2xx).
    pub async fn get_json(&self, piece: Piece, path: &str) -> Option<serde_json::Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.url(piece)))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }
}
