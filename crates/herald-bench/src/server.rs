//! Server child processes: herald-broker, redis-server and nats-server, each on its own free port with
//! its own temporary directory, stopped (and the directory deleted) when the run is over.
//!
//! Not a supervisor: a server that dies makes the workload fail. Main types: `ServerProcess`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// How long a server may take to accept connections after it is spawned.
pub const STARTUP_TIMEOUT_MS: u64 = 20_000;
/// How long a server may take to exit after SIGTERM before it is killed.
const SHUTDOWN_TIMEOUT_MS: u64 = 10_000;

/// A free loopback port (bound and released; the server binds it a moment later).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A running server child process with its data directory.
#[derive(Debug)]
pub struct ServerProcess {
    name: String,
    child: Child,
    /// Where the server keeps its data; deleted on drop.
    _dir: tempfile::TempDir,
    /// The loopback port the server listens on.
    pub port: u16,
}

impl ServerProcess {
    /// Spawns `program args` (output discarded) and waits until `port` accepts TCP connections.
    pub fn spawn(
        name: &str,
        command: &mut Command,
        dir: tempfile::TempDir,
        port: u16,
    ) -> anyhow::Result<Self> {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {name} ({command:?})"))?;
        let mut server = Self {
            name: name.to_owned(),
            child,
            _dir: dir,
            port,
        };
        server.wait_until_listening()?;
        Ok(server)
    }

    fn wait_until_listening(&mut self) -> anyhow::Result<()> {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_millis(STARTUP_TIMEOUT_MS);
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited during startup: {status}", self.name);
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not listen on {address} within {STARTUP_TIMEOUT_MS} ms",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(20)); // polling a condition with a deadline
        }
    }

    /// The process id, for /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size so far in KiB (VmHWM), if /proc has it.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        peak_rss_kib(self.pid())
    }

    /// Fails if the server has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            Some(status) => bail!("{} exited: {status}", self.name),
            None => Ok(()),
        }
    }

    /// SIGTERM, wait for exit (killing after a deadline), and delete the data directory.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.terminate()
    }

    fn terminate(&mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        // std has no SIGTERM; kill(1) sends it without unsafe code.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_millis(SHUTDOWN_TIMEOUT_MS);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20)); // polling a condition with a deadline
        }
        self.child.kill().ok();
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Err(error) = self.terminate() {
            tracing::warn!(server = %self.name, %error, "stopping server");
        }
    }
}

/// VmHWM of process `pid` in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The first line `program --version` prints (stdout or stderr), or why it could not run.
pub fn version_of(program: &Path) -> String {
    match Command::new(program).arg("--version").output() {
        Ok(output) => {
            let text = if output.stdout.is_empty() {
                output.stderr
            } else {
                output.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        }
        Err(error) => format!("unavailable: {error}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // VmHWM of this very process is readable and non-zero.
    #[test]
    fn reads_own_peak_rss() {
        assert!(peak_rss_kib(std::process::id()).unwrap() > 0);
    }
}
