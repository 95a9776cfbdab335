//! Redis Streams as a child `redis-server` with AOF on: `appendfsync always` (equal durability: Redis
//! fsyncs the AOF before it answers, once per event-loop turn) or `everysec` (relaxed). Producers
//! pipeline XADD; consumers read with XREADGROUP.
//!
//! Not Redis Cluster: one node, one stream key per partition. Main types: `RedisStreams`.

use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use async_trait::async_trait;
use futures::stream::{FuturesUnordered, StreamExt};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Value};

use super::{
    latency_histogram, record_latency, Binaries, ConsumeJob, ConsumeOutcome, Durability,
    ProduceJob, ProduceOutcome, Running, System, STALL_TIMEOUT_MS,
};
use crate::server::{free_port, ServerProcess};

/// XADDs per pipeline: one round trip and (under `always`) one fsync cover them all.
const PIPELINE_RECORDS_MAX: u64 = 1_000;
/// Pipelines awaiting their replies per producer, so the server always has work queued.
const PIPELINES_IN_FLIGHT_MAX: usize = 4;
/// Entries per XREADGROUP.
const READ_COUNT_MAX: u64 = 10_000;
/// How long one XREADGROUP blocks waiting for entries.
const READ_BLOCK_MS: u64 = 1_000;
/// Consumer group every consumer reads through.
const GROUP: &str = "herald-bench";
/// Field name of the payload in every entry.
const FIELD: &str = "d";

/// Starts a redis-server child with AOF `always` (equal) or `everysec` (relaxed), RDB snapshots off.
pub async fn start(durability: Durability, binaries: &Binaries) -> anyhow::Result<Running> {
    let dir = tempfile::Builder::new()
        .prefix("herald-bench-redis")
        .tempdir()?;
    let port = free_port()?;
    let fsync = match durability {
        Durability::Equal => "always",
        Durability::Relaxed => "everysec",
    };
    let config = format!(
        "port {port}\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\ndir {dir}\n\
         appendonly yes\nappendfsync {fsync}\nsave \"\"\nlogfile \"\"\n",
        dir = dir.path().display()
    );
    let config_path = dir.path().join("redis.conf");
    std::fs::write(&config_path, config)?;
    let mut command = Command::new(&binaries.redis_server);
    command.arg(&config_path);
    let server = tokio::task::spawn_blocking(move || {
        ServerProcess::spawn("redis-server", &mut command, dir, port)
    })
    .await??;
    let system = Arc::new(RedisStreams {
        client: redis::Client::open(format!("redis://127.0.0.1:{port}/"))?,
    });
    Ok(Running { server, system })
}

/// Redis clients of one server.
pub struct RedisStreams {
    client: redis::Client,
}

impl RedisStreams {
    /// A new connection (one per producer or consumer, as separate clients would have).
    async fn connection(&self) -> anyhow::Result<MultiplexedConnection> {
        // The default 500 ms response timeout is shorter than a blocking read or an fsync'd pipeline.
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(Some(Duration::from_millis(STALL_TIMEOUT_MS)))
            .set_connection_timeout(Some(Duration::from_secs(5)));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .context("connecting to redis-server")
    }
}

fn stream_key(topic: &str, partition: u32) -> String {
    format!("{topic}-{partition}")
}

#[async_trait]
impl System for RedisStreams {
    async fn prepare(&self, topic: &str, partitions: u32) -> anyhow::Result<()> {
        let mut connection = self.connection().await?;
        for partition in 0..partitions {
            redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(stream_key(topic, partition))
                .arg(GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async::<()>(&mut connection)
                .await
                .context("XGROUP CREATE")?;
        }
        Ok(())
    }

    async fn produce(&self, job: ProduceJob) -> anyhow::Result<ProduceOutcome> {
        let connection = self.connection().await?;
        let key = stream_key(&job.topic, job.partition);
        let mut in_flight = FuturesUnordered::new();
        let (mut index, mut acked) = (0u64, 0u64);
        let start = Instant::now();
        while index < job.records && !job.out_of_time() {
            let remaining = job.records - index;
            let chunk = crate::payload::next_chunk(
                job.pacer.as_ref(),
                index,
                remaining,
                PIPELINE_RECORDS_MAX,
            )
            .await;
            let mut pipeline = redis::pipe();
            for i in index..index + chunk {
                let payload = crate::payload::stamped(job.size_bytes, job.first_seq + i);
                pipeline
                    .cmd("XADD")
                    .arg(&key)
                    .arg("*")
                    .arg(FIELD)
                    .arg(payload)
                    .ignore();
            }
            let mut connection = connection.clone();
            in_flight.push(async move {
                pipeline
                    .query_async::<()>(&mut connection)
                    .await
                    .map(|()| chunk)
            });
            index += chunk;
            while in_flight.len() >= PIPELINES_IN_FLIGHT_MAX {
                if let Some(done) = in_flight.next().await {
                    acked += done.context("XADD pipeline")?;
                }
            }
        }
        while let Some(done) = in_flight.next().await {
            acked += done.context("XADD pipeline")?;
        }
        Ok(ProduceOutcome {
            acked,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    async fn consume(&self, job: ConsumeJob) -> anyhow::Result<ConsumeOutcome> {
        let mut connection = self.connection().await?;
        let key = stream_key(&job.topic, job.partition);
        let consumer = format!("consumer-{}", job.partition);
        let mut latency = latency_histogram()?;
        let start = Instant::now();
        let mut last_progress = Instant::now();
        let mut received = 0u64;
        while !job.done(received) {
            // NOACK: entries are not kept pending, like a Kafka consumer that commits nothing.
            let reply: Value = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(GROUP)
                .arg(&consumer)
                .arg("COUNT")
                .arg(READ_COUNT_MAX)
                .arg("BLOCK")
                .arg(READ_BLOCK_MS)
                .arg("NOACK")
                .arg("STREAMS")
                .arg(&key)
                .arg(">")
                .query_async(&mut connection)
                .await
                .context("XREADGROUP")?;
            let mut seen = 0u64;
            for_each_payload(&reply, |payload| {
                record_latency(&mut latency, payload, job.latency_from_seq);
                seen += 1;
            });
            if seen > 0 {
                received += seen;
                job.progress.fetch_add(seen, Ordering::Relaxed);
                last_progress = Instant::now();
            } else if last_progress.elapsed() > Duration::from_millis(STALL_TIMEOUT_MS) {
                bail!("no entry within {STALL_TIMEOUT_MS} ms after {received}");
            }
        }
        Ok(ConsumeOutcome {
            received,
            seconds: start.elapsed().as_secs_f64(),
            latency,
        })
    }
}

/// Calls `each` with the payload of every entry of an XREADGROUP reply
/// (`[[key, [[id, [field, payload, ...]], ...]]]`); nil (timeout) has none.
fn for_each_payload(reply: &Value, mut each: impl FnMut(&[u8])) {
    let Value::Array(streams) = reply else { return };
    for stream in streams {
        let Value::Array(parts) = stream else {
            continue;
        };
        let Some(Value::Array(entries)) = parts.get(1) else {
            continue;
        };
        for entry in entries {
            let Value::Array(id_and_fields) = entry else {
                continue;
            };
            if let Some(Value::Array(fields)) = id_and_fields.get(1) {
                if let Some(Value::BulkString(payload)) = fields.get(1) {
                    each(payload);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The reply parser finds every entry's payload and ignores nil and malformed shapes.
    #[test]
    fn parses_xreadgroup_replies() {
        let entry = |p: &[u8]| {
            Value::Array(vec![
                Value::BulkString(b"1-0".to_vec()),
                Value::Array(vec![
                    Value::BulkString(b"d".to_vec()),
                    Value::BulkString(p.to_vec()),
                ]),
            ])
        };
        let reply = Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"s".to_vec()),
            Value::Array(vec![entry(b"a"), entry(b"bc"), Value::Int(3)]),
        ])]);
        let mut seen = Vec::new();
        for_each_payload(&reply, |p| seen.push(p.to_vec()));
        assert_eq!(seen, vec![b"a".to_vec(), b"bc".to_vec()]);
        for_each_payload(&Value::Nil, |_| panic!("nil has no entries"));
    }
}
