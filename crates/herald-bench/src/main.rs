//! `herald-bench`: herald-broker against Redis Streams and NATS JetStream on the same machine, in the
//! same run, at equal durability (fsync before acknowledging) and relaxed durability. Starts its own
//! servers on free ports in temporary directories, runs every workload on every system in turn, prints
//! a table, and writes `latest.json` and `latest.md` under target/bench/.
//!
//! Not a pass/fail gate: targets are reported, never asserted. Exits non-zero only when a workload
//! could not run. `serve-herald` (hidden) runs the broker itself when no `herald` binary is at hand.

mod contention;
mod payload;
mod report;
mod serve_herald;
mod server;
mod soak;
mod systems;
mod workload;

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand, ValueEnum};

use report::{Machine, Report};
use systems::{Binaries, Durability, Kind, Target};
use workload::{Settings, Workload};

/// Side-by-side benchmarks of herald-broker, Redis Streams and NATS JetStream.
#[derive(Debug, Parser)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a herald broker in the foreground (used when no `herald` binary is found).
    #[command(hide = true)]
    ServeHerald(serve_herald::ServeArgs),
    /// Many concurrent clients producing and consuming for a bounded time; samples the broker's RSS and fds.
    Soak(soak::SoakArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum WorkloadName {
    /// Produce then consume 100 B records.
    Throughput100,
    /// Produce then consume 1 KiB records.
    Throughput1k,
    /// End-to-end latency at a fixed rate.
    Latency,
    /// Producers and consumers on every partition at once.
    Fanout,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Records per throughput workload, and in total for the fan-out workload.
    #[arg(long, env = "HERALD_BENCH_RECORDS", default_value_t = 1_000_000)]
    records: u64,
    /// Seconds of the fixed-rate latency workload.
    #[arg(long, env = "HERALD_BENCH_LATENCY_SECONDS", default_value_t = 30)]
    latency_seconds: u64,
    /// Records per second of the latency workload.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    latency_rate: u64,
    /// Partitions (streams for the peers), producers and consumers of the fan-out workload.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    partitions: u32,
    /// Longest a produce phase may run; a slower system stops short and is rated on what it wrote.
    #[arg(long, default_value_t = 45, value_parser = clap::value_parser!(u64).range(1..))]
    phase_seconds_max: u64,
    /// Workloads to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "throughput100,throughput1k,latency,fanout"
    )]
    workloads: Vec<WorkloadName>,
    /// Systems to run.
    #[arg(long, value_delimiter = ',', default_value = "herald,redis,nats")]
    systems: Vec<KindName>,
    /// Durability classes to run.
    #[arg(long, value_delimiter = ',', default_value = "equal,relaxed")]
    durability: Vec<DurabilityName>,
    /// The `herald` binary [default: next to this executable, else this executable's serve-herald].
    #[arg(long, env = "HERALD_BENCH_HERALD_BIN")]
    herald_bin: Option<PathBuf>,
    /// Run the broker as `herald-bench serve-herald` even if a `herald` binary is found.
    #[arg(long)]
    embedded_herald: bool,
    #[arg(
        long,
        env = "HERALD_BENCH_REDIS_SERVER",
        default_value = "redis-server"
    )]
    redis_server: PathBuf,
    /// nats-server binary; 2.10+ is needed for `sync_interval: always`.
    #[arg(long, env = "HERALD_BENCH_NATS_SERVER", default_value = "nats-server")]
    nats_server: PathBuf,
    /// Megabytes (10^6 B) per second a background writer writes and fdatasyncs to the disk that holds
    /// every system's data directory, for the whole run (0: off): the same contention for every
    /// system, as on a machine that other processes share.
    #[arg(long, default_value_t = 0)]
    contention_mb_per_second: u64,
    /// Where latest.json and latest.md go [default: target/bench next to this executable's profile].
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KindName {
    Herald,
    Redis,
    Nats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DurabilityName {
    Equal,
    Relaxed,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Some(Command::ServeHerald(args)) => runtime.block_on(serve_herald::run(args)),
        Some(Command::Soak(args)) => runtime.block_on(soak::run(args)),
        None => {
            let failures = runtime.block_on(run(cli.run))?;
            if failures > 0 {
                anyhow::bail!("{failures} measurements failed; see the report");
            }
            Ok(())
        }
    }
}

/// The `herald` binary to run brokers with: `--herald-bin`, else `herald` next to this executable;
/// `None` (run `herald-bench serve-herald`) with `--embedded-herald` or when there is none.
pub fn herald_binary(herald_bin: Option<&Path>, embedded: bool) -> anyhow::Result<Option<PathBuf>> {
    if embedded {
        return Ok(None);
    }
    if let Some(path) = herald_bin {
        return Ok(Some(path.to_path_buf()));
    }
    let exe = std::env::current_exe()?;
    Ok(exe
        .parent()
        .map(|dir| dir.join("herald"))
        .filter(|p| p.is_file()))
}

/// Runs every workload on every system, writes the report, and returns how many rows failed.
async fn run(args: RunArgs) -> anyhow::Result<usize> {
    let started = Instant::now();
    let started_unix_seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let exe = std::env::current_exe()?;
    let herald = herald_binary(args.herald_bin.as_deref(), args.embedded_herald)?;
    let nats_version = server::version_of(&args.nats_server);
    let binaries = Binaries {
        nats_sync_interval: nats_has_sync_interval(&nats_version),
        herald,
        redis_server: args.redis_server.clone(),
        nats_server: args.nats_server.clone(),
    };
    let machine = machine(&binaries, nats_version);
    let settings = Settings {
        records: args.records,
        latency_seconds: args.latency_seconds,
        latency_rate: args.latency_rate,
        partitions: args.partitions,
        phase_seconds_max: args.phase_seconds_max,
        contention_mb_per_second: args.contention_mb_per_second,
    };
    let contention = match args.contention_mb_per_second {
        0 => None,
        rate => Some(contention::Contention::start(&std::env::temp_dir(), rate)?),
    };
    let mut measurements = Vec::new();
    for workload in workloads(&args.workloads) {
        for target in targets(&args) {
            eprintln!("running {workload:?} on {}", target.label());
            let rows = workload::run(workload, target, &binaries, &settings).await;
            for row in &rows {
                eprintln!(
                    "  {}: {:.0} records/s, {:.1} MB/s, p99 {:?} µs{}",
                    row.workload,
                    row.records_per_second,
                    row.megabytes_per_second,
                    row.latency_p99_us,
                    row.error
                        .as_deref()
                        .map(|e| format!(", FAILED: {e}"))
                        .unwrap_or_default()
                );
            }
            measurements.extend(rows);
        }
    }
    let mut machine = machine;
    if let Some(contention) = contention {
        let stats = contention.stop()?;
        machine.notes.push(format!(
            "a background writer wrote and fdatasynced {:.1} MB/s (asked: {} MB/s) to the disk of \
             every system's data directory for the whole run",
            stats.megabytes_per_second(),
            args.contention_mb_per_second
        ));
    }
    let failures = measurements.iter().filter(|m| m.error.is_some()).count();
    let report = Report {
        started_unix_seconds,
        wall_seconds: started.elapsed().as_secs_f64(),
        targets: report::check_targets(&measurements),
        machine,
        settings,
        measurements,
    };
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| default_out_dir(&exe));
    report::write(&report, &out_dir)?;
    println!("{}", report::markdown(&report));
    eprintln!("wrote {}/latest.json and latest.md", out_dir.display());
    Ok(failures)
}

fn workloads(names: &[WorkloadName]) -> Vec<Workload> {
    names
        .iter()
        .map(|name| match name {
            WorkloadName::Throughput100 => Workload::Throughput { size_bytes: 100 },
            WorkloadName::Throughput1k => Workload::Throughput { size_bytes: 1024 },
            WorkloadName::Latency => Workload::Latency,
            WorkloadName::Fanout => Workload::Fanout,
        })
        .collect()
}

/// Systems in the order they alternate: equal durability first, herald before its peers.
fn targets(args: &RunArgs) -> Vec<Target> {
    let mut targets = Vec::new();
    for durability in &args.durability {
        for kind in &args.systems {
            targets.push(Target {
                kind: match kind {
                    KindName::Herald => Kind::Herald,
                    KindName::Redis => Kind::Redis,
                    KindName::Nats => Kind::Nats,
                },
                durability: match durability {
                    DurabilityName::Equal => Durability::Equal,
                    DurabilityName::Relaxed => Durability::Relaxed,
                },
            });
        }
    }
    targets
}

/// `target/bench` for an executable in `target/<profile>/`.
fn default_out_dir(exe: &Path) -> PathBuf {
    exe.parent().and_then(Path::parent).map_or_else(
        || PathBuf::from("target/bench"),
        |target| target.join("bench"),
    )
}

/// Whether "nats-server: v2.X.Y" is 2.10 or later (where `sync_interval` exists).
fn nats_has_sync_interval(version: &str) -> bool {
    let digits = version.rsplit('v').next().unwrap_or("");
    let mut parts = digits
        .split('.')
        .map(|p| p.trim().parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 10)
}

fn machine(binaries: &Binaries, nats_version: String) -> Machine {
    let (cores, cpu_model, memory_total_kib, kernel) = report::machine_facts();
    let git_revision = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".to_owned(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        });
    let mut notes = Vec::new();
    if !binaries.nats_sync_interval {
        notes.push(format!(
            "{nats_version} has no `sync_interval` (added in 2.10), so its equal-durability rows ran \
             with the default sync interval: weaker durability than herald and Redis there. Pass \
             --nats-server with a 2.10+ binary for a like-for-like comparison."
        ));
    }
    Machine {
        cores,
        cpu_model,
        memory_total_kib,
        kernel,
        herald_version: env!("CARGO_PKG_VERSION").to_owned(),
        herald_server: match &binaries.herald {
            Some(path) => format!("{} broker", path.display()),
            None => "herald-bench serve-herald".to_owned(),
        },
        git_revision,
        redis_version: server::version_of(&binaries.redis_server),
        nats_version,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // nats-server versions before 2.10 are recognised as lacking sync_interval.
    #[test]
    fn nats_version_gate() {
        assert!(!nats_has_sync_interval("nats-server: v2.9.10"));
        assert!(nats_has_sync_interval("nats-server: v2.10.0"));
        assert!(nats_has_sync_interval("nats-server: v2.15.1"));
        assert!(!nats_has_sync_interval("unavailable: not found"));
    }
}
