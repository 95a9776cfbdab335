//! The log cleaner: Kafka's log compaction for logs whose `cleanup.policy` includes `compact`.
//!
//! Only the latest record of each key survives, at its original offset and in order; the active segment
//! is never cleaned and the log start offset never moves because of compaction; tombstones live for
//! `delete.retention.ms` after their batch was first cleaned. What it is not: retention (`retention.rs`
//! deletes whole segments by time and size, and only under `delete`).
//!
//! Layout by role:
//! - [`Cleaner`]: the thread the broker owns (started with a [`LogSource`], stopped with
//!   [`Cleaner::stop`]), looping over the logs, cleaning each that [`Log::cleanable`] selects.
//! - [`clean_log`] (`clean.rs`): one cleaning round of one log, usable directly (tests, tools).
//! - [`cleanable`]: which logs to clean and which range (dirty ratio, compaction lags, delete horizon).
//! - [`offset_map`]: the bounded key map; [`filter`]: which records of a batch survive;
//!   [`records`]: the record format (codecs are [`crate::codec`]).
//! - [`swap`]: the crash-safe swap of cleaned segments and its recovery.
//! - [`metrics`]: the counters a broker exports ([`CleanerMetrics`]).
//!
//! Main types: [`Cleaner`], [`CleanerConfig`], [`CleanerWorker`], [`CleaningStats`], [`CleanerMetrics`].

pub mod clean;
pub mod cleanable;
pub mod filter;
pub mod metrics;
pub mod offset_map;
pub mod records;
pub mod swap;
pub mod swap_recovery;

use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use clean::clean_log;
pub use cleanable::{CleanReason, CleanableRange};
pub use metrics::CleanerMetrics;
pub use offset_map::{OffsetMap, OFFSET_MAP_SLOT_BYTES};
pub use swap::{CrashHook, SwapStep};

use crate::error::LogError;
use crate::log::Log;

/// Kafka's default `log.cleaner.dedupe.buffer.size`: 128 MiB.
pub const DEDUPE_BUFFER_BYTES_DEFAULT: usize = 128 * 1024 * 1024;
/// Kafka's default `log.cleaner.backoff.ms`: sleep between passes over the logs when nothing is dirty.
pub const BACKOFF_MS_DEFAULT: u64 = 15_000;

/// The cleaner's own configuration (Kafka's broker-level `log.cleaner.*`).
#[derive(Clone)]
pub struct CleanerConfig {
    /// Memory for the key map (`log.cleaner.dedupe.buffer.size`), in bytes.
    pub dedupe_buffer_bytes: usize,
    /// I/O limit, read plus written (`log.cleaner.io.max.bytes.per.second`); `None` is unlimited.
    pub io_bytes_per_second: Option<u64>,
    /// Sleep between passes over the logs when none was cleanable (`log.cleaner.backoff.ms`).
    pub backoff_ms: u64,
    /// Test-only fault injection at each swap step.
    pub crash_hook: Option<CrashHook>,
    /// Where the cleaner thread accounts its rounds (shared with whoever exports them).
    pub metrics: Arc<CleanerMetrics>,
}

impl std::fmt::Debug for CleanerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CleanerConfig")
            .field("dedupe_buffer_bytes", &self.dedupe_buffer_bytes)
            .field("io_bytes_per_second", &self.io_bytes_per_second)
            .field("backoff_ms", &self.backoff_ms)
            .field("crash_hook", &self.crash_hook.is_some())
            .field("metrics", &self.metrics)
            .finish()
    }
}

impl Default for CleanerConfig {
    fn default() -> Self {
        Self {
            dedupe_buffer_bytes: DEDUPE_BUFFER_BYTES_DEFAULT,
            io_bytes_per_second: None,
            backoff_ms: BACKOFF_MS_DEFAULT,
            crash_hook: None,
            metrics: Arc::default(),
        }
    }
}

/// What one cleaning round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleaningStats {
    /// The round cleaned the dirty section `[first_dirty_offset, end_offset)` (and re-filtered every
    /// segment below it).
    pub first_dirty_offset: i64,
    pub end_offset: i64,
    pub records_mapped: u64,
    pub records_read: u64,
    pub records_kept: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub segments_cleaned: u64,
    pub segments_written: u64,
    /// Time the I/O limit made this round sleep.
    pub throttled: Duration,
}

/// A stop flag that sleepers wake up for.
#[derive(Debug, Default)]
pub struct StopSignal {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl StopSignal {
    pub fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `timeout` or until stopped; returns whether stopped.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        while !*stopped {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            stopped = self
                .wake
                .wait_timeout(stopped, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *stopped
    }
}

/// Bytes-per-second limit on the cleaner's I/O: after each read or write the cleaner sleeps as long as
/// it is ahead of the rate (woken early by a stop, which then fails the round). The rate is counted from
/// the start of the round ([`Throttle::restart`]), so time spent idle between rounds earns no credit.
#[derive(Debug)]
pub struct Throttle {
    bytes_per_second: Option<u64>,
    started: std::cell::Cell<Instant>,
    bytes: std::cell::Cell<u64>,
    /// Time slept since the last restart.
    waited: std::cell::Cell<Duration>,
    stop: Arc<StopSignal>,
}

impl Throttle {
    pub fn new(bytes_per_second: Option<u64>, stop: Arc<StopSignal>) -> Self {
        Self {
            bytes_per_second: bytes_per_second.filter(|&b| b > 0),
            started: std::cell::Cell::new(Instant::now()),
            bytes: std::cell::Cell::new(0),
            waited: std::cell::Cell::new(Duration::ZERO),
            stop,
        }
    }

    /// Starts counting the rate afresh (at the start of a round).
    pub fn restart(&self) {
        self.started.set(Instant::now());
        self.bytes.set(0);
        self.waited.set(Duration::ZERO);
    }

    /// Bytes accounted since the last restart (only counted under a limit).
    pub fn bytes(&self) -> u64 {
        self.bytes.get()
    }

    /// Time slept since the last restart.
    pub fn waited(&self) -> Duration {
        self.waited.get()
    }

    /// How long the limit wants the cleaner to sleep after `bytes` in all since the restart, `elapsed`
    /// after it: the time those bytes take at the rate, minus the time already spent.
    pub fn wait_for(&self, bytes: u64, elapsed: Duration) -> Duration {
        let Some(rate) = self.bytes_per_second else {
            return Duration::ZERO;
        };
        Duration::from_secs_f64(bytes as f64 / rate as f64).saturating_sub(elapsed)
    }

    pub fn unlimited() -> Self {
        Self::new(None, Arc::default())
    }

    /// Accounts `bytes` of I/O, sleeping if the rate is exceeded. Fails once the cleaner is stopped, so
    /// that a stop ends a round within one chunk of I/O.
    pub fn acquire(&self, bytes: u64) -> Result<(), LogError> {
        let stopped = || LogError::Io {
            operation: "log cleaner stopped",
            path: Default::default(),
            source: std::io::Error::from(std::io::ErrorKind::Interrupted),
        };
        if self.stop.is_stopped() {
            return Err(stopped());
        }
        if self.bytes_per_second.is_none() {
            return Ok(());
        }
        self.bytes.set(self.bytes.get() + bytes);
        let wait = self.wait_for(self.bytes.get(), self.started.get().elapsed());
        if wait.is_zero() {
            return Ok(());
        }
        let slept = Instant::now();
        let stopped_now = self.stop.wait(wait);
        self.waited.set(self.waited.get() + slept.elapsed());
        if stopped_now {
            return Err(stopped());
        }
        Ok(())
    }
}

/// The state one cleaner thread owns: its configuration, key map and I/O throttle. The key map's memory
/// is taken at the first clean, so a broker without compacted topics never pays for it.
#[derive(Debug)]
pub struct CleanerWorker {
    pub config: CleanerConfig,
    pub map: OffsetMap,
    pub throttle: Throttle,
    pub stop: Arc<StopSignal>,
}

impl CleanerWorker {
    pub fn new(config: CleanerConfig) -> Self {
        Self::with_stop(config, Arc::default())
    }

    pub fn with_stop(config: CleanerConfig, stop: Arc<StopSignal>) -> Self {
        Self {
            map: OffsetMap::default(),
            throttle: Throttle::new(config.io_bytes_per_second, Arc::clone(&stop)),
            config,
            stop,
        }
    }
}

/// A log behind the lock the broker keeps it in.
pub trait SharedLog: Send + Sync {
    fn log(&self) -> &RwLock<Log>;
}

impl SharedLog for RwLock<Log> {
    fn log(&self) -> &RwLock<Log> {
        self
    }
}

/// Where the cleaner finds the logs to clean (asked again at every pass, so new topics are picked up).
pub trait LogSource: Send + Sync + 'static {
    fn logs(&self) -> Vec<Arc<dyn SharedLog>>;
}

impl<F> LogSource for F
where
    F: Fn() -> Vec<Arc<dyn SharedLog>> + Send + Sync + 'static,
{
    fn logs(&self) -> Vec<Arc<dyn SharedLog>> {
        self()
    }
}

/// The log cleaner thread. Dropping it stops and joins the thread.
#[derive(Debug)]
pub struct Cleaner {
    stop: Arc<StopSignal>,
    thread: Option<JoinHandle<()>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Cleaner {
    /// Starts the cleaner thread over the logs `source` lists.
    pub fn start(config: CleanerConfig, source: Arc<dyn LogSource>) -> Result<Cleaner, LogError> {
        let stop = Arc::new(StopSignal::default());
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("herald-log-cleaner".into())
            .spawn(move || {
                run(
                    CleanerWorker::with_stop(config, thread_stop),
                    source.as_ref(),
                )
            })
            .map_err(|source| LogError::Io {
                operation: "spawn log cleaner thread",
                path: Default::default(),
                source,
            })?;
        Ok(Cleaner {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread (an ongoing round is abandoned at its next I/O or group) and waits for it.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("log cleaner thread panicked");
            }
        }
    }
}

impl Drop for Cleaner {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn run(mut worker: CleanerWorker, source: &dyn LogSource) {
    let backoff = Duration::from_millis(worker.config.backoff_ms);
    while !worker.stop.is_stopped() {
        let mut cleaned_any = false;
        for shared in source.logs() {
            if worker.stop.is_stopped() {
                return;
            }
            let log = shared.log();
            let dir = log
                .read()
                .map(|l| l.dir().to_path_buf())
                .unwrap_or_default();
            let started = Instant::now();
            let result = clean_log(log, &mut worker, now_ms(), false);
            let metrics = &worker.config.metrics;
            metrics.key_map_bytes.store(
                worker.map.memory_bytes() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            match result {
                Ok(Some(stats)) => {
                    cleaned_any = true;
                    metrics.record_pass(&stats, started.elapsed());
                    tracing::info!(dir = %dir.display(), ?stats, "log cleaner: cleaned");
                }
                Ok(None) => {}
                Err(e) if worker.stop.is_stopped() => {
                    tracing::debug!(error = %e, "log cleaner stopped mid-round");
                }
                Err(e) => {
                    metrics
                        .failures
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(dir = %dir.display(), error = %e, "log cleaner: round failed")
                }
            }
        }
        if !cleaned_any && worker.stop.wait(backoff) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // the limit's wait is the time the bytes take at the rate minus the time spent; none when unlimited
    #[test]
    fn throttle_waits_for_bytes_over_rate() {
        let throttle = Throttle::new(Some(1_000_000), Arc::default());
        assert_eq!(
            throttle.wait_for(500_000, Duration::ZERO),
            Duration::from_millis(500)
        );
        assert_eq!(
            throttle.wait_for(500_000, Duration::from_millis(200)),
            Duration::from_millis(300)
        );
        assert_eq!(
            throttle.wait_for(500_000, Duration::from_secs(1)),
            Duration::ZERO
        );
        assert_eq!(
            Throttle::unlimited().wait_for(u64::MAX, Duration::ZERO),
            Duration::ZERO
        );
    }

    // a restart forgets the bytes of the previous round, so idle time earns no burst
    #[test]
    fn throttle_restart_counts_afresh() {
        let throttle = Throttle::new(Some(100_000_000), Arc::default());
        throttle.acquire(1_000).unwrap();
        assert_eq!(throttle.bytes(), 1_000);
        throttle.restart();
        assert_eq!((throttle.bytes(), throttle.waited()), (0, Duration::ZERO));
        throttle.acquire(10_000_000).unwrap(); // 0.1 s at the rate
        assert!(
            throttle.waited() >= Duration::from_millis(90),
            "{:?}",
            throttle.waited()
        );
    }
}
