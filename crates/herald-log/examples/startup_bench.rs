//! Start-up benchmark: how long opening every partition takes (what `herald broker` does before it
//! listens), after a clean stop and after a kill under `--flush always`, with a cold page cache.
//!
//! Writes `HERALD_BENCH_PARTITIONS` partitions (default 40) of `HERALD_BENCH_BYTES` in total (default
//! 1 GiB; the figure is 10 GiB) in 16 KiB batches into 1 GiB segments (the broker default),
//! flushes them (a checkpoint), then appends `HERALD_BENCH_TAIL_BYTES` per partition (default 4 MiB,
//! about one checkpoint interval of appends at 160 MB/s over 40 partitions) with one group commit per
//! append, as `--flush always` does, and drops the logs without closing them: a SIGKILL. It evicts
//! every file from the page cache (`/proc/sys/vm/drop_caches` if permitted, else `dd iflag=nocache`
//! per file, which is `posix_fadvise(DONTNEED)`), opens every partition in turn and prints the time;
//! then closes them cleanly, evicts again, and opens again. Partitions open on
//! `HERALD_BENCH_OPEN_THREADS` threads (default 8, as the broker opens a topic's partitions).
//!
//! Run: `cargo run --release -p herald-log --example startup_bench`; `HERALD_BENCH_DIR` chooses the
//! directory (default a temp dir under /tmp, deleted at the end).

use std::path::{Path, PathBuf};
use std::time::Instant;

use herald_log::{Log, LogConfig};

const NOW_MS: i64 = 1_700_000_000_000;
const BATCH_BYTES: usize = 16 * 1024;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A v2 batch of 1 KiB records, about `BATCH_BYTES` long, with a valid CRC32C.
fn batch(timestamp: i64) -> Vec<u8> {
    let value = [b'v'; 1000];
    let records = vec![(None, Some(&value[..])); BATCH_BYTES / 1024];
    herald_log::cleaner::records::encode_plain_batch(&records, timestamp)
}

/// Evicts every file under `root` from the page cache; says how.
fn evict(root: &Path) -> &'static str {
    if std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok() {
        return "drop_caches";
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let _ = std::process::Command::new("dd")
                    .arg(format!("if={}", path.display()))
                    .args(["iflag=nocache", "count=0", "status=none"])
                    .status();
            }
        }
    }
    "dd iflag=nocache (posix_fadvise DONTNEED) per file; drop_caches not permitted"
}

fn open_all(
    dirs: &[PathBuf],
    config: &LogConfig,
) -> Result<(f64, Vec<Log>), Box<dyn std::error::Error>> {
    let threads = env("HERALD_BENCH_OPEN_THREADS", 8) as usize;
    let items: Vec<_> = dirs.iter().map(|d| (d.clone(), config.clone())).collect();
    let started = Instant::now();
    let logs = Log::open_all(&items, threads)?;
    Ok((started.elapsed().as_secs_f64() * 1000.0, logs))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let partitions = env("HERALD_BENCH_PARTITIONS", 40) as usize;
    let total = env("HERALD_BENCH_BYTES", 1 << 30);
    let tail = env("HERALD_BENCH_TAIL_BYTES", 4 << 20);
    let root = match std::env::var("HERALD_BENCH_DIR") {
        Ok(dir) => tempfile::tempdir_in(dir)?,
        Err(_) => tempfile::tempdir()?,
    };
    let config = LogConfig::default();
    let one = batch(NOW_MS);
    let dirs: Vec<PathBuf> = (0..partitions)
        .map(|p| root.path().join(format!("topic-{p}")))
        .collect();
    let per_partition = total / partitions as u64;
    let started = Instant::now();
    for dir in &dirs {
        let mut log = Log::open(dir, config.clone())?;
        let mut written = 0;
        while written < per_partition {
            log.append(&one, NOW_MS)?;
            written += one.len() as u64;
        }
        log.flush()?;
        // --flush always: one group commit per append; the checkpoint is written once a second.
        let mut written = 0;
        while written < tail {
            log.append(&one, NOW_MS)?;
            written += one.len() as u64;
            let target = log.flush_target();
            target.sync()?;
            log.mark_flushed(target.up_to_offset);
        }
        drop(log); // SIGKILL: no close
    }
    println!(
        "wrote {partitions} partitions, {:.0} MiB + {:.0} MiB tail each, in {:.1} s",
        per_partition as f64 / 1048576.0,
        tail as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    let how = evict(root.path());
    let (killed_ms, mut logs) = open_all(&dirs, &config)?;
    let scanned_tail = logs
        .iter()
        .map(|l| l.log_end_offset() - l.recovery_point())
        .sum::<i64>();
    println!(
        "after kill (--flush always): ready in {killed_ms:.1} ms (cold cache: {how}); {scanned_tail} records after the recovery points"
    );
    for log in &mut logs {
        log.close()?;
    }
    drop(logs);
    let how = evict(root.path());
    let (clean_ms, logs) = open_all(&dirs, &config)?;
    let clean = logs.iter().filter(|l| l.opened_cleanly()).count();
    println!(
        "after clean stop: ready in {clean_ms:.1} ms (cold cache: {how}); {clean}/{partitions} opened cleanly"
    );
    drop(logs);
    let (warm_ms, _) = open_all(&dirs, &config)?;
    println!("after clean stop, warm cache: ready in {warm_ms:.1} ms");
    Ok(())
}
