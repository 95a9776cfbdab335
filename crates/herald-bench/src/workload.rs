//! The workloads: bulk produce then consume (100 B and 1 KiB), end-to-end latency at a fixed rate with
//! one producer and one consumer, and eight producers with eight consumers on eight partitions.
//!
//! Each run starts a fresh server, so peak RSS belongs to one workload. Not a load generator for
//! anything but these shapes. Main types: `Workload`, `Settings`, `Measurement`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::payload::Pacer;
use crate::systems::{self, Binaries, ConsumeJob, ProduceJob, System, Target};

/// How long the warm-up record of a latency run may take to arrive.
const WARMUP_TIMEOUT_MS: u64 = 30_000;
/// How long past its nominal duration a paced producer may keep trying to catch up.
const LATENCY_GRACE_SECONDS: u64 = 5;
/// Record size of the latency and fan-out workloads.
const SMALL_RECORD_BYTES: usize = 100;

/// One workload shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Produce `records` of this size as fast as acknowledgements allow, then consume them back.
    Throughput { size_bytes: usize },
    /// One producer at a fixed rate, one consumer, latency from the payload's send stamp.
    Latency,
    /// `partitions` producers and consumers at once, one partition each.
    Fanout,
}

impl Workload {
    /// Names of the report rows this workload produces.
    pub fn row_names(&self, settings: &Settings) -> Vec<String> {
        match self {
            Workload::Throughput { size_bytes } => vec![
                format!("produce {}", size_label(*size_bytes)),
                format!("consume {}", size_label(*size_bytes)),
            ],
            Workload::Latency => vec![format!(
                "e2e latency at {} records/s",
                settings.latency_rate
            )],
            Workload::Fanout => vec![format!(
                "{0} producers + {0} consumers, {0} partitions",
                settings.partitions
            )],
        }
    }
}

fn size_label(size_bytes: usize) -> String {
    if size_bytes % 1024 == 0 {
        format!("{} KiB", size_bytes / 1024)
    } else {
        format!("{size_bytes} B")
    }
}

/// Sizes of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Records per throughput workload and in total for the fan-out workload.
    pub records: u64,
    pub latency_seconds: u64,
    pub latency_rate: u64,
    pub partitions: u32,
    /// Longest a produce phase may run before it stops short (fsync-per-write peers can be slow).
    pub phase_seconds_max: u64,
    /// Background writer's rate during the whole run (0: none); see `contention.rs`.
    pub contention_mb_per_second: u64,
}

impl Settings {
    /// When a produce phase starting now must stop.
    fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs(self.phase_seconds_max)
    }
}

/// One row of the report: one workload phase on one system.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub workload: String,
    pub target: Target,
    pub system: String,
    pub record_bytes: usize,
    pub records_produced: u64,
    pub records_consumed: u64,
    pub seconds: f64,
    pub records_per_second: f64,
    pub megabytes_per_second: f64,
    pub latency_p50_us: Option<u64>,
    pub latency_p99_us: Option<u64>,
    pub latency_p999_us: Option<u64>,
    pub server_peak_rss_kib: Option<u64>,
    pub error: Option<String>,
}

impl Measurement {
    fn new(workload: String, target: Target, record_bytes: usize) -> Self {
        Self {
            workload,
            target,
            system: target.label().to_owned(),
            record_bytes,
            records_produced: 0,
            records_consumed: 0,
            seconds: 0.0,
            records_per_second: 0.0,
            megabytes_per_second: 0.0,
            latency_p50_us: None,
            latency_p99_us: None,
            latency_p999_us: None,
            server_peak_rss_kib: None,
            error: None,
        }
    }

    fn rate(mut self, records: u64, seconds: f64) -> Self {
        self.seconds = seconds;
        self.records_per_second = if seconds > 0.0 {
            records as f64 / seconds
        } else {
            0.0
        };
        self.megabytes_per_second = self.records_per_second * self.record_bytes as f64 / 1e6;
        self
    }

    fn latency(mut self, histogram: &Histogram<u64>) -> Self {
        if !histogram.is_empty() {
            self.latency_p50_us = Some(histogram.value_at_quantile(0.50));
            self.latency_p99_us = Some(histogram.value_at_quantile(0.99));
            self.latency_p999_us = Some(histogram.value_at_quantile(0.999));
        }
        self
    }
}

/// Runs `workload` on a fresh server of `target`; a failure becomes rows carrying the error.
pub async fn run(
    workload: Workload,
    target: Target,
    binaries: &Binaries,
    settings: &Settings,
) -> Vec<Measurement> {
    let topic = format!("bench-{}", workload_slug(workload));
    let result = async {
        settle_disk().await;
        let mut running = systems::start(target, binaries).await?;
        let system = running.system.clone();
        let outcome = match workload {
            Workload::Throughput { size_bytes } => {
                throughput(&*system, target, &topic, size_bytes, settings).await
            }
            Workload::Latency => latency(system, target, &topic, settings).await,
            Workload::Fanout => fanout(system, target, &topic, settings).await,
        };
        running.server.check_alive()?;
        let rss = running.server.peak_rss_kib();
        tokio::task::spawn_blocking(move || running.server.stop()).await??;
        let mut rows = outcome?;
        for row in &mut rows {
            row.server_peak_rss_kib = rss;
        }
        anyhow::Ok(rows)
    }
    .await;
    let label = systems::label(target, binaries);
    let mut rows = match result {
        Ok(rows) => rows,
        Err(error) => {
            tracing::error!(system = target.label(), ?workload, "{error:#}");
            let size = match workload {
                Workload::Throughput { size_bytes } => size_bytes,
                Workload::Latency | Workload::Fanout => SMALL_RECORD_BYTES,
            };
            workload
                .row_names(settings)
                .into_iter()
                .map(|name| Measurement {
                    error: Some(format!("{error:#}")),
                    ..Measurement::new(name, target, size)
                })
                .collect()
        }
    };
    for row in &mut rows {
        row.system.clone_from(&label);
    }
    rows
}

/// Writes back every dirty page before a system starts (`sync`), so that a system that fsyncs per
/// write is not charged for the gigabytes the previous run left in the page cache: its fsyncs would
/// otherwise queue behind that writeback, and which system ran after the largest write would decide
/// the latency table. Best effort: without a `sync` command the run goes on.
async fn settle_disk() {
    let synced = tokio::process::Command::new("sync").status().await;
    if let Err(error) = synced {
        tracing::warn!(%error, "could not run sync before the workload");
    }
}

fn workload_slug(workload: Workload) -> String {
    match workload {
        Workload::Throughput { size_bytes } => format!("throughput-{size_bytes}"),
        Workload::Latency => "latency".to_owned(),
        Workload::Fanout => "fanout".to_owned(),
    }
}

async fn throughput(
    system: &dyn System,
    target: Target,
    topic: &str,
    size_bytes: usize,
    settings: &Settings,
) -> anyhow::Result<Vec<Measurement>> {
    system.prepare(topic, 1).await?;
    let produced = system
        .produce(ProduceJob {
            topic: topic.to_owned(),
            partition: 0,
            first_seq: 0,
            records: settings.records,
            size_bytes,
            pacer: None,
            low_latency: false,
            deadline: settings.deadline(),
        })
        .await
        .context("produce phase")?;
    let consumed = system
        .consume(ConsumeJob {
            topic: topic.to_owned(),
            partition: 0,
            records: Arc::new(AtomicU64::new(produced.acked)),
            progress: Arc::new(AtomicU64::new(0)),
            latency_from_seq: u64::MAX, // records were written long ago: no latency here
        })
        .await
        .context("consume phase")?;
    let names = Workload::Throughput { size_bytes }.row_names(settings);
    let counts = |mut row: Measurement| {
        row.records_produced = produced.acked;
        row.records_consumed = consumed.received;
        row
    };
    Ok(vec![
        counts(Measurement::new(names[0].clone(), target, size_bytes))
            .rate(produced.acked, produced.seconds),
        counts(Measurement::new(names[1].clone(), target, size_bytes))
            .rate(consumed.received, consumed.seconds),
    ])
}

async fn latency(
    system: Arc<dyn System>,
    target: Target,
    topic: &str,
    settings: &Settings,
) -> anyhow::Result<Vec<Measurement>> {
    system.prepare(topic, 1).await?;
    let records = settings.latency_rate * settings.latency_seconds;
    let progress = Arc::new(AtomicU64::new(0));
    let expected = Arc::new(AtomicU64::new(records + 1));
    let consumer = tokio::spawn({
        let (system, job) = (
            system.clone(),
            ConsumeJob {
                topic: topic.to_owned(),
                partition: 0,
                records: expected.clone(),
                progress: progress.clone(),
                latency_from_seq: 1, // record 0 warms up both clients and is not measured
            },
        );
        async move { system.consume(job).await }
    });
    let job = |first_seq, records, pacer| ProduceJob {
        topic: topic.to_owned(),
        partition: 0,
        first_seq,
        records,
        size_bytes: SMALL_RECORD_BYTES,
        pacer,
        low_latency: true,
        deadline: Instant::now()
            + Duration::from_secs(settings.latency_seconds + LATENCY_GRACE_SECONDS),
    };
    let sent = async {
        let warmup = system.produce(job(0, 1, None)).await.context("warm-up")?;
        wait_for(&progress, 1, &consumer).await?;
        let paced = system
            .produce(job(1, records, Some(Pacer::new(settings.latency_rate))))
            .await
            .context("paced produce")?;
        anyhow::Ok((warmup, paced))
    }
    .await;
    let (warmup, produced) = match sent {
        Ok(sent) => sent,
        Err(error) => {
            // The consumer would wait for records that never come: stop it before returning.
            consumer.abort();
            let _ = consumer.await;
            return Err(error);
        }
    };
    // A peer that cannot keep the rate stops at the deadline; read back what it wrote.
    expected.store(warmup.acked + produced.acked, Ordering::Relaxed);
    let consumed = consumer.await??;
    let name = Workload::Latency.row_names(settings).remove(0);
    let mut row = Measurement::new(name, target, SMALL_RECORD_BYTES)
        .rate(produced.acked, produced.seconds)
        .latency(&consumed.latency);
    row.records_produced = warmup.acked + produced.acked;
    row.records_consumed = consumed.received;
    Ok(vec![row])
}

/// Waits until the consumer has seen `count` records (or has failed).
async fn wait_for(
    progress: &AtomicU64,
    count: u64,
    consumer: &tokio::task::JoinHandle<anyhow::Result<systems::ConsumeOutcome>>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_millis(WARMUP_TIMEOUT_MS);
    while progress.load(Ordering::Relaxed) < count {
        if consumer.is_finished() {
            bail!("the consumer stopped during warm-up");
        }
        if Instant::now() > deadline {
            bail!("the warm-up record did not arrive within {WARMUP_TIMEOUT_MS} ms");
        }
        systems::poll_pause().await;
    }
    Ok(())
}

async fn fanout(
    system: Arc<dyn System>,
    target: Target,
    topic: &str,
    settings: &Settings,
) -> anyhow::Result<Vec<Measurement>> {
    system.prepare(topic, settings.partitions).await?;
    let per_partition = (settings.records / u64::from(settings.partitions)).max(1);
    let start = Instant::now();
    let mut consumers = Vec::new();
    let mut producers = Vec::new();
    for partition in 0..settings.partitions {
        let (system_c, system_p) = (system.clone(), system.clone());
        let expected = Arc::new(AtomicU64::new(per_partition));
        let consume = ConsumeJob {
            topic: topic.to_owned(),
            partition,
            records: expected.clone(),
            progress: Arc::new(AtomicU64::new(0)),
            latency_from_seq: 0,
        };
        consumers.push(tokio::spawn(async move { system_c.consume(consume).await }));
        let produce = ProduceJob {
            topic: topic.to_owned(),
            partition,
            first_seq: 0,
            records: per_partition,
            size_bytes: SMALL_RECORD_BYTES,
            pacer: None,
            low_latency: false,
            deadline: settings.deadline(),
        };
        producers.push(tokio::spawn(async move {
            let outcome = system_p.produce(produce).await?;
            // Stopped short by the time budget: the consumer reads what was written.
            expected.store(outcome.acked, Ordering::Relaxed);
            anyhow::Ok(outcome)
        }));
    }
    let (mut produced, mut consumed) = (0u64, 0u64);
    let mut latency = systems::latency_histogram()?;
    let mut failure: Option<anyhow::Error> = None;
    for producer in producers {
        match producer.await.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(outcome) => produced += outcome.acked,
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    if failure.is_some() {
        // Consumers would wait for records that never come.
        consumers.iter().for_each(|consumer| consumer.abort());
    }
    for consumer in consumers {
        match consumer.await.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(outcome) => {
                consumed += outcome.received;
                latency.add(&outcome.latency).ok();
            }
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    if let Some(error) = failure {
        return Err(error);
    }
    let seconds = start.elapsed().as_secs_f64();
    let name = Workload::Fanout.row_names(settings).remove(0);
    let mut row = Measurement::new(name, target, SMALL_RECORD_BYTES)
        .rate(consumed, seconds)
        .latency(&latency);
    row.records_produced = produced;
    row.records_consumed = consumed;
    Ok(vec![row])
}
