//! `herald-bench soak`: many concurrent Kafka clients producing and consuming against one herald
//! broker child process for a bounded time, sampling the broker's RSS, open file descriptors, sockets
//! and threads from /proc. Half the clients are paced idempotent producers (acks=all), half are
//! consumers, each assigned one partition and reading it from the beginning; at the end every consumer
//! must have read exactly what was acknowledged on its partition, offsets contiguous.
//!
//! Not a pass/fail gate on memory: RSS and descriptor figures are reported, never asserted; the exit
//! code is non-zero only on a client error or a lost, duplicated or reordered record. Writes `soak.json`
//! and `soak.md` under target/bench/. Main types: `SoakArgs`, `SoakReport`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::server::{free_port, ServerProcess};
use crate::systems::{latency_histogram, record_latency};

/// The topic every client uses.
const TOPIC: &str = "soak";
/// Bytes per record (the send stamp plus filler).
const RECORD_BYTES: usize = 100;
/// How long producers may take to get their last acknowledgements once sending stops.
const FLUSH_TIMEOUT_MS: u64 = 120_000;
/// How long consumers may take to catch up with the last acknowledged offset.
const DRAIN_TIMEOUT_MS: u64 = 120_000;
/// Pause of a driver thread that found nothing to do in one pass over its clients.
const IDLE_PAUSE_MS: u64 = 2;
/// Records a producer may have queued locally before it skips its turn.
const PRODUCER_QUEUE_MAX: &str = "10000";

/// Phases the driver threads follow.
const PHASE_RUN: u8 = 0;
const PHASE_DRAIN: u8 = 1;
const PHASE_STOP: u8 = 2;

/// Flags of `herald-bench soak`.
#[derive(Debug, Clone, clap::Args)]
pub struct SoakArgs {
    /// Broker connections to open: half of them from producers (one connection each), half from
    /// consumers (two each: fetching, and their group coordinator).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(2..=5000))]
    connections: u32,
    /// Seconds of producing and consuming.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    duration: u64,
    /// Records per second over all producers together.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    rate: u64,
    /// Partitions of the soak topic; producer i writes partition i mod this, consumer j reads j mod this.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    partitions: u32,
    /// Seconds of warm-up excluded from the RSS and descriptor figures [default: 20% of --duration].
    #[arg(long)]
    warmup: Option<u64>,
    /// Seconds between samples of the broker process.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    sample_seconds: u64,
    /// Threads that drive the clients (send, poll, consume).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    driver_threads: u32,
    /// Seconds over which the clients are created (and connect), so the run does not start with a
    /// connection storm; the measured duration starts after it.
    #[arg(long, default_value_t = 10)]
    ramp_seconds: u64,
    /// The `herald` binary [default: next to this executable, else this executable's serve-herald].
    #[arg(long, env = "HERALD_BENCH_HERALD_BIN")]
    herald_bin: Option<PathBuf>,
    /// Run the broker as `herald-bench serve-herald` even if a `herald` binary is found.
    #[arg(long)]
    embedded_herald: bool,
    /// Where soak.json and soak.md go [default: target/bench next to this executable's profile].
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

/// One sample of the broker process and of the clients' progress.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub seconds: f64,
    pub rss_kib: u64,
    /// Anonymous memory (heap) part of `rss_kib`.
    pub rss_anon_kib: u64,
    /// File-backed part of `rss_kib` (mapped segment and index files).
    pub rss_file_kib: u64,
    pub fds: u64,
    pub sockets: u64,
    pub threads: u64,
    pub produced_per_second: f64,
    pub consumed_per_second: f64,
}

/// Figures after the warm-up, and the run's totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub warmup_seconds: u64,
    pub rss_kib_at_warmup_end: u64,
    pub rss_kib_at_end: u64,
    pub rss_kib_min_after_warmup: u64,
    pub rss_kib_max_after_warmup: u64,
    /// Last sample's RSS minus the first sample's after the warm-up.
    pub rss_growth_kib: i64,
    /// The same for anonymous memory only (heap, not mapped files).
    pub rss_anon_growth_kib: i64,
    pub rss_kib_peak: u64,
    pub fds_min_after_warmup: u64,
    pub fds_max_after_warmup: u64,
    pub fds_max: u64,
    pub sockets_max: u64,
    /// Client connections at the warm-up's end: the broker's sockets minus its listener.
    pub client_connections_at_warmup_end: u64,
    pub threads_max: u64,
    pub records_produced: u64,
    /// Records consumed over all consumers (several consumers may read one partition).
    pub records_consumed: u64,
    /// Records every consumer should have read, summed over consumers.
    pub records_expected: u64,
    pub produced_per_second: f64,
    pub consumed_per_second: f64,
    pub delivery_errors: u64,
    pub consumer_errors: u64,
    /// Client-level errors librdkafka reported (connection timeouts, all brokers down).
    pub client_errors: u64,
    /// Consumers that ended short of, or beyond, their partition's acknowledged count.
    pub consumers_mismatched: u64,
    pub first_error: Option<String>,
    pub latency_p50_us: Option<u64>,
    pub latency_p99_us: Option<u64>,
    pub latency_max_us: Option<u64>,
}

/// Everything a soak run measured.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub started_unix_seconds: u64,
    pub wall_seconds: f64,
    pub cores: usize,
    pub cpu_model: String,
    pub herald_server: String,
    pub producers: u32,
    pub consumers: u32,
    /// Client connections the producers and consumers were expected to open.
    pub connections: u32,
    pub partitions: u32,
    pub duration_seconds: u64,
    pub rate: u64,
    pub record_bytes: usize,
    pub summary: Summary,
    pub samples: Vec<Sample>,
}

/// Counters the clients share with the sampler.
struct Shared {
    phase: AtomicU8,
    sent: AtomicU64,
    acked: AtomicU64,
    consumed: AtomicU64,
    delivery_errors: AtomicU64,
    consumer_errors: AtomicU64,
    /// Client-level errors librdkafka reports (connection timeouts, all brokers down).
    client_errors: AtomicU64,
    /// Acknowledged records per partition.
    partition_acked: Vec<AtomicU64>,
    /// Acknowledged counts per partition, fixed once every producer has flushed.
    expected: OnceLock<Vec<u64>>,
    /// Driver threads whose producers have nothing in flight any more.
    flushed_threads: AtomicU64,
    /// Driver threads whose consumers have all reached `expected`.
    caught_up_threads: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn error(&self, counter: &AtomicU64, message: String) {
        counter.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(message);
        }
    }
}

/// Delivery reports of one producer.
struct Deliveries(Arc<Shared>);

impl ClientContext for Deliveries {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.error(
            &self.0.client_errors,
            format!("producer: {error}: {reason}"),
        );
    }
}

/// Counts a consumer's client-level errors (connection failures, brokers down).
struct ClientErrors(Arc<Shared>);

impl ClientContext for ClientErrors {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.error(
            &self.0.client_errors,
            format!("consumer: {error}: {reason}"),
        );
    }
}

impl ConsumerContext for ClientErrors {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => {
                self.0.acked.fetch_add(1, Ordering::Relaxed);
                if let Some(count) = usize::try_from(message.partition())
                    .ok()
                    .and_then(|p| self.0.partition_acked.get(p))
                {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err((error, _)) => self
                .0
                .error(&self.0.delivery_errors, format!("delivery: {error}")),
        }
    }
}

/// One paced producer.
struct ProducerSlot {
    producer: BaseProducer<Deliveries>,
    partition: i32,
    sent: u64,
}

/// One consumer of one partition.
struct ConsumerSlot {
    consumer: BaseConsumer<ClientErrors>,
    partition: i32,
    next_offset: i64,
    received: u64,
}

/// What a driver thread hands back.
struct DriverOutcome {
    /// (partition, records received) per consumer.
    consumers: Vec<(i32, u64)>,
    latency: Histogram<u64>,
}

/// Starts the broker, runs the load, samples the broker, writes the report; fails on any error or loss.
pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let started_unix_seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let herald = crate::herald_binary(args.herald_bin.as_deref(), args.embedded_herald)?;
    let herald_server = match &herald {
        Some(path) => format!("{} broker", path.display()),
        None => "herald-bench serve-herald".to_owned(),
    };
    let server = start_broker(herald).await?;
    let bootstrap = format!("127.0.0.1:{}", server.port);
    create_topic(&bootstrap, args.partitions).await?;
    eprintln!(
        "soak: {herald_server} (pid {}) on {bootstrap}, {} connections, {} s at {} records/s",
        server.pid(),
        args.connections,
        args.duration,
        args.rate
    );
    let load_args = args.clone();
    let (summary, samples, server) =
        tokio::task::spawn_blocking(move || load(&load_args, &bootstrap, server)).await??;
    tokio::task::spawn_blocking(move || server.stop()).await??;
    let (cores, cpu_model, _, _) = crate::report::machine_facts();
    let (producers, consumers) = client_counts(args.connections);
    let report = SoakReport {
        started_unix_seconds,
        wall_seconds: started.elapsed().as_secs_f64(),
        cores,
        cpu_model,
        herald_server,
        producers,
        consumers,
        connections: args.connections,
        partitions: args.partitions,
        duration_seconds: args.duration,
        rate: args.rate,
        record_bytes: RECORD_BYTES,
        summary,
        samples,
    };
    let out_dir = args.out_dir.clone().map_or_else(
        || std::env::current_exe().map(|exe| crate::default_out_dir(&exe)),
        Ok,
    )?;
    std::fs::create_dir_all(&out_dir)?;
    std::fs::write(
        out_dir.join("soak.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let markdown = markdown(&report);
    std::fs::write(out_dir.join("soak.md"), &markdown)?;
    println!("{markdown}");
    eprintln!("wrote {}/soak.json and soak.md", out_dir.display());
    let s = &report.summary;
    let errors = s.delivery_errors + s.consumer_errors + s.client_errors + s.consumers_mismatched;
    if errors > 0 {
        bail!(
            "{} delivery errors, {} consumer errors, {} client errors, {} consumers with a wrong count; first: {}",
            s.delivery_errors,
            s.consumer_errors,
            s.client_errors,
            s.consumers_mismatched,
            s.first_error.as_deref().unwrap_or("none")
        );
    }
    Ok(())
}

async fn start_broker(herald: Option<PathBuf>) -> anyhow::Result<ServerProcess> {
    let dir = tempfile::Builder::new()
        .prefix("herald-bench-soak")
        .tempdir()?;
    let port = free_port()?;
    let mut command = crate::systems::herald::broker_command(herald.as_deref())?;
    // Default flush policy (fsync before acknowledging) and retention.
    command
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path());
    tokio::task::spawn_blocking(move || ServerProcess::spawn("herald", &mut command, dir, port))
        .await?
}

async fn create_topic(bootstrap: &str, partitions: u32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let results = admin
        .create_topics(
            [&NewTopic::new(
                TOPIC,
                i32::try_from(partitions)?,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new(),
        )
        .await?;
    for result in results {
        result.map_err(|(topic, code)| anyhow::anyhow!("creating {topic}: {code}"))?;
    }
    Ok(())
}

/// Producers and consumers for `connections` broker connections: a producer opens one, a consumer two
/// (librdkafka's consumer keeps a separate connection to its group coordinator).
fn client_counts(connections: u32) -> (u32, u32) {
    let consumers = (connections / 4).max(1);
    (connections.saturating_sub(2 * consumers).max(1), consumers)
}

/// Creates the clients, drives them for the run, drains, and samples the broker meanwhile.
fn load(
    args: &SoakArgs,
    bootstrap: &str,
    mut server: ServerProcess,
) -> anyhow::Result<(Summary, Vec<Sample>, ServerProcess)> {
    let shared = Arc::new(Shared {
        phase: AtomicU8::new(PHASE_RUN),
        sent: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        consumed: AtomicU64::new(0),
        delivery_errors: AtomicU64::new(0),
        consumer_errors: AtomicU64::new(0),
        client_errors: AtomicU64::new(0),
        partition_acked: (0..args.partitions).map(|_| AtomicU64::new(0)).collect(),
        expected: OnceLock::new(),
        flushed_threads: AtomicU64::new(0),
        caught_up_threads: AtomicU64::new(0),
        first_error: Mutex::new(None),
    });
    let (producers, consumers) = client_counts(args.connections);
    let threads = args.driver_threads.min(producers + consumers);
    let per_producer_rate = args.rate as f64 / f64::from(producers.max(1));
    // Every driver thread and this one meet once all clients exist.
    let ready = Arc::new(Barrier::new(threads as usize + 1));
    let mut handles = Vec::new();
    for thread in 0..threads {
        let producer_ids: Vec<u32> = (0..producers).filter(|i| i % threads == thread).collect();
        let consumer_ids: Vec<u32> = (0..consumers).filter(|i| i % threads == thread).collect();
        let shared = shared.clone();
        let ready = ready.clone();
        let bootstrap = bootstrap.to_owned();
        let partitions = args.partitions;
        // Each thread spreads its clients over the ramp.
        let clients_here = (producer_ids.len() + consumer_ids.len()).max(1) as u32;
        let pause = Duration::from_secs(args.ramp_seconds) / clients_here;
        let handle = std::thread::Builder::new()
            .name(format!("soak-driver-{thread}"))
            .spawn(move || {
                drive(
                    &bootstrap,
                    &producer_ids,
                    &consumer_ids,
                    partitions,
                    per_producer_rate,
                    pause,
                    &shared,
                    &ready,
                )
            })?;
        handles.push(handle);
    }
    let setup = Instant::now();
    ready.wait();
    eprintln!(
        "soak: {producers} producers and {consumers} consumers created in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let pid = server.pid();
    let start = Instant::now();
    let end = start + Duration::from_secs(args.duration);
    let interval = Duration::from_secs(args.sample_seconds);
    let mut samples = Vec::new();
    let mut last = (start, 0u64, 0u64);
    let mut next = start + interval;
    while shared.phase.load(Ordering::Relaxed) == PHASE_RUN {
        let now = Instant::now();
        if now >= end {
            shared.phase.store(PHASE_DRAIN, Ordering::Relaxed);
            break;
        }
        if now < next {
            std::thread::sleep((next.min(end) - now).min(interval)); // the sampling clock
            continue;
        }
        next += interval;
        if let Err(error) = server.check_alive() {
            shared.phase.store(PHASE_STOP, Ordering::Relaxed);
            join_drivers(handles);
            return Err(error);
        }
        let sample = sample(pid, start, &mut last, &shared);
        eprintln!(
            "  {:>6.0} s  rss {:>8} KiB (anon {:>8})  fds {:>5}  sockets {:>5}  threads {:>3}  produced {:>8.0}/s  consumed {:>8.0}/s  errors {}",
            sample.seconds,
            sample.rss_kib,
            sample.rss_anon_kib,
            sample.fds,
            sample.sockets,
            sample.threads,
            sample.produced_per_second,
            sample.consumed_per_second,
            shared.delivery_errors.load(Ordering::Relaxed)
                + shared.consumer_errors.load(Ordering::Relaxed)
                + shared.client_errors.load(Ordering::Relaxed)
        );
        samples.push(sample);
    }
    let load_seconds = start.elapsed().as_secs_f64();
    let produced_during_load = shared.acked.load(Ordering::Relaxed);
    let consumed_during_load = shared.consumed.load(Ordering::Relaxed);

    // Drain: every producer flushes, then consumers catch up with what was acknowledged.
    let flush_deadline = Instant::now() + Duration::from_millis(FLUSH_TIMEOUT_MS);
    while shared.flushed_threads.load(Ordering::Relaxed) < u64::from(threads)
        && Instant::now() < flush_deadline
    {
        std::thread::sleep(Duration::from_millis(10)); // polling a condition with a deadline
    }
    let expected: Vec<u64> = shared
        .partition_acked
        .iter()
        .map(|count| count.load(Ordering::Relaxed))
        .collect();
    let _ = shared.expected.set(expected.clone());
    let drain_deadline = Instant::now() + Duration::from_millis(DRAIN_TIMEOUT_MS);
    while shared.caught_up_threads.load(Ordering::Relaxed) < u64::from(threads)
        && Instant::now() < drain_deadline
    {
        std::thread::sleep(Duration::from_millis(10)); // polling a condition with a deadline
    }
    if shared.flushed_threads.load(Ordering::Relaxed) < u64::from(threads) {
        shared.error(
            &shared.delivery_errors,
            format!("producers still had records in flight after {FLUSH_TIMEOUT_MS} ms"),
        );
    }
    shared.phase.store(PHASE_STOP, Ordering::Relaxed);
    server.check_alive()?;
    let (outcomes, panics) = join_drivers(handles);
    if panics > 0 {
        bail!("{panics} driver threads failed");
    }

    let mut latency = latency_histogram()?;
    let mut summary = Summary {
        records_produced: shared.acked.load(Ordering::Relaxed),
        produced_per_second: produced_during_load as f64 / load_seconds,
        consumed_per_second: consumed_during_load as f64 / load_seconds,
        ..Summary::default()
    };
    for outcome in outcomes {
        latency.add(&outcome.latency)?;
        for (partition, received) in outcome.consumers {
            let want = usize::try_from(partition)
                .ok()
                .and_then(|p| expected.get(p))
                .copied()
                .unwrap_or(0);
            summary.records_consumed += received;
            summary.records_expected += want;
            if received != want {
                summary.consumers_mismatched += 1;
                shared.error(
                    &shared.consumer_errors,
                    format!("a consumer of partition {partition} read {received} of {want}"),
                );
                shared.consumer_errors.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
    summary.delivery_errors = shared.delivery_errors.load(Ordering::Relaxed);
    summary.consumer_errors = shared.consumer_errors.load(Ordering::Relaxed);
    summary.client_errors = shared.client_errors.load(Ordering::Relaxed);
    summary.first_error = shared.first_error.lock().ok().and_then(|e| e.clone());
    if !latency.is_empty() {
        summary.latency_p50_us = Some(latency.value_at_quantile(0.50));
        summary.latency_p99_us = Some(latency.value_at_quantile(0.99));
        summary.latency_max_us = Some(latency.max());
    }
    let warmup = args.warmup.unwrap_or(args.duration / 5);
    summarise(&mut summary, &samples, warmup);
    Ok((summary, samples, server))
}

fn join_drivers(
    handles: Vec<std::thread::JoinHandle<anyhow::Result<DriverOutcome>>>,
) -> (Vec<DriverOutcome>, usize) {
    let mut outcomes = Vec::new();
    let mut failures = 0;
    for handle in handles {
        match handle.join() {
            Ok(Ok(outcome)) => outcomes.push(outcome),
            Ok(Err(error)) => {
                eprintln!("soak: driver thread failed: {error:#}");
                failures += 1;
            }
            Err(_) => failures += 1,
        }
    }
    (outcomes, failures)
}

/// RSS, descriptors, sockets and threads of `pid`, and the clients' rates since the last sample.
fn sample(pid: u32, start: Instant, last: &mut (Instant, u64, u64), shared: &Shared) -> Sample {
    let now = Instant::now();
    let (acked, consumed) = (
        shared.acked.load(Ordering::Relaxed),
        shared.consumed.load(Ordering::Relaxed),
    );
    let elapsed = now.duration_since(last.0).as_secs_f64().max(1e-9);
    let produced_per_second = (acked - last.1) as f64 / elapsed;
    let consumed_per_second = (consumed - last.2) as f64 / elapsed;
    *last = (now, acked, consumed);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    let (fds, sockets) = descriptors(pid);
    Sample {
        seconds: now.duration_since(start).as_secs_f64(),
        rss_kib: field("VmRSS:"),
        rss_anon_kib: field("RssAnon:"),
        rss_file_kib: field("RssFile:"),
        fds,
        sockets,
        threads: field("Threads:"),
        produced_per_second,
        consumed_per_second,
    }
}

/// Open descriptors of `pid`, and how many of them are sockets.
pub fn descriptors(pid: u32) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return (0, 0);
    };
    let mut fds = 0;
    let mut sockets = 0;
    for entry in entries.flatten() {
        fds += 1;
        if std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        {
            sockets += 1;
        }
    }
    (fds, sockets)
}

/// Fills the RSS and descriptor figures from the samples taken after `warmup` seconds.
fn summarise(summary: &mut Summary, samples: &[Sample], warmup: u64) {
    summary.warmup_seconds = warmup;
    summary.rss_kib_peak = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    summary.fds_max = samples.iter().map(|s| s.fds).max().unwrap_or(0);
    summary.sockets_max = samples.iter().map(|s| s.sockets).max().unwrap_or(0);
    summary.threads_max = samples.iter().map(|s| s.threads).max().unwrap_or(0);
    let after: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.seconds >= warmup as f64)
        .collect();
    let (Some(first), Some(last)) = (after.first(), after.last()) else {
        return;
    };
    summary.rss_kib_at_warmup_end = first.rss_kib;
    summary.client_connections_at_warmup_end = first.sockets.saturating_sub(1);
    summary.rss_kib_at_end = last.rss_kib;
    summary.rss_kib_min_after_warmup = after.iter().map(|s| s.rss_kib).min().unwrap_or(0);
    summary.rss_kib_max_after_warmup = after.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    summary.rss_growth_kib = i64::try_from(last.rss_kib).unwrap_or(i64::MAX)
        - i64::try_from(first.rss_kib).unwrap_or(i64::MAX);
    summary.rss_anon_growth_kib = i64::try_from(last.rss_anon_kib).unwrap_or(i64::MAX)
        - i64::try_from(first.rss_anon_kib).unwrap_or(i64::MAX);
    summary.fds_min_after_warmup = after.iter().map(|s| s.fds).min().unwrap_or(0);
    summary.fds_max_after_warmup = after.iter().map(|s| s.fds).max().unwrap_or(0);
}

/// One driver thread: creates its clients, then sends, polls and consumes until told to stop.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
fn drive(
    bootstrap: &str,
    producer_ids: &[u32],
    consumer_ids: &[u32],
    partitions: u32,
    rate: f64,
    pause: Duration,
    shared: &Arc<Shared>,
    ready: &Barrier,
) -> anyhow::Result<DriverOutcome> {
    let created = create_clients(
        bootstrap,
        producer_ids,
        consumer_ids,
        partitions,
        pause,
        shared,
    );
    ready.wait();
    let (mut producers, mut consumers) = match created {
        Ok(clients) => clients,
        Err(error) => {
            shared.error(
                &shared.consumer_errors,
                format!("creating clients: {error:#}"),
            );
            shared.flushed_threads.fetch_add(1, Ordering::Relaxed);
            shared.caught_up_threads.fetch_add(1, Ordering::Relaxed);
            return Err(error);
        }
    };
    let mut latency = latency_histogram()?;
    let start = Instant::now();
    let mut flushed = false;
    let mut caught_up = false;
    loop {
        let phase = shared.phase.load(Ordering::Relaxed);
        if phase == PHASE_STOP {
            break;
        }
        let mut busy = false;
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        for slot in &mut producers {
            if phase == PHASE_RUN {
                while slot.sent < due && slot.producer.in_flight_count() < 10_000 {
                    let payload = crate::payload::stamped(RECORD_BYTES, slot.sent);
                    let record = BaseRecord::<(), [u8]>::to(TOPIC)
                        .payload(&payload)
                        .partition(slot.partition);
                    match slot.producer.send(record) {
                        Ok(()) => {
                            slot.sent += 1;
                            shared.sent.fetch_add(1, Ordering::Relaxed);
                            busy = true;
                        }
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                            break
                        }
                        Err((error, _)) => {
                            shared.error(&shared.delivery_errors, format!("send: {error}"));
                            slot.sent += 1;
                        }
                    }
                }
            }
            slot.producer.poll(Duration::ZERO);
        }
        if phase == PHASE_DRAIN
            && !flushed
            && producers.iter().all(|s| s.producer.in_flight_count() == 0)
        {
            flushed = true;
            shared.flushed_threads.fetch_add(1, Ordering::Relaxed);
        }
        for slot in &mut consumers {
            while let Some(result) = slot.consumer.poll(Duration::ZERO) {
                busy = true;
                match result {
                    Ok(message) => {
                        if message.offset() != slot.next_offset {
                            shared.error(
                                &shared.consumer_errors,
                                format!(
                                    "partition {}: offset {} where {} was expected",
                                    slot.partition,
                                    message.offset(),
                                    slot.next_offset
                                ),
                            );
                        }
                        slot.next_offset = message.offset() + 1;
                        slot.received += 1;
                        shared.consumed.fetch_add(1, Ordering::Relaxed);
                        if let Some(payload) = message.payload() {
                            record_latency(&mut latency, payload, 0);
                        }
                    }
                    Err(error) => shared.error(
                        &shared.consumer_errors,
                        format!("consumer of partition {}: {error}", slot.partition),
                    ),
                }
            }
        }
        if !caught_up {
            if let Some(expected) = shared.expected.get() {
                let done = consumers.iter().all(|slot| {
                    let want = usize::try_from(slot.partition)
                        .ok()
                        .and_then(|p| expected.get(p))
                        .copied()
                        .unwrap_or(0);
                    slot.received >= want
                });
                if done {
                    caught_up = true;
                    shared.caught_up_threads.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(IDLE_PAUSE_MS)); // pacing, not synchronisation
        }
    }
    Ok(DriverOutcome {
        consumers: consumers
            .iter()
            .map(|s| (s.partition, s.received))
            .collect(),
        latency,
    })
}

type Clients = (Vec<ProducerSlot>, Vec<ConsumerSlot>);

fn create_clients(
    bootstrap: &str,
    producer_ids: &[u32],
    consumer_ids: &[u32],
    partitions: u32,
    pause: Duration,
    shared: &Arc<Shared>,
) -> anyhow::Result<Clients> {
    let mut producers = Vec::new();
    for id in producer_ids {
        let producer: BaseProducer<Deliveries> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("client.id", format!("soak-p{id}"))
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("queue.buffering.max.messages", PRODUCER_QUEUE_MAX)
            .set("queue.buffering.max.kbytes", "4096")
            .set("statistics.interval.ms", "0")
            .create_with_context(Deliveries(shared.clone()))
            .context("creating a producer")?;
        // Metadata now, so the producer connects during the ramp rather than at its first send.
        producer
            .client()
            .fetch_metadata(Some(TOPIC), Duration::from_secs(30))
            .context("producer metadata")?;
        std::thread::sleep(pause); // the ramp's pacing
        producers.push(ProducerSlot {
            producer,
            partition: i32::try_from(id % partitions)?,
            sent: 0,
        });
    }
    let mut consumers = Vec::new();
    for id in consumer_ids {
        let consumer: BaseConsumer<ClientErrors> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("client.id", format!("soak-c{id}"))
            // librdkafka needs a group to assign partitions; nothing is committed to it.
            .set("group.id", format!("soak-c{id}"))
            .set("enable.auto.commit", "false")
            .set("statistics.interval.ms", "0")
            .set("queued.min.messages", "1000")
            .set("queued.max.messages.kbytes", "1024")
            .set("fetch.max.bytes", "1048576")
            .set("max.partition.fetch.bytes", "262144")
            .create_with_context(ClientErrors(shared.clone()))
            .context("creating a consumer")?;
        let partition = i32::try_from(id % partitions)?;
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(TOPIC, partition, Offset::Beginning)?;
        consumer.assign(&assignment)?;
        std::thread::sleep(pause); // the ramp's pacing
        consumers.push(ConsumerSlot {
            consumer,
            partition,
            next_offset: 0,
            received: 0,
        });
    }
    Ok((producers, consumers))
}

/// The report as Markdown: settings, the summary table, and the samples.
pub fn markdown(report: &SoakReport) -> String {
    let s = &report.summary;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## herald soak: {} producers + {} consumers, {} partitions, {} s at {} records/s of {} B\n",
        report.producers,
        report.consumers,
        report.partitions,
        report.duration_seconds,
        report.rate,
        report.record_bytes
    );
    let _ = writeln!(
        out,
        "Broker: `{}` (default flush policy: fsync before every ack), {} cores ({}). RSS, descriptors and \
         threads are the broker process's alone; warm-up is the first {} s.\n",
        report.herald_server, report.cores, report.cpu_model, s.warmup_seconds
    );
    let _ = writeln!(out, "| measure | value |\n|---|---|");
    let rows = [
        (
            "records produced (acknowledged)",
            s.records_produced.to_string(),
        ),
        (
            "records consumed / expected (all consumers)",
            format!("{} / {}", s.records_consumed, s.records_expected),
        ),
        (
            "produced records/s (mean)",
            format!("{:.0}", s.produced_per_second),
        ),
        (
            "consumed records/s (mean, all consumers)",
            format!("{:.0}", s.consumed_per_second),
        ),
        ("delivery errors", s.delivery_errors.to_string()),
        ("consumer errors", s.consumer_errors.to_string()),
        ("client errors (connections)", s.client_errors.to_string()),
        (
            "consumers with a wrong count",
            s.consumers_mismatched.to_string(),
        ),
        (
            "RSS at warm-up end",
            format!("{:.1} MiB", mib(s.rss_kib_at_warmup_end)),
        ),
        ("RSS at end", format!("{:.1} MiB", mib(s.rss_kib_at_end))),
        (
            "RSS min / max after warm-up",
            format!(
                "{:.1} / {:.1} MiB",
                mib(s.rss_kib_min_after_warmup),
                mib(s.rss_kib_max_after_warmup)
            ),
        ),
        (
            "RSS growth after warm-up",
            format!("{:+.1} MiB", s.rss_growth_kib as f64 / 1024.0),
        ),
        (
            "anonymous RSS (heap) growth after warm-up",
            format!("{:+.1} MiB", s.rss_anon_growth_kib as f64 / 1024.0),
        ),
        (
            "RSS peak (whole run)",
            format!("{:.1} MiB", mib(s.rss_kib_peak)),
        ),
        (
            "open fds min / max after warm-up",
            format!("{} / {}", s.fds_min_after_warmup, s.fds_max_after_warmup),
        ),
        (
            "open fds max / sockets max (whole run)",
            format!("{} / {}", s.fds_max, s.sockets_max),
        ),
        (
            "client connections at warm-up end (broker sockets - listener)",
            format!(
                "{} (expected {})",
                s.client_connections_at_warmup_end, report.connections
            ),
        ),
        ("broker threads max", s.threads_max.to_string()),
        (
            "e2e latency p50 / p99 / max",
            format!(
                "{} / {} / {} µs",
                opt(s.latency_p50_us),
                opt(s.latency_p99_us),
                opt(s.latency_max_us)
            ),
        ),
    ];
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    if let Some(error) = &s.first_error {
        let _ = writeln!(out, "\nFirst error: {error}");
    }
    let _ = writeln!(
        out,
        "\n| s | RSS MiB | anon MiB | file MiB | fds | sockets | threads | produced/s | consumed/s |\n|---|---|---|---|---|---|---|---|---|"
    );
    for sample in &report.samples {
        let _ = writeln!(
            out,
            "| {:.0} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {:.0} | {:.0} |",
            sample.seconds,
            mib(sample.rss_kib),
            mib(sample.rss_anon_kib),
            mib(sample.rss_file_kib),
            sample.fds,
            sample.sockets,
            sample.threads,
            sample.produced_per_second,
            sample.consumed_per_second
        );
    }
    out
}

fn opt(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    // This process has open descriptors, and the count of sockets never exceeds them.
    #[test]
    fn counts_own_descriptors() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a socket");
        let (fds, sockets) = descriptors(std::process::id());
        assert!(sockets >= 1, "the listener is a socket");
        assert!(fds >= sockets);
        drop(listener);
    }

    // Growth is measured from the first sample at or after the warm-up to the last one.
    #[test]
    fn summary_skips_the_warmup() {
        let sample = |seconds: f64, rss_kib: u64, fds: u64| Sample {
            seconds,
            rss_kib,
            rss_anon_kib: rss_kib,
            rss_file_kib: 0,
            fds,
            sockets: 0,
            threads: 1,
            produced_per_second: 0.0,
            consumed_per_second: 0.0,
        };
        let samples = [
            sample(1.0, 100, 900),
            sample(2.0, 500, 10),
            sample(3.0, 520, 12),
        ];
        let mut summary = Summary::default();
        summarise(&mut summary, &samples, 2);
        assert_eq!(summary.rss_kib_at_warmup_end, 500);
        assert_eq!(summary.rss_growth_kib, 20);
        assert_eq!(summary.fds_max_after_warmup, 12);
        assert_eq!(summary.fds_max, 900);
        assert_eq!(summary.rss_kib_peak, 520);
    }
}
