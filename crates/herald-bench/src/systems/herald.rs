//! herald-broker as a child process (`herald broker`, or `herald-bench serve-herald` when no herald
//! binary is at hand), driven by librdkafka: idempotent producer with acks=all, manually assigned
//! consumer.
//!
//! Not the in-process broker: a child process has its own /proc entry, so its peak RSS is measurable.
//! Main types: `Herald`.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use super::{
    latency_histogram, record_latency, Binaries, ConsumeJob, ConsumeOutcome, Durability,
    ProduceJob, ProduceOutcome, Running, System, POLL_INTERVAL_MS, STALL_TIMEOUT_MS,
};
use crate::server::{free_port, ServerProcess};

/// Records sent between checks of the time budget.
const SEND_CHUNK_MAX: u64 = 1_000;
/// How long a producer may take to get every acknowledgement after its last send.
const FLUSH_TIMEOUT_MS: u64 = 300_000;

/// `herald broker`, or `herald-bench serve-herald` (the same broker) when there is no `herald`.
pub fn broker_command(herald: Option<&std::path::Path>) -> anyhow::Result<Command> {
    let (program, subcommand) = match herald {
        Some(herald) => (herald.to_path_buf(), "broker"),
        None => (std::env::current_exe()?, "serve-herald"),
    };
    let mut command = Command::new(program);
    command.arg(subcommand);
    Ok(command)
}

/// Starts a herald broker child with `--flush always` (equal) or `--flush never` (relaxed).
pub async fn start(durability: Durability, binaries: &Binaries) -> anyhow::Result<Running> {
    let dir = tempfile::Builder::new()
        .prefix("herald-bench-herald")
        .tempdir()?;
    let port = free_port()?;
    let flush = match durability {
        Durability::Equal => "always",
        Durability::Relaxed => "never",
    };
    let mut command = broker_command(binaries.herald.as_deref())?;
    command
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--flush")
        .arg(flush)
        .arg("--retention-ms")
        .arg("-1");
    let server = tokio::task::spawn_blocking(move || {
        ServerProcess::spawn("herald", &mut command, dir, port)
    })
    .await??;
    let system = Arc::new(Herald {
        bootstrap: format!("127.0.0.1:{port}"),
    });
    Ok(Running { server, system })
}

/// Kafka clients of one broker.
pub struct Herald {
    bootstrap: String,
}

/// Counts delivery reports.
#[derive(Default, Clone)]
struct Deliveries {
    delivered: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

#[async_trait]
impl System for Herald {
    async fn prepare(&self, topic: &str, partitions: u32) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()?;
        let partitions = i32::try_from(partitions)?;
        let results = admin
            .create_topics(
                [&NewTopic::new(
                    topic,
                    partitions,
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

    async fn produce(&self, job: ProduceJob) -> anyhow::Result<ProduceOutcome> {
        let bootstrap = self.bootstrap.clone();
        tokio::task::spawn_blocking(move || produce_blocking(&bootstrap, &job)).await?
    }

    async fn consume(&self, job: ConsumeJob) -> anyhow::Result<ConsumeOutcome> {
        let bootstrap = self.bootstrap.clone();
        tokio::task::spawn_blocking(move || consume_blocking(&bootstrap, &job)).await?
    }
}

fn producer(
    bootstrap: &str,
    low_latency: bool,
) -> anyhow::Result<(ThreadedProducer<Deliveries>, Deliveries)> {
    let deliveries = Deliveries::default();
    let producer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all") // answered only after the broker's fsync under --flush always
        .set("enable.idempotence", "true") // no duplicates on retry, as a real user would run it
        .set("linger.ms", if low_latency { "0" } else { "5" })
        .set("batch.size", "1000000")
        .set("batch.num.messages", "100000")
        .set("compression.type", "none") // peers do not compress either
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .create_with_context(deliveries.clone())
        .context("creating the Kafka producer")?;
    Ok((producer, deliveries))
}

fn produce_blocking(bootstrap: &str, job: &ProduceJob) -> anyhow::Result<ProduceOutcome> {
    let (producer, deliveries) = producer(bootstrap, job.low_latency)?;
    let partition = i32::try_from(job.partition)?;
    if job.pacer.is_some() {
        prime(&producer, &deliveries, job, partition)?;
    }
    // Paced from when the producer is ready, not from when the job was made.
    let pacer = job.pacer.as_ref().map(|pacer| pacer.restarted());
    let start = Instant::now();
    let mut index = 0u64;
    while index < job.records && !job.out_of_time() {
        let chunk = match &pacer {
            Some(pacer) => pacer.ready_blocking(index, job.records - index),
            None => (job.records - index).min(SEND_CHUNK_MAX),
        };
        for _ in 0..chunk {
            let payload = crate::payload::stamped(job.size_bytes, job.first_seq + index);
            let mut record = BaseRecord::<(), [u8]>::to(&job.topic)
                .payload(&payload)
                .partition(partition);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        // The local queue drains as acknowledgements arrive.
                        producer.poll(Duration::from_millis(1));
                    }
                    Err((error, _)) => bail!("producing to {}: {error}", job.topic),
                }
            }
            index += 1;
        }
    }
    producer
        .flush(Duration::from_millis(FLUSH_TIMEOUT_MS))
        .context("waiting for acknowledgements")?;
    let seconds = start.elapsed().as_secs_f64();
    let failed = deliveries.failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} records were not acknowledged");
    }
    Ok(ProduceOutcome {
        acked: deliveries.delivered.load(Ordering::Relaxed),
        seconds,
    })
}

/// Sends one record to a side topic (`<topic>.prime`, never consumed or counted) and waits for its
/// acknowledgement, so that a paced run measures a ready producer: a fresh idempotent librdkafka
/// producer holds its first records until it has a producer id, about 500 ms, which is start-up cost
/// and not end-to-end latency (a service keeps its producer for its whole life).
fn prime(
    producer: &ThreadedProducer<Deliveries>,
    deliveries: &Deliveries,
    job: &ProduceJob,
    partition: i32,
) -> anyhow::Result<()> {
    let payload = crate::payload::stamped(job.size_bytes, job.first_seq.saturating_sub(1));
    let side_topic = format!("{}.prime", job.topic);
    let record = BaseRecord::<(), [u8]>::to(&side_topic)
        .payload(&payload)
        .partition(partition);
    producer
        .send(record)
        .map_err(|(error, _)| anyhow::anyhow!("priming the producer: {error}"))?;
    let deadline = Instant::now() + Duration::from_millis(FLUSH_TIMEOUT_MS);
    while deliveries.delivered.load(Ordering::Relaxed) == 0 {
        if deliveries.failed.load(Ordering::Relaxed) > 0 || Instant::now() > deadline {
            bail!("the priming record was not acknowledged");
        }
        producer.poll(Duration::from_millis(1));
    }
    // The job's count starts after the priming record.
    deliveries.delivered.store(0, Ordering::Relaxed);
    Ok(())
}

fn consume_blocking(bootstrap: &str, job: &ConsumeJob) -> anyhow::Result<ConsumeOutcome> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "herald-bench") // required by librdkafka; nothing is committed
        .set("enable.auto.commit", "false") // peers' consumers do not acknowledge either
        .set("max.partition.fetch.bytes", "16777216")
        .set("fetch.max.bytes", "67108864")
        .set("queued.max.messages.kbytes", "262144")
        // librdkafka pauses fetching for fetch.queue.backoff.ms (1 s) once its local queue holds
        // queued.min.messages (100k); one 16 MiB fetch of 100 B records is more than that.
        .set("queued.min.messages", "2000000")
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .context("creating the Kafka consumer")?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(
        &job.topic,
        i32::try_from(job.partition)?,
        Offset::Beginning,
    )?;
    consumer.assign(&assignment)?;
    let mut latency = latency_histogram()?;
    let start = Instant::now();
    let mut received = 0u64;
    let mut last_progress = Instant::now();
    while !job.done(received) {
        match consumer.poll(Duration::from_millis(POLL_INTERVAL_MS)) {
            Some(Ok(message)) => {
                if let Some(payload) = message.payload() {
                    record_latency(&mut latency, payload, job.latency_from_seq);
                }
                received += 1;
                job.progress.fetch_add(1, Ordering::Relaxed);
                last_progress = Instant::now();
            }
            Some(Err(error)) => bail!("consuming {}: {error}", job.topic),
            None if last_progress.elapsed() > Duration::from_millis(STALL_TIMEOUT_MS) => {
                bail!("no record within {STALL_TIMEOUT_MS} ms after {received}")
            }
            None => {}
        }
    }
    Ok(ConsumeOutcome {
        received,
        seconds: start.elapsed().as_secs_f64(),
        latency,
    })
}
