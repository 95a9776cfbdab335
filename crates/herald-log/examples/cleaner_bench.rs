//! Log cleaner benchmark: a partition of 100-byte records over 100,000 keys (1 GiB by default) is cleaned
//! by `clean_log`, passes repeated until the dirty section is gone, while a producer thread appends to the
//! same log; the producer's rate is compared with a run of the same producer alone. Prints MB/s of input
//! cleaned, the cleaner thread's CPU rate, peak RSS (VmHWM, reset just before cleaning) against the key-map
//! budget, and the produce rates and append latency percentiles alone and while cleaning, with their
//! ratio. Also prints the load average the run started under (the machine is shared).
//!
//! Run: `cargo run --release -p herald-log --example cleaner_bench`
//! Env: `HERALD_BENCH_BYTES` (input size, default 1073741824), `HERALD_BENCH_KEYS` (100000),
//! `HERALD_BENCH_DEDUPE_BYTES` (key-map budget, default 16 MiB), `HERALD_BENCH_SEGMENT_BYTES`
//! (64 MiB), `HERALD_BENCH_CODEC` (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd; default 0),
//! `HERALD_BENCH_DIR` (where the partition goes; default a temp dir), `HERALD_BENCH_PRODUCE` (0: no
//! producer while cleaning).
//!
//! What it shows: the cleaner's throughput and memory bound; produce is blocked only for snapshots and
//! swaps. What it does not: fsync costs of produce (no flush here), cold-cache reads (the data was just
//! written, so it is in the page cache).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use herald_log::cleaner::records::put_varlong;
use herald_log::cleaner::CleanerWorker;
use herald_log::codec::{compress, Framing};
use herald_log::{clean_log, CleanerConfig, CleanupPolicy, Log, LogConfig};

const RECORDS_PER_BATCH: usize = 100;
const VALUE_BYTES: usize = 80;
const NOW_MS: i64 = 1_700_000_000_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A v2 batch of `RECORDS_PER_BATCH` records with keys drawn by `next_key`.
fn batch(codec: i16, next_key: &mut impl FnMut() -> u64) -> Vec<u8> {
    let mut records = Vec::with_capacity(RECORDS_PER_BATCH * 100);
    for i in 0..RECORDS_PER_BATCH {
        let key = format!("key-{:08}", next_key());
        let mut body = vec![0u8];
        put_varlong(&mut body, i as i64);
        put_varlong(&mut body, i as i64);
        put_varlong(&mut body, key.len() as i64);
        body.extend_from_slice(key.as_bytes());
        put_varlong(&mut body, VALUE_BYTES as i64);
        body.extend(std::iter::repeat_n(b'v', VALUE_BYTES));
        put_varlong(&mut body, 0);
        put_varlong(&mut records, body.len() as i64);
        records.extend(body);
    }
    let section = compress(codec, Framing::Plain, &records).unwrap_or(records);
    let n = RECORDS_PER_BATCH as i32;
    let mut after_crc = Vec::with_capacity(section.len() + 49);
    after_crc.extend_from_slice(&codec.to_be_bytes());
    after_crc.extend_from_slice(&(n - 1).to_be_bytes());
    after_crc.extend_from_slice(&NOW_MS.to_be_bytes());
    after_crc.extend_from_slice(&(NOW_MS + i64::from(n) - 1).to_be_bytes());
    after_crc.extend_from_slice(&(-1i64).to_be_bytes());
    after_crc.extend_from_slice(&(-1i16).to_be_bytes());
    after_crc.extend_from_slice(&(-1i32).to_be_bytes());
    after_crc.extend_from_slice(&n.to_be_bytes());
    after_crc.extend(section);
    let mut out = Vec::with_capacity(after_crc.len() + 21);
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&((9 + after_crc.len()) as i32).to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes());
    out.push(2);
    out.extend_from_slice(&crc32c::crc32c(&after_crc).to_be_bytes());
    out.extend(after_crc);
    out
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) this thread has used, from `/proc/thread-self/stat` (clock ticks at the
/// usual 100 Hz): a figure that does not depend on what else the machine runs.
fn thread_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after_comm = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // After the command name: state is field 3 of stat, utime 14 and stime 15.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets VmHWM to the current RSS (Linux `clear_refs` 5), so that the peak measured afterwards is the
/// cleaning's own. Returns whether the kernel took it.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a producer thread measured: bytes appended and each append's latency (lock wait included).
struct Produced {
    bytes: u64,
    latencies_us: Vec<u32>,
    /// CPU seconds the producer thread used: bytes per CPU-second do not depend on how much of a core
    /// the machine's other load left it.
    cpu_s: f64,
}

impl Produced {
    fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        self.latencies_us.sort_unstable();
        let at = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies_us[at]) / 1000.0
    }

    fn summary(&mut self) -> String {
        format!(
            "p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.1} ms over {} appends",
            self.percentile_ms(0.5),
            self.percentile_ms(0.99),
            self.percentile_ms(0.999),
            self.percentile_ms(1.0),
            self.latencies_us.len()
        )
    }
}

/// Appends batches from another thread until `stop`; returns the bytes appended and the latencies.
fn producer(log: Arc<RwLock<Log>>, stop: Arc<AtomicBool>, keys: u64, codec: i16) -> Produced {
    let appended = AtomicU64::new(0);
    let mut latencies_us = Vec::with_capacity(1 << 20);
    let cpu_started = thread_cpu_s();
    let mut state = 7u64;
    let mut next_key = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % keys
    };
    while !stop.load(Ordering::Relaxed) {
        let b = batch(codec, &mut next_key);
        let started = Instant::now();
        let mut guard = log
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.append(&b, NOW_MS).is_err() {
            break;
        }
        drop(guard);
        latencies_us.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        appended.fetch_add(b.len() as u64, Ordering::Relaxed);
    }
    Produced {
        bytes: appended.into_inner(),
        latencies_us,
        cpu_s: thread_cpu_s() - cpu_started,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total_bytes = env("HERALD_BENCH_BYTES", 1 << 30);
    let keys = env("HERALD_BENCH_KEYS", 100_000);
    let dedupe_bytes = env("HERALD_BENCH_DEDUPE_BYTES", 16 << 20) as usize;
    let segment_bytes = env("HERALD_BENCH_SEGMENT_BYTES", 64 << 20);
    let codec = env("HERALD_BENCH_CODEC", 0) as i16;
    let base = std::env::var_os("HERALD_BENCH_DIR").map(std::path::PathBuf::from);
    let tmp = match &base {
        Some(b) => tempfile::tempdir_in(b)?,
        None => tempfile::tempdir()?,
    };
    let config = LogConfig {
        segment_bytes,
        segment_ms: None,
        retention_ms: None,
        cleanup_policy: CleanupPolicy::Compact,
        ..LogConfig::default()
    };
    let mut log = Log::open(tmp.path(), config)?;
    let mut state = 1u64;
    let mut next_key = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % keys
    };
    println!("load average at start: {}", load_average());
    let started = Instant::now();
    while log.size_bytes() < total_bytes {
        log.append(&batch(codec, &mut next_key), NOW_MS)?;
    }
    let generate_s = started.elapsed().as_secs_f64();
    let input_bytes: u64 = log.size_bytes();
    println!(
        "generated {:.0} MiB ({} records, {keys} keys, codec {codec}) in {generate_s:.1}s, {} segments",
        input_bytes as f64 / 1048576.0,
        log.log_end_offset(),
        log.segment_count()
    );
    let log = Arc::new(RwLock::new(log));

    // Produce alone, into a log of its own, for the baseline rate: once before cleaning and once after,
    // so that a change in the machine's load during the run shows as a gap between the two.
    let baseline_s = 3.0;
    let produce_alone =
        |base: &Option<std::path::PathBuf>| -> Result<(f64, Produced), Box<dyn std::error::Error>> {
            let dir = match base {
                Some(b) => tempfile::tempdir_in(b)?,
                None => tempfile::tempdir()?,
            };
            let log = Arc::new(RwLock::new(Log::open(dir.path(), LogConfig::default())?));
            let stop = Arc::new(AtomicBool::new(false));
            let handle = {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || producer(log, stop, keys, codec))
            };
            std::thread::sleep(Duration::from_secs_f64(baseline_s)); // the measurement window, not synchronisation
            stop.store(true, Ordering::Relaxed);
            let run = handle.join().map_err(|_| "producer panicked")?;
            Ok((run.bytes as f64 / baseline_s, run))
        };
    let (alone_before, mut alone_run) = produce_alone(&base)?;

    let stop = Arc::new(AtomicBool::new(env("HERALD_BENCH_PRODUCE", 1) == 0));
    let handle = {
        let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
        std::thread::spawn(move || producer(log, stop, keys, codec))
    };
    let mut worker = CleanerWorker::new(CleanerConfig {
        dedupe_buffer_bytes: dedupe_bytes,
        ..CleanerConfig::default()
    });
    let rss_before = rss_mib("VmRSS:");
    let peak_reset = reset_peak_rss();
    let started = Instant::now();
    let cpu_started = thread_cpu_s();
    let (mut passes, mut read, mut written) = (0, 0u64, 0u64);
    let first_active = *log
        .read()
        .map_err(|_| "poisoned")?
        .segment_base_offsets()
        .last()
        .unwrap_or(&0);
    while let Some(stats) = clean_log(&log, &mut worker, NOW_MS, false)? {
        passes += 1;
        read += stats.bytes_read;
        written += stats.bytes_written;
        if stats.end_offset >= first_active {
            break;
        }
    }
    let clean_s = started.elapsed().as_secs_f64();
    let clean_cpu_s = thread_cpu_s() - cpu_started;
    stop.store(true, Ordering::Relaxed);
    let peak = peak_rss_mib();
    let mut during_run = handle.join().map_err(|_| "producer panicked")?;
    let during = during_run.bytes as f64 / clean_s;
    let (alone_after, alone_after_run) = produce_alone(&base)?;
    let alone = (alone_before + alone_after) / 2.0;
    let per_cpu = |run: &Produced| run.bytes as f64 / 1e6 / run.cpu_s.max(1e-9);
    let alone_per_cpu = (per_cpu(&alone_run) + per_cpu(&alone_after_run)) / 2.0;
    println!(
        "cleaned {:.0} MiB of input in {clean_s:.2}s = {:.0} MB/s ({passes} passes, {:.0} MiB filtered, {:.1} MiB written)",
        input_bytes as f64 / 1048576.0,
        input_bytes as f64 / 1e6 / clean_s,
        read as f64 / 1048576.0,
        written as f64 / 1048576.0,
    );
    println!(
        "cleaner thread CPU {clean_cpu_s:.2}s = {:.0} MB per CPU-second (independent of machine load)",
        input_bytes as f64 / 1e6 / clean_cpu_s.max(1e-9)
    );
    println!(
        "key map budget {:.0} MiB (configured {:.0} MiB); RSS before cleaning {rss_before:.0} MiB, \
         peak while cleaning {peak:.0} MiB{} = {:.0} MiB for the cleaner and the producer",
        worker.map.memory_bytes() as f64 / 1048576.0,
        dedupe_bytes as f64 / 1048576.0,
        if peak_reset { "" } else { " (VmHWM not reset: whole run)" },
        peak - rss_before,
    );
    println!(
        "produce alone {:.0} MB/s (before {:.0}, after {:.0}); while cleaning {:.0} MB/s ({:.0}% of alone)",
        alone / 1e6,
        alone_before / 1e6,
        alone_after / 1e6,
        during / 1e6,
        100.0 * during / alone.max(1.0)
    );
    println!(
        "produce per CPU-second: alone {alone_per_cpu:.0} MB, while cleaning {:.0} MB ({:.0}%)",
        per_cpu(&during_run),
        100.0 * per_cpu(&during_run) / alone_per_cpu.max(1e-9)
    );
    println!("append latency alone: {}", alone_run.summary());
    println!("append latency while cleaning: {}", during_run.summary());
    println!("load average at end: {}", load_average());
    Ok(())
}
