//! `herald demo --bench N`: the platform's figures. Users created over HTTP at full speed (outbox on
//! SQLite), end-to-end latency from the 201 to the row in the directory's database at a paced
//! 1,000 users/s, the same latency for lone requests (one at a time, each alone in the pipeline)
//! with the relay's in-process wakeup and then without it (users-service restarted with
//! `--relay-wakeup false`, so only the poll wakes the relay), and the rate at which a brand-new
//! directory bootstraps from the whole topic.
//! With `--bootstrap-events N`, N more `user_created` events are loaded straight into the topic
//! with a producer before the bootstrap (the first directory is stopped so it does not compete),
//! and a bare rdkafka consumer reads the whole topic first as the baseline of the same run.
//! Not here: the checks of the walk-through (`demo.rs`).

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use herald::envelope::Event;
use herald::producer::{Producer, ProducerConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;

use super::platform::{Piece, Platform};

/// Requests in flight while measuring throughput.
const CONCURRENT_REQUESTS: usize = 64;
/// Paced rate for the latency run.
const PACED_USERS_PER_S: u64 = 1_000;
/// Length of the latency run.
const PACED_RUN_MS: u64 = 5_000;
/// Lone requests per latency run.
const LONE_REQUESTS: u32 = 60;
/// Gap between two lone requests: longer than the slowest path, so each event travels alone.
const LONE_GAP_MS: u64 = 250;
/// Deadline for consumers to catch up after a run.
const CATCH_UP_MS: u64 = 300_000;
/// Interval between two counts of a replica after the HTTP runs: `COUNT(*)` over a million rows
/// costs milliseconds of the CPU the bootstrapping directory needs.
const BOOTSTRAP_POLL_MS: u64 = 100;
/// The topic of user events.
const TOPIC: &str = "user_activity";

/// Runs the benchmark with `users` users in the throughput run.
/// `bootstrap_events` more events are loaded straight into the topic before the bootstrap.
pub async fn run(p: &mut Platform, users: u32, bootstrap_events: u32) -> anyhow::Result<()> {
    for piece in [Piece::Broker, Piece::Users, Piece::Directory] {
        p.start(piece).await?;
    }
    let started = Instant::now();
    let created = create(p, 0, users).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!("throughput: {created} users created over HTTP in {seconds:.2}s = {:.0} users/s (outbox, SQLite, {CONCURRENT_REQUESTS} concurrent requests)", f64::from(created) / seconds);
    await_count(p, Piece::Directory, i64::from(created)).await?;

    let (sent_at, paced) = paced(p, created).await?;
    let total = created + paced;
    await_count(p, Piece::Directory, i64::from(total)).await?;
    let url = format!(
        "sqlite://{}?mode=ro",
        p.database_path(Piece::Directory).display()
    );
    let pool = sqlx::SqlitePool::connect(&url).await?;
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT id, replicated_at_ms FROM users")
        .fetch_all(&pool)
        .await?;
    pool.close().await;
    let mut latencies: Vec<i64> = rows
        .iter()
        .filter_map(|(id, at)| sent_at.get(id).map(|sent| at - sent))
        .collect();
    latencies.sort_unstable();
    let pct = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(-1)
    };
    println!("latency at {PACED_USERS_PER_S} users/s ({} users): 201 -> row in the directory's database p50 {} ms, p99 {} ms, max {} ms",
        latencies.len(), pct(0.5), pct(0.99), pct(1.0));

    let mut total = total;
    let mut lone_figures = Vec::new();
    for wakeup in [true, false] {
        if !wakeup {
            p.stop(Piece::Users).await?;
            p.set_extra_args(Piece::Users, &["--relay-wakeup", "false"]);
            p.start(Piece::Users).await?;
        }
        let (sent_at, created) = lone(p, total).await?;
        total += created;
        await_count(p, Piece::Directory, i64::from(total)).await?;
        let mut latencies = replicated_latencies(p, &sent_at).await?;
        latencies.sort_unstable();
        lone_figures.push((wakeup, latencies));
    }
    for (wakeup, latencies) in &lone_figures {
        let pct = |q: f64| {
            latencies
                .get(((latencies.len() as f64 - 1.0) * q) as usize)
                .copied()
                .unwrap_or(-1)
        };
        println!("latency of lone requests ({} users, one every {LONE_GAP_MS} ms), relay wakeup {}: 201 -> row in the directory's database p50 {} ms, p99 {} ms, max {} ms",
            latencies.len(), if *wakeup { "on " } else { "off (poll only)" }, pct(0.5), pct(0.99), pct(1.0));
    }

    let mut total = u64::from(total);
    let mut baseline = None;
    if bootstrap_events > 0 {
        // The first directory would replicate the load too: stop it, the bootstrap has the CPU.
        p.stop(Piece::Directory).await?;
        total += load(p, bootstrap_events).await?;
        baseline = Some(bare_read(p, total).await?);
    }
    let started = Instant::now();
    p.start(Piece::Directory2).await?;
    let poll = if bootstrap_events > 0 {
        BOOTSTRAP_POLL_MS
    } else {
        5
    };
    await_count_every(p, Piece::Directory2, i64::try_from(total)?, poll).await?;
    let seconds = started.elapsed().as_secs_f64();
    let rate = total as f64 / seconds;
    print!("bootstrap: a new directory replayed {total} user_created events in {seconds:.2}s = {rate:.0} events/s (process start included)");
    match baseline {
        Some(bare) => println!(
            "; bare rdkafka consumer {bare:.0} events/s, ratio {:.2}",
            rate / bare
        ),
        None => println!(),
    }
    Ok(())
}

/// 201 -> directory row latency (ms) of each id in `sent_at`, from the directory's database.
async fn replicated_latencies(
    p: &Platform,
    sent_at: &std::collections::HashMap<String, i64>,
) -> anyhow::Result<Vec<i64>> {
    let url = format!(
        "sqlite://{}?mode=ro",
        p.database_path(Piece::Directory).display()
    );
    let pool = sqlx::SqlitePool::connect(&url).await?;
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT id, replicated_at_ms FROM users")
        .fetch_all(&pool)
        .await?;
    pool.close().await;
    Ok(rows
        .iter()
        .filter_map(|(id, at)| sent_at.get(id).map(|sent| at - sent))
        .collect())
}

/// Creates `LONE_REQUESTS` users one at a time, `LONE_GAP_MS` apart (pacing, not
/// synchronisation); returns each id's 201 time (ms) and how many were created.
async fn lone(
    p: &Platform,
    first: u32,
) -> anyhow::Result<(std::collections::HashMap<String, i64>, u32)> {
    let mut sent = std::collections::HashMap::new();
    let url = format!("{}/users", p.url(Piece::Users));
    for i in 0..LONE_REQUESTS {
        let n = first + i;
        let body = json!({"name": format!("User {n}"), "email": format!("user{n}@example.com")});
        let response = p.http().post(&url).json(&body).send().await?;
        let at = chrono::Utc::now().timestamp_millis();
        let user: serde_json::Value = response.json().await?;
        if let Some(id) = user["id"].as_str() {
            sent.insert(id.to_string(), at);
        }
        tokio::time::sleep(Duration::from_millis(LONE_GAP_MS)).await;
    }
    let created = u32::try_from(sent.len())?;
    Ok((sent, created))
}

/// Produces `count` `user_created` events (new users) straight into the topic; returns `count`.
async fn load(p: &Platform, count: u32) -> anyhow::Result<u64> {
    let producer = Producer::new(
        ProducerConfig::new(p.brokers())
            .source(users_service::SOURCE)
            .linger(Duration::from_millis(20))
            .set("batch.size", "1000000")
            .set("batch.num.messages", "10000"),
    )?;
    let started = Instant::now();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    for n in 0..count {
        let id = format!("loaded-{n:09}");
        let user = json!({"id": id, "name": format!("Loaded {n}"),
            "email": format!("loaded{n}@example.com"), "created_at": now, "updated_at": now});
        let encoded = Event::new("user_created", &user)?
            .key(&id)
            .encode(users_service::SOURCE);
        deliver_when_room(&producer, TOPIC, &encoded).await?;
    }
    producer.close().await?;
    let failed = producer.stats().failed;
    anyhow::ensure!(failed == 0, "{failed} loaded events were not delivered");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "load: {count} user_created events produced in {seconds:.2}s = {:.0} events/s",
        f64::from(count) / seconds
    );
    Ok(u64::from(count))
}

/// A bare rdkafka consumer (no group, every partition assigned from the beginning) reading the
/// whole topic: `total` records. Returns records/s.
async fn bare_read(p: &Platform, total: u64) -> anyhow::Result<f64> {
    let brokers = p.brokers();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", "bench-bare")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .create()?;
        let started = Instant::now();
        let metadata = consumer.fetch_metadata(Some(TOPIC), Duration::from_secs(10))?;
        let mut assignment = TopicPartitionList::new();
        for topic in metadata.topics() {
            for partition in topic.partitions() {
                assignment.add_partition_offset(TOPIC, partition.id(), Offset::Beginning)?;
            }
        }
        consumer.assign(&assignment)?;
        let deadline = started + Duration::from_millis(CATCH_UP_MS);
        let mut read = 0u64;
        while read < total {
            anyhow::ensure!(Instant::now() < deadline, "bare consumer read {read} of {total}");
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(_)) => read += 1,
                Some(Err(error)) => return Err(error.into()),
                None => {}
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        println!("baseline: a bare rdkafka consumer read {read} records in {seconds:.2}s = {:.0} records/s", read as f64 / seconds);
        Ok(read as f64 / seconds)
    })
    .await?
}

async fn post(p: &Platform, n: u32) -> bool {
    let body = json!({"name": format!("User {n}"), "email": format!("user{n}@example.com")});
    p.http()
        .post(format!("{}/users", p.url(Piece::Users)))
        .json(&body)
        .send()
        .await
        .is_ok_and(|r| r.status().as_u16() == 201)
}

/// Creates users `first..first+count` with bounded concurrency; returns how many got a 201.
async fn create(p: &Platform, first: u32, count: u32) -> anyhow::Result<u32> {
    let ok = futures::stream::iter(first..first + count)
        .map(|n| post(p, n))
        .buffer_unordered(CONCURRENT_REQUESTS)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    Ok(u32::try_from(ok)?)
}

/// Creates users at `PACED_USERS_PER_S` for `PACED_RUN_MS`; returns each id's 201 time (ms).
async fn paced(
    p: &Platform,
    first: u32,
) -> anyhow::Result<(std::collections::HashMap<String, i64>, u32)> {
    let count = PACED_USERS_PER_S * PACED_RUN_MS / 1_000;
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / PACED_USERS_PER_S));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, i64)>(1_024);
    let http = p.http().clone();
    let url = format!("{}/users", p.url(Piece::Users));
    let mut tasks = tokio::task::JoinSet::new();
    let mut sent = std::collections::HashMap::new();
    for i in 0..count {
        ticker.tick().await;
        let n = first + u32::try_from(i)?;
        let (http, url, tx) = (http.clone(), url.clone(), tx.clone());
        tasks.spawn(async move {
            let body =
                json!({"name": format!("User {n}"), "email": format!("user{n}@example.com")});
            let Ok(response) = http.post(&url).json(&body).send().await else {
                return;
            };
            let at = chrono::Utc::now().timestamp_millis();
            if let Ok(user) = response.json::<serde_json::Value>().await {
                if let Some(id) = user["id"].as_str() {
                    let _ = tx.send((id.to_string(), at)).await;
                }
            }
        });
        while let Ok((id, at)) = rx.try_recv() {
            sent.insert(id, at);
        }
    }
    drop(tx);
    let collect = async {
        while let Some((id, at)) = rx.recv().await {
            sent.insert(id, at);
        }
    };
    let (_, ()) = tokio::join!(
        async { while tasks.join_next().await.is_some() {} },
        collect
    );
    let created = u32::try_from(sent.len()).context("count")?;
    Ok((sent, created))
}

async fn await_count(p: &Platform, piece: Piece, want: i64) -> anyhow::Result<()> {
    await_count_every(p, piece, want, 5).await
}

/// Waits until `piece` holds `want` users, counting every `poll_ms`.
async fn await_count_every(
    p: &Platform,
    piece: Piece,
    want: i64,
    poll_ms: u64,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_millis(CATCH_UP_MS);
    while Instant::now() < deadline {
        if p.get_json(piece, "/users")
            .await
            .and_then(|v| v["count"].as_i64())
            == Some(want)
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(poll_ms)).await;
    }
    anyhow::bail!("{} did not reach {want} users", piece.name())
}

/// Hands an encoded event to `deliver_async`, waiting a millisecond at a time while the producer's
/// buffer is full: the benchmarks' loaders push as fast as the broker takes them.
pub(crate) async fn deliver_when_room(
    producer: &herald::producer::Producer,
    topic: &str,
    encoded: &herald::envelope::EncodedEvent,
) -> anyhow::Result<()> {
    loop {
        match producer.deliver_encoded_async(topic, encoded) {
            Ok(()) => return Ok(()),
            Err(herald::Error::BufferFull { .. }) => {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}
