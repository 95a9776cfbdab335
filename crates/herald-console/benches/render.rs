//! Render time of the console's overview and group pages with 1,000 topics and 200 consumer groups,
//! and of a 1,000-record explorer page, measured over HTTP against an in-process herald-broker
//! (console, broker and client share the machine's cores).
//!
//! `cargo bench -p herald-console --bench render` (`HERALD_BENCH_TOPICS`, `HERALD_BENCH_GROUPS` and
//! `HERALD_BENCH_ROUNDS` to change the sizes). Prints p50 and p99 per page; the target is under
//! 100 ms for the overview and the group page.

use std::time::{Duration, Instant};

use herald::testing::TestBroker;
use herald_console::{Console, ConsoleConfig};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const TOPICS_DEFAULT: usize = 1_000;
const GROUPS_DEFAULT: usize = 200;
const ROUNDS_DEFAULT: usize = 50;
/// Topics created per CreateTopics request.
const CREATE_BATCH_TOPICS: usize = 100;
/// Topics each group commits on.
const TOPICS_PER_GROUP: usize = 5;
/// Records in the explorer's topic (one full page).
const EXPLORER_RECORDS: usize = 1_000;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn create_topics(brokers: &str, count: usize) -> Result<(), BoxError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let names: Vec<String> = (0..count).map(|i| format!("topic-{i:04}")).collect();
    for chunk in names.chunks(CREATE_BATCH_TOPICS) {
        let topics: Vec<NewTopic> = chunk
            .iter()
            .map(|n| NewTopic::new(n, 1, TopicReplication::Fixed(1)))
            .collect();
        for result in admin.create_topics(&topics, &AdminOptions::new()).await? {
            result.map_err(|(name, code)| format!("create {name}: {code}"))?;
        }
    }
    Ok(())
}

async fn produce(brokers: &str, topics: usize) -> Result<(), BoxError> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create()?;
    let mut sends = Vec::new();
    for i in 0..topics {
        let topic = format!("topic-{i:04}");
        let producer = producer.clone();
        sends.push(async move {
            let value = format!("{{\"n\":{i}}}");
            producer
                .send(
                    FutureRecord::to(&topic).key("k").payload(&value),
                    Duration::from_secs(30),
                )
                .await
                .map(|_| ())
        });
    }
    let mut explorer = Vec::new();
    for i in 0..EXPLORER_RECORDS {
        let producer = producer.clone();
        explorer.push(async move {
            let value =
                format!("{{\"id\":{i},\"name\":\"order_placed\",\"data\":{{\"total\":{i}}}}}");
            producer
                .send(
                    FutureRecord::to("topic-0000").key("order").payload(&value),
                    Duration::from_secs(30),
                )
                .await
                .map(|_| ())
        });
    }
    let (sent, explored) = futures::future::join(
        futures::future::join_all(sends),
        futures::future::join_all(explorer),
    )
    .await;
    for result in sent.into_iter().chain(explored) {
        result.map_err(|(e, _)| e)?;
    }
    Ok(())
}

fn commit_groups(brokers: &str, groups: usize, topics: usize) -> Result<(), BoxError> {
    for g in 0..groups {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", format!("group-{g:03}"))
            .set("enable.auto.commit", "false")
            .create()?;
        let mut list = TopicPartitionList::new();
        for t in 0..TOPICS_PER_GROUP {
            list.add_partition_offset(
                &format!("topic-{:04}", (g * TOPICS_PER_GROUP + t) % topics),
                0,
                Offset::Offset(0),
            )?;
        }
        consumer.commit(&list, CommitMode::Sync)?;
    }
    Ok(())
}

async fn measure(
    http: &reqwest::Client,
    url: &str,
    rounds: usize,
) -> Result<(Duration, Duration, usize), BoxError> {
    let mut times = Vec::with_capacity(rounds);
    let mut bytes = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        let response = http.get(url).send().await?;
        let status = response.status();
        let body = response.text().await?;
        times.push(started.elapsed());
        if !status.is_success() {
            return Err(format!("{url}: {status}: {body}").into());
        }
        bytes = body.len();
    }
    times.sort();
    let at = |q: f64| {
        times[((times.len() as f64 * q).ceil() as usize)
            .saturating_sub(1)
            .min(times.len() - 1)]
    };
    Ok((at(0.50), at(0.99), bytes))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let (topics, groups, rounds) = (
        env_or("HERALD_BENCH_TOPICS", TOPICS_DEFAULT),
        env_or("HERALD_BENCH_GROUPS", GROUPS_DEFAULT),
        env_or("HERALD_BENCH_ROUNDS", ROUNDS_DEFAULT),
    );
    let broker = TestBroker::start().await?;
    let brokers = broker.bootstrap_servers().to_string();
    let setup = Instant::now();
    create_topics(&brokers, topics).await?;
    produce(&brokers, topics).await?;
    let committing = brokers.clone();
    tokio::task::spawn_blocking(move || commit_groups(&committing, groups, topics)).await??;
    println!("set-up: {topics} topics, {groups} groups, {EXPLORER_RECORDS} records in topic-0000 in {:.1} s", setup.elapsed().as_secs_f64());
    let console =
        Console::start(ConsoleConfig::new(brokers.clone()), "127.0.0.1:0".parse()?).await?;
    let http = reqwest::Client::new();
    let pages = [
        ("overview", "/".to_string()),
        ("group", "/groups/group-017".to_string()),
        ("groups", "/groups".to_string()),
        ("topics", "/topics".to_string()),
        (
            "explorer 1,000 records",
            "/topics/topic-0000/messages?from=offset&offset=0&limit=1000".to_string(),
        ),
    ];
    println!(
        "{:<24} {:>9} {:>9} {:>10}",
        "page", "p50 ms", "p99 ms", "bytes"
    );
    for (name, path) in &pages {
        let url = format!("{}{path}", console.url());
        measure(&http, &url, 2).await?;
        let (p50, p99, bytes) = measure(&http, &url, rounds).await?;
        println!(
            "{name:<24} {:>9.1} {:>9.1} {bytes:>10}",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    console.stop().await?;
    broker.stop().await?;
    Ok(())
}
