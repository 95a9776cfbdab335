//! NATS JetStream as a child `nats-server -c <config>` with file storage: `sync_interval: always`
//! (equal durability: every write is fsynced before the publish ack; needs nats-server 2.10+) or the
//! default sync interval (relaxed). Producers publish asynchronously with a bounded number of pending
//! acks; consumers are pull consumers.
//!
//! Not a NATS cluster: one server, one stream (and subject) per partition. Main types: `NatsJetStream`.

use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::context::ContextBuilder;
use async_nats::jetstream::stream::{Config as StreamConfig, StorageType};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};

use super::{
    latency_histogram, record_latency, Binaries, ConsumeJob, ConsumeOutcome, Durability,
    ProduceJob, ProduceOutcome, Running, System, POLL_INTERVAL_MS, STALL_TIMEOUT_MS,
};
use crate::server::{free_port, ServerProcess};

/// Publishes awaiting their ack per producer (bounds client memory like librdkafka's queue does).
const PENDING_ACKS_MAX: usize = 4_096;
/// Publishes per pacing step when unpaced (then the pending-ack bound throttles).
const PUBLISH_CHUNK_MAX: u64 = 1_000;
/// Messages a pull request asks for at once.
const PULL_BATCH_MAX: usize = 10_000;
/// How long a publish may wait for its ack.
const ACK_TIMEOUT_MS: u64 = 30_000;
/// How long JetStream may take to answer after the port opens.
const JETSTREAM_READY_TIMEOUT_MS: u64 = 20_000;

/// Starts a nats-server child with JetStream file storage in a fresh directory.
pub async fn start(durability: Durability, binaries: &Binaries) -> anyhow::Result<Running> {
    let dir = tempfile::Builder::new()
        .prefix("herald-bench-nats")
        .tempdir()?;
    let port = free_port()?;
    let sync = match durability {
        Durability::Equal if binaries.nats_sync_interval => "  sync_interval: always\n",
        // nats-server before 2.10 has no such setting; the report says so next to the numbers.
        Durability::Equal | Durability::Relaxed => "",
    };
    let config = format!(
        "listen: 127.0.0.1:{port}\nmax_payload: 8MB\njetstream {{\n  store_dir: \"{store}\"\n{sync}}}\n",
        store = dir.path().join("jetstream").display()
    );
    let config_path = dir.path().join("nats.conf");
    std::fs::write(&config_path, config)?;
    let mut command = Command::new(&binaries.nats_server);
    command.arg("-c").arg(&config_path);
    let server = tokio::task::spawn_blocking(move || {
        ServerProcess::spawn("nats-server", &mut command, dir, port)
    })
    .await??;
    let system = NatsJetStream {
        url: format!("nats://127.0.0.1:{port}"),
    };
    system.wait_for_jetstream().await?;
    Ok(Running {
        server,
        system: Arc::new(system),
    })
}

/// JetStream clients of one server.
pub struct NatsJetStream {
    url: String,
}

fn stream_name(topic: &str, partition: u32) -> String {
    format!("{}_{partition}", topic.replace(['.', '-', ' '], "_"))
}

fn subject(topic: &str, partition: u32) -> String {
    format!("{}.{partition}", topic.replace(['.', ' '], "_"))
}

impl NatsJetStream {
    /// A new client connection (one per producer or consumer).
    async fn context(&self) -> anyhow::Result<async_nats::jetstream::Context> {
        let client = async_nats::connect(&self.url)
            .await
            .context("connecting to nats-server")?;
        Ok(ContextBuilder::new()
            .timeout(Duration::from_millis(ACK_TIMEOUT_MS))
            .build(client))
    }

    /// Waits until the JetStream API answers (it may start a little after the port opens). A raw
    /// request to `$JS.API.INFO`: any reply means JetStream is up, whatever the server's version.
    async fn wait_for_jetstream(&self) -> anyhow::Result<()> {
        let client = async_nats::connect(&self.url)
            .await
            .context("connecting to nats-server")?;
        let deadline = Instant::now() + Duration::from_millis(JETSTREAM_READY_TIMEOUT_MS);
        loop {
            match client.request("$JS.API.INFO", Bytes::new()).await {
                Ok(_) => return Ok(()),
                Err(error) if Instant::now() > deadline => {
                    return Err(anyhow::Error::from(error).context("JetStream did not become ready"))
                }
                Err(_) => super::poll_pause().await,
            }
        }
    }
}

#[async_trait]
impl System for NatsJetStream {
    async fn prepare(&self, topic: &str, partitions: u32) -> anyhow::Result<()> {
        let context = self.context().await?;
        for partition in 0..partitions {
            context
                .create_stream(StreamConfig {
                    name: stream_name(topic, partition),
                    subjects: vec![subject(topic, partition)],
                    storage: StorageType::File,
                    ..Default::default()
                })
                .await
                .context("creating a JetStream stream")?;
        }
        Ok(())
    }

    async fn produce(&self, job: ProduceJob) -> anyhow::Result<ProduceOutcome> {
        let context = self.context().await?;
        let subject = subject(&job.topic, job.partition);
        let mut pending = FuturesUnordered::new();
        let (mut index, mut acked) = (0u64, 0u64);
        let start = Instant::now();
        while index < job.records && !job.out_of_time() {
            let chunk = crate::payload::next_chunk(
                job.pacer.as_ref(),
                index,
                job.records - index,
                PUBLISH_CHUNK_MAX,
            )
            .await;
            for i in index..index + chunk {
                let payload = crate::payload::stamped(job.size_bytes, job.first_seq + i);
                let ack = context
                    .publish(subject.clone(), Bytes::from(payload))
                    .await
                    .context("publishing")?;
                pending.push(std::future::IntoFuture::into_future(ack));
                while pending.len() >= PENDING_ACKS_MAX {
                    if let Some(done) = pending.next().await {
                        done.context("publish ack")?;
                        acked += 1;
                    }
                }
            }
            index += chunk;
        }
        while let Some(done) = pending.next().await {
            done.context("publish ack")?;
            acked += 1;
        }
        Ok(ProduceOutcome {
            acked,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    async fn consume(&self, job: ConsumeJob) -> anyhow::Result<ConsumeOutcome> {
        let context = self.context().await?;
        let stream = context
            .get_stream(stream_name(&job.topic, job.partition))
            .await
            .context("looking up the stream")?;
        let consumer = stream
            .create_consumer(pull::Config {
                durable_name: Some(format!("consumer-{}", job.partition)),
                // No acks, like a Kafka consumer that commits nothing.
                ack_policy: AckPolicy::None,
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .context("creating the pull consumer")?;
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(PULL_BATCH_MAX)
            .messages()
            .await
            .context("starting the pull")?;
        let mut latency = latency_histogram()?;
        let start = Instant::now();
        let mut received = 0u64;
        let mut last_progress = Instant::now();
        while !job.done(received) {
            let next =
                tokio::time::timeout(Duration::from_millis(POLL_INTERVAL_MS), messages.next());
            match next.await {
                Ok(Some(Ok(message))) => {
                    record_latency(&mut latency, &message.payload, job.latency_from_seq);
                    received += 1;
                    job.progress.fetch_add(1, Ordering::Relaxed);
                    last_progress = Instant::now();
                }
                Ok(Some(Err(error))) => bail!("pulling messages: {error}"),
                Ok(None) => bail!("the message stream ended after {received}"),
                Err(_) if last_progress.elapsed() > Duration::from_millis(STALL_TIMEOUT_MS) => {
                    bail!("no message within {STALL_TIMEOUT_MS} ms after {received}")
                }
                Err(_) => {}
            }
        }
        Ok(ConsumeOutcome {
            received,
            seconds: start.elapsed().as_secs_f64(),
            latency,
        })
    }
}
