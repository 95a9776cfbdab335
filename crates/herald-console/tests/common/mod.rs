//! Shared by the console's integration tests: a real herald-broker in process (over TCP, port 0,
//! temp dir), a console in front of it on port 0, an HTTP client that keeps the CSRF token, and
//! rdkafka helpers to produce records and commit a group's offsets. Nothing is mocked.

#![allow(dead_code)]

use std::time::Duration;

pub mod webdriver;

use herald::testing::TestBroker;
use herald_console::{Console, ConsoleConfig};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// How long an awaited condition may take.
pub const AWAIT_MS: u64 = 20_000;
/// Interval between two looks at an awaited condition.
pub const POLL_INTERVAL_MS: u64 = 100;

/// A broker, a console in front of it, and an HTTP client.
pub struct Setup {
    pub broker: TestBroker,
    pub console: Console,
    pub http: reqwest::Client,
    pub url: String,
}

/// A response's status, `Location` header and body.
pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Setup {
    /// A broker with 1-partition auto-created topics and a console with `adjust` applied.
    pub async fn start(adjust: impl FnOnce(&mut ConsoleConfig)) -> Setup {
        let broker = TestBroker::start().await.expect("broker starts");
        let mut config = ConsoleConfig::new(broker.bootstrap_servers());
        config.request_timeout = Duration::from_secs(3);
        config.lag_sample_interval = Duration::from_millis(500);
        adjust(&mut config);
        let console = Console::start(config, "127.0.0.1:0".parse().expect("address"))
            .await
            .expect("console starts");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        let url = console.url();
        Setup {
            broker,
            console,
            http,
            url,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("GET answered");
        reply(response).await
    }

    /// The CSRF token the console puts into its forms.
    pub async fn csrf(&self) -> String {
        let page = self.get("/topics").await.body;
        csrf_from(&page).expect("a form with a CSRF token")
    }

    /// POSTs `fields` plus the CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let token = self.csrf().await;
        let mut form: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
        form.extend_from_slice(fields);
        self.post_raw(path, &form).await
    }

    /// POSTs exactly `fields`.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .form(fields)
            .send()
            .await
            .expect("POST answered");
        reply(response).await
    }

    /// GETs `path` until `done(body)` holds; panics with the last body after [`AWAIT_MS`].
    pub async fn await_page(&self, path: &str, done: impl Fn(&Reply) -> bool) -> Reply {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(AWAIT_MS);
        loop {
            let page = self.get(path).await;
            if done(&page) {
                return page;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} never got there: {} {}",
                page.status,
                page.body
            );
            tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
        }
    }

    pub async fn stop(self) {
        self.console.stop().await.expect("console stops");
        self.broker.stop().await.expect("broker stops");
    }
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.text().await.expect("body");
    Reply {
        status,
        location,
        body,
    }
}

/// The value of the first `name="csrf"` field in `page`.
pub fn csrf_from(page: &str) -> Option<String> {
    let start = page.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let end = page[start..].find('"')?;
    Some(page[start..start + end].to_string())
}

/// Produces one record and waits for its acknowledgement; returns its offset.
pub async fn produce(
    brokers: &str,
    topic: &str,
    key: &str,
    value: &[u8],
    headers: &[(&str, &str)],
) -> i64 {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .create()
        .expect("producer");
    let mut owned = OwnedHeaders::new();
    for (k, v) in headers {
        owned = owned.insert(Header {
            key: k,
            value: Some(v.as_bytes()),
        });
    }
    let record = FutureRecord::to(topic)
        .key(key)
        .payload(value)
        .headers(owned);
    let delivery = producer
        .send(record, Duration::from_secs(10))
        .await
        .expect("delivered");
    delivery.offset
}

/// Produces `count` small records to partition 0 of `topic`, in one producer.
pub async fn produce_many(brokers: &str, topic: &str, count: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let sends: Vec<_> = (0..count)
        .map(|i| {
            let value = format!("{{\"n\":{i}}}");
            let key = format!("k{i}");
            let producer = producer.clone();
            let topic = topic.to_string();
            async move {
                producer
                    .send(
                        FutureRecord::to(&topic)
                            .key(&key)
                            .payload(&value)
                            .partition(0),
                        Duration::from_secs(10),
                    )
                    .await
                    .expect("delivered");
            }
        })
        .collect();
    futures::future::join_all(sends).await;
}

/// Commits `offset` on partition 0 of `topic` for `group`, as a client that never joins it.
pub async fn commit(brokers: &str, group: &str, topic: &str, offset: i64) {
    let (brokers, group, topic) = (brokers.to_string(), group.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&topic, 0, Offset::Offset(offset))
            .expect("list");
        consumer.commit(&list, CommitMode::Sync).expect("committed");
    })
    .await
    .expect("commit task");
}

/// How many times `needle` occurs in `haystack`.
pub fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// A consumer that joined `group` on `topic` and polls on its own thread until stopped.
pub struct LiveMember {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LiveMember {
    pub fn join(brokers: &str, group: &str, topic: &str) -> LiveMember {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", group)
            .set("client.id", "live-member")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribed");
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = consumer.poll(Duration::from_millis(100));
            }
        });
        LiveMember {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for LiveMember {
    /// Leaves the group (the consumer closes when its thread ends).
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
