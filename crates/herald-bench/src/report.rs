//! The report: machine and versions, one row per workload phase and system, herald's advantage over
//! each peer in the same durability class, and the issue's targets (reported, never asserted).
//! Written as JSON and Markdown; the Markdown table is also what the console shows.
//!
//! Not a judge: a missed target is a line in the report, not a failure. Main types: `Report`.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::systems::{Durability, Kind};
use crate::workload::{Measurement, Settings};

/// Produce throughput herald should reach relative to Redis Streams at equal durability.
pub const TARGET_VS_REDIS_PRODUCE: f64 = 1.5;
/// Produce throughput herald should reach relative to NATS JetStream at equal durability.
pub const TARGET_VS_NATS_PRODUCE: f64 = 2.0;

/// Where and with what the run happened.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub memory_total_kib: Option<u64>,
    pub kernel: String,
    pub herald_version: String,
    pub herald_server: String,
    pub git_revision: String,
    pub redis_version: String,
    pub nats_version: String,
    pub notes: Vec<String>,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub started_unix_seconds: u64,
    pub wall_seconds: f64,
    pub machine: Machine,
    pub settings: Settings,
    pub measurements: Vec<Measurement>,
    pub targets: Vec<TargetCheck>,
}

/// One of the issue's goals and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    pub goal: String,
    pub observed: String,
    pub met: Option<bool>,
}

/// herald's advantage over `row` (>1 means herald is better): for latency rows the peer's p99 over
/// herald's, otherwise herald's records/s over the peer's. `None` for herald's own rows.
pub fn advantage(rows: &[Measurement], row: &Measurement) -> Option<f64> {
    if row.target.kind == Kind::Herald || row.error.is_some() {
        return None;
    }
    let herald = rows.iter().find(|r| {
        r.workload == row.workload
            && r.target.kind == Kind::Herald
            && r.target.durability == row.target.durability
            && r.error.is_none()
    })?;
    if row.workload.starts_with("e2e") {
        let (peer, ours) = (row.latency_p99_us?, herald.latency_p99_us?);
        (ours > 0).then(|| peer as f64 / ours as f64)
    } else {
        (row.records_per_second > 0.0).then(|| herald.records_per_second / row.records_per_second)
    }
}

/// The issue's targets evaluated on equal-durability rows.
pub fn check_targets(rows: &[Measurement]) -> Vec<TargetCheck> {
    let mut checks = Vec::new();
    for (kind, name, goal) in [
        (Kind::Redis, "Redis Streams", TARGET_VS_REDIS_PRODUCE),
        (Kind::Nats, "NATS JetStream", TARGET_VS_NATS_PRODUCE),
    ] {
        let produce_rows = rows.iter().filter(|r| {
            r.target.kind == kind
                && r.target.durability == Durability::Equal
                && r.workload.starts_with("produce")
        });
        for row in produce_rows {
            let ratio = advantage(rows, row);
            checks.push(TargetCheck {
                goal: format!(
                    "{}: herald ≥ {goal}x {name} (equal durability)",
                    row.workload
                ),
                observed: ratio.map_or("n/a".to_owned(), |r| format!("{r:.2}x")),
                met: ratio.map(|r| r >= goal),
            });
        }
        let latency_rows = rows.iter().filter(|r| {
            r.target.kind == kind
                && r.target.durability == Durability::Equal
                && r.workload.starts_with("e2e")
        });
        for row in latency_rows {
            let ratio = advantage(rows, row);
            checks.push(TargetCheck {
                goal: format!(
                    "{}: herald p99 no worse than {name} (equal durability)",
                    row.workload
                ),
                observed: ratio.map_or("n/a".to_owned(), |r| {
                    format!("peer p99 / herald p99 = {r:.2}")
                }),
                met: ratio.map(|r| r >= 1.0),
            });
        }
    }
    checks
}

fn micros(value: Option<u64>) -> String {
    match value {
        Some(us) if us >= 10_000 => format!("{:.0} ms", us as f64 / 1000.0),
        Some(us) if us >= 1_000 => format!("{:.1} ms", us as f64 / 1000.0),
        Some(us) => format!("{us} µs"),
        None => "–".to_owned(),
    }
}

/// The Markdown report.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let s = &report.settings;
    let _ = writeln!(out, "## herald-bench results\n");
    let _ = writeln!(
        out,
        "Machine: {} cores ({}), {} MiB RAM, kernel {}. herald {} ({}, git {}); {}; {}.\n",
        m.cores,
        m.cpu_model,
        m.memory_total_kib.map_or(0, |k| k / 1024),
        m.kernel,
        m.herald_version,
        m.herald_server,
        m.git_revision,
        m.redis_version,
        m.nats_version
    );
    let _ = writeln!(
        out,
        "Sizes: {} records per throughput run; latency at {} records/s for {} s; fan-out {} partitions. Run took {:.0} s.\n",
        s.records, s.latency_rate, s.latency_seconds, s.partitions, report.wall_seconds
    );
    for note in &m.notes {
        let _ = writeln!(out, "> Note: {note}\n");
    }
    for (durability, title) in [
        (
            Durability::Equal,
            "Equal durability (fsync before acknowledging)",
        ),
        (
            Durability::Relaxed,
            "Relaxed durability (acknowledged from the page cache)",
        ),
    ] {
        let rows: Vec<&Measurement> = report
            .measurements
            .iter()
            .filter(|r| r.target.durability == durability)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {title}\n");
        let _ = writeln!(
            out,
            "| workload | system | records/s | MB/s | p50 | p99 | p99.9 | server peak RSS | herald advantage |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for row in rows {
            let _ = writeln!(out, "{}", table_line(report, row));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "### Targets (goals, not assertions)\n");
    for check in &report.targets {
        let verdict = match check.met {
            Some(true) => "met",
            Some(false) => "missed",
            None => "not measured",
        };
        let _ = writeln!(out, "- {}: {} ({verdict})", check.goal, check.observed);
    }
    out
}

fn table_line(report: &Report, row: &Measurement) -> String {
    if let Some(error) = &row.error {
        return format!(
            "| {} | {} | failed: {} | | | | | | |",
            row.workload,
            row.system,
            error.replace('|', "/")
        );
    }
    let rss = row.server_peak_rss_kib.map_or("–".to_owned(), |k| {
        format!("{:.0} MiB", k as f64 / 1024.0)
    });
    let advantage =
        advantage(&report.measurements, row).map_or("–".to_owned(), |r| format!("{r:.2}x"));
    format!(
        "| {} | {} | {:.0} | {:.1} | {} | {} | {} | {} | {} |",
        row.workload,
        row.system,
        row.records_per_second,
        row.megabytes_per_second,
        micros(row.latency_p50_us),
        micros(row.latency_p99_us),
        micros(row.latency_p999_us),
        rss,
        advantage
    )
}

/// Writes `latest.json` and `latest.md` into `dir`.
pub fn write(report: &Report, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("latest.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    std::fs::write(dir.join("latest.md"), markdown(report))?;
    Ok(())
}

/// Cores, CPU model, memory and kernel of this machine.
pub fn machine_facts() -> (usize, String, Option<u64>, String) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok());
    let kernel = std::process::Command::new("uname")
        .arg("-r")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    (cores, cpu_model, memory, kernel)
}
