//! The systems under comparison behind one small contract: start a server, create partitions, produce
//! records to one partition, consume them back. One file per system.
//!
//! Not a general client abstraction: just what the workloads need. Main types: `System`, `Target`,
//! `ProduceJob`, `ConsumeJob`.

pub mod herald;
pub mod nats;
pub mod redis;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::payload::Pacer;
use crate::server::ServerProcess;

/// A consumer that sees no record for this long fails its workload.
pub const STALL_TIMEOUT_MS: u64 = 30_000;
/// Latencies above this are clamped into the histogram's last bucket.
pub const LATENCY_MICROS_MAX: u64 = 60_000_000;

/// Which product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Herald,
    Redis,
    Nats,
}

/// Durability class: `Equal` fsyncs before acknowledging; `Relaxed` acknowledges from the page cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    Equal,
    Relaxed,
}

/// One system in one durability class, as the report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Target {
    pub kind: Kind,
    pub durability: Durability,
}

impl Target {
    /// The report's label, e.g. "herald (fsync always)".
    pub fn label(&self) -> &'static str {
        match (self.kind, self.durability) {
            (Kind::Herald, Durability::Equal) => "herald (flush always)",
            (Kind::Redis, Durability::Equal) => "Redis Streams (appendfsync always)",
            (Kind::Nats, Durability::Equal) => "NATS JetStream (sync_interval always)",
            (Kind::Herald, Durability::Relaxed) => "herald (flush never)",
            (Kind::Redis, Durability::Relaxed) => "Redis Streams (appendfsync everysec)",
            (Kind::Nats, Durability::Relaxed) => "NATS JetStream (default sync)",
        }
    }
}

/// The report's label of `target` with these binaries (an old nats-server cannot fsync every write).
pub fn label(target: Target, binaries: &Binaries) -> String {
    if target.kind == Kind::Nats
        && target.durability == Durability::Equal
        && !binaries.nats_sync_interval
    {
        return "NATS JetStream (default sync: server lacks sync_interval)".to_owned();
    }
    target.label().to_owned()
}

/// Where the server binaries are.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `herald` binary; `None` runs the broker as `herald-bench serve-herald` (this executable).
    pub herald: Option<PathBuf>,
    pub redis_server: PathBuf,
    pub nats_server: PathBuf,
    /// Whether nats-server knows `sync_interval` (2.10+).
    pub nats_sync_interval: bool,
}

/// Records to write to one partition.
#[derive(Debug, Clone)]
pub struct ProduceJob {
    pub topic: String,
    pub partition: u32,
    /// Sequence number of the first record (carried in the payload).
    pub first_seq: u64,
    pub records: u64,
    pub size_bytes: usize,
    /// Fixed-rate sending; `None` sends as fast as acknowledgements allow.
    pub pacer: Option<Pacer>,
    /// Tuned for latency (no lingering) rather than throughput.
    pub low_latency: bool,
    /// Stop sending at this instant (fewer records than asked; the outcome says how many).
    pub deadline: Instant,
}

impl ProduceJob {
    /// Whether sending should stop (the time budget is spent).
    pub fn out_of_time(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

/// What a producer did: acknowledged records and seconds from first send to last acknowledgement.
#[derive(Debug, Clone, Copy)]
pub struct ProduceOutcome {
    pub acked: u64,
    pub seconds: f64,
}

/// Records to read back from one partition, from its beginning.
#[derive(Debug, Clone)]
pub struct ConsumeJob {
    pub topic: String,
    pub partition: u32,
    /// Records to read; lowered by the workload when a producer ran out of time.
    pub records: Arc<AtomicU64>,
    /// Records seen so far, for other tasks to wait on.
    pub progress: Arc<AtomicU64>,
    /// Latency is recorded only for records with at least this sequence number (skips warm-up).
    pub latency_from_seq: u64,
}

/// What a consumer did.
#[derive(Debug)]
pub struct ConsumeOutcome {
    pub received: u64,
    pub seconds: f64,
    /// End-to-end latency in microseconds, send stamp to receipt.
    pub latency: Histogram<u64>,
}

/// A new latency histogram (1 µs to a minute, 3 significant digits).
pub fn latency_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, LATENCY_MICROS_MAX, 3)?)
}

/// Records the latency of one received payload if it is past the warm-up.
pub fn record_latency(histogram: &mut Histogram<u64>, payload: &[u8], latency_from_seq: u64) {
    if let Some((sent, seq)) = crate::payload::read_stamp(payload) {
        if seq >= latency_from_seq {
            let micros = crate::payload::now_nanos().saturating_sub(sent) / 1_000;
            histogram.saturating_record(micros.clamp(1, LATENCY_MICROS_MAX));
        }
    }
}

/// Clients of one running system.
#[async_trait]
pub trait System: Send + Sync {
    /// Creates `topic` with `partitions` partitions (streams for the peers).
    async fn prepare(&self, topic: &str, partitions: u32) -> anyhow::Result<()>;
    /// Writes the job's records and waits for every acknowledgement.
    async fn produce(&self, job: ProduceJob) -> anyhow::Result<ProduceOutcome>;
    /// Reads the job's records back.
    async fn consume(&self, job: ConsumeJob) -> anyhow::Result<ConsumeOutcome>;
}

/// A started server and its clients.
pub struct Running {
    pub server: ServerProcess,
    pub system: Arc<dyn System>,
}

/// Starts `target`'s server in a fresh temporary directory and connects its clients.
pub async fn start(target: Target, binaries: &Binaries) -> anyhow::Result<Running> {
    match target.kind {
        Kind::Herald => herald::start(target.durability, binaries).await,
        Kind::Redis => redis::start(target.durability, binaries).await,
        Kind::Nats => nats::start(target.durability, binaries).await,
    }
}

impl ConsumeJob {
    /// Whether `received` records are all this consumer has to read.
    pub fn done(&self, received: u64) -> bool {
        received >= self.records.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// How long a consumer waits for one record before checking whether it is done.
pub const POLL_INTERVAL_MS: u64 = 100;

/// Sleeps a little; for loops polling a condition with a deadline.
pub async fn poll_pause() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}
