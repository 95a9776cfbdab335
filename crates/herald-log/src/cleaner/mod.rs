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
//!
//! Main types: [`Cleaner`], [`CleanerConfig`], [`CleanerWorker`], [`CleaningStats`].

pub mod clean;
pub mod cleanable;
pub mod filter;
pub mod offset_map;
pub mod records;
pub mod swap;
pub mod swap_recovery;

use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use clean::clean_log;
pub use cleanable::{CleanReason, CleanableRange};
pub use offset_map::OffsetMap;
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
}

impl std::fmt::Debug for CleanerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CleanerConfig")
            .field("dedupe_buffer_bytes", &self.dedupe_buffer_bytes)
            .field("io_bytes_per_second", &self.io_bytes_per_second)
            .field("backoff_ms", &self.backoff_ms)
            .field("crash_hook", &self.crash_hook.is_some())
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
/// it is ahead of the rate (woken early by a stop, which then fails the round).
#[derive(Debug)]
pub struct Throttle {
    bytes_per_second: Option<u64>,
    started: Instant,
    bytes: std::cell::Cell<u64>,
    stop: Arc<StopSignal>,
}

impl Throttle {
    pub fn new(bytes_per_second: Option<u64>, stop: Arc<StopSignal>) -> Self {
        Self {
            bytes_per_second: bytes_per_second.filter(|&b| b > 0),
            started: Instant::now(),
            bytes: std::cell::Cell::new(0),
            stop,
        }
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
        let Some(rate) = self.bytes_per_second else {
            return Ok(());
        };
        self.bytes.set(self.bytes.get() + bytes);
        let due = Duration::from_secs_f64(self.bytes.get() as f64 / rate as f64);
        let elapsed = self.started.elapsed();
        if due > elapsed && self.stop.wait(due - elapsed) {
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
            match clean_log(log, &mut worker, now_ms(), false) {
                Ok(Some(stats)) => {
                    cleaned_any = true;
                    tracing::info!(dir = %dir.display(), ?stats, "log cleaner: cleaned");
                }
                Ok(None) => {}
                Err(e) if worker.stop.is_stopped() => {
                    tracing::debug!(error = %e, "log cleaner stopped mid-round");
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "log cleaner: round failed")
                }
            }
        }
        if !cleaned_any && worker.stop.wait(backoff) {
            return;
        }
    }
}
