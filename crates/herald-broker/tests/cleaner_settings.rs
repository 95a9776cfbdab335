//! The log cleaner's broker settings (`log.cleaner.*`), each seen doing its job through real clients:
//! a 1 MiB key map cleans a log of more keys in several passes where the default cleans it in one; the
//! I/O limit stretches a pass to at least its bytes over the rate; `log.cleaner.enable=false` leaves a
//! dirty log as it is while a broker with the cleaner on cleans the same one; DescribeConfigs reports
//! the values in force; bad values stop the broker at start-up. The counters are those of the metrics
//! endpoint.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{admin, create_topic, eventually, producer_config, TestBroker};
use futures::future::join_all;
use herald_broker::{Broker, BrokerConfig, CleanerSettings};
use rdkafka::admin::{AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::producer::{FutureProducer, FutureRecord};

const TOPIC: &str = "settings";
const SEGMENT_BYTES: &str = "65536";

/// A broker whose cleaner looks for work every 20 ms, with `settings` adjusted.
async fn broker_with(adjust: impl FnOnce(&mut CleanerSettings)) -> TestBroker {
    TestBroker::start_with(|c| {
        c.cleaner.backoff = Duration::from_millis(20);
        adjust(&mut c.cleaner);
    })
    .await
}

/// Creates the topic with `cleanup.policy=delete` (no time limit), so that the whole log is written
/// before the cleaner may look at it.
async fn create_uncompacted(bootstrap: &str) {
    let configs = [
        ("cleanup.policy", "delete"),
        ("retention.ms", "-1"),
        ("segment.bytes", SEGMENT_BYTES),
    ];
    create_topic(bootstrap, TOPIC, 1, &configs).await;
}

/// Switches the topic to compaction, live: the cleaner then sees every closed segment dirty at once.
async fn make_compacted(bootstrap: &str) {
    let alter = AlterConfig::new(ResourceSpecifier::Topic(TOPIC))
        .set("cleanup.policy", "compact")
        .set("retention.ms", "-1")
        .set("segment.bytes", SEGMENT_BYTES)
        .set("min.cleanable.dirty.ratio", "0.01");
    let results = admin(bootstrap)
        .alter_configs([&alter], &AdminOptions::new())
        .await
        .unwrap();
    results.into_iter().next().unwrap().unwrap();
}

/// Produces `count` records with keys `key % keys`, acks=all, and waits for every acknowledgement.
async fn produce(bootstrap: &str, count: usize, keys: usize) {
    let producer: FutureProducer = producer_config(bootstrap)
        .set("linger.ms", "20")
        .set("batch.num.messages", "2000")
        .create()
        .unwrap();
    let mut pending = Vec::with_capacity(count);
    for i in 0..count {
        let key = format!("key-{:06}", i % keys);
        let value = format!("value-{i:08}");
        let record = FutureRecord::to(TOPIC)
            .partition(0)
            .key(&key)
            .payload(&value);
        // Fewer records than librdkafka's queue holds (100,000): none is refused for a full queue.
        pending.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
    }
    for result in join_all(pending).await {
        result.unwrap().map_err(|(e, _)| e).unwrap();
    }
}

fn passes(broker: &TestBroker) -> u64 {
    let state = broker.handle.as_ref().unwrap().state();
    state.metrics.cleaner.passes.load(Ordering::Relaxed)
}

fn dirty_ratio(broker: &TestBroker) -> f64 {
    let state = broker.handle.as_ref().unwrap().state();
    let partition = state.topics.get(TOPIC).unwrap().partition(0).unwrap();
    partition.with_log(|log| log.dirty_ratio())
}

/// Waits until the whole closed part of the log is clean; returns the passes it took.
async fn cleaned(broker: &TestBroker) -> u64 {
    eventually("the log cleaned", || async {
        (passes(broker) > 0 && dirty_ratio(broker) == 0.0).then(|| passes(broker))
    })
    .await
}

/// The `/metrics` body's value of an unlabelled series.
fn metric(broker: &TestBroker, name: &str) -> f64 {
    let body = herald_broker::metrics::render(broker.handle.as_ref().unwrap().state());
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

/// 60,000 distinct keys: more than a 1 MiB key map holds (1 MiB / 24 B per slot * 0.9 = 39,321).
const DISTINCT_KEYS: usize = 60_000;

// a 1 MiB dedupe buffer cannot map 60,000 keys at once: the cleaner takes several passes, each
// visible in /metrics, where the default 128 MiB buffer takes exactly one
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_dedupe_buffer_cleans_in_several_passes() {
    let small = broker_with(|c| c.dedupe_buffer_bytes = 1024 * 1024).await;
    let default = broker_with(|_| {}).await;
    for broker in [&small, &default] {
        create_uncompacted(&broker.bootstrap()).await;
        produce(&broker.bootstrap(), DISTINCT_KEYS, DISTINCT_KEYS).await;
        make_compacted(&broker.bootstrap()).await;
    }
    let (small_passes, default_passes) = (cleaned(&small).await, cleaned(&default).await);
    assert!(small_passes >= 2, "1 MiB key map: {small_passes} passes");
    assert_eq!(default_passes, 1, "128 MiB key map");
    assert_eq!(
        metric(&small, "herald_broker_log_cleaner_passes_total"),
        small_passes as f64
    );
    assert_eq!(
        metric(&small, "herald_broker_log_cleaner_key_map_bytes"),
        (1024 * 1024 / 24 * 24) as f64
    );
    assert!(metric(&small, "herald_broker_log_cleaner_records_mapped_total") >= 50_000.0);
    let body = herald_broker::metrics::render(small.handle.as_ref().unwrap().state());
    assert!(
        body.contains(&format!(
            "herald_broker_partition_dirty_ratio{{topic=\"{TOPIC}\",partition=\"0\"}} 0"
        )),
        "{body}"
    );
}

// under log.cleaner.io.max.bytes.per.second a pass lasts at least its bytes read and written over
// the rate, and the time slept is counted
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn io_limit_stretches_a_pass() {
    // Far below what even a debug build cleans at, so that the limit is what sets the pace.
    const RATE: f64 = 500_000.0;
    let broker = broker_with(|c| c.io_max_bytes_per_second = Some(RATE)).await;
    create_uncompacted(&broker.bootstrap()).await;
    produce(&broker.bootstrap(), 10_000, 500).await;
    make_compacted(&broker.bootstrap()).await;
    assert_eq!(cleaned(&broker).await, 1);
    let read = metric(&broker, "herald_broker_log_cleaner_bytes_read_total");
    let written = metric(&broker, "herald_broker_log_cleaner_bytes_written_total");
    let duration = metric(
        &broker,
        "herald_broker_log_cleaner_last_pass_duration_seconds",
    );
    let throttled = metric(&broker, "herald_broker_log_cleaner_throttled_seconds_total");
    assert!(read > 250_000.0, "read {read} bytes");
    // The throttle counts the map-building reads too, so the real floor is higher still.
    let floor = (read + written) / RATE;
    assert!(
        duration >= floor,
        "pass of {duration}s under a floor of {floor}s"
    );
    assert!(
        throttled >= floor / 2.0 && throttled <= duration,
        "throttled {throttled}s of a {duration}s pass (floor {floor}s)"
    );
}

// with log.cleaner.enable=false a compacted topic stays dirty and keeps every record, while a
// broker with the cleaner on compacts the same production
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_cleaner_leaves_the_log_dirty() {
    let off = broker_with(|c| c.enabled = false).await;
    let on = broker_with(|_| {}).await;
    for broker in [&off, &on] {
        create_uncompacted(&broker.bootstrap()).await;
        produce(&broker.bootstrap(), 20_000, 100).await;
        make_compacted(&broker.bootstrap()).await;
    }
    cleaned(&on).await;
    let size = |broker: &TestBroker| {
        let state = broker.handle.as_ref().unwrap().state();
        let partition = state.topics.get(TOPIC).unwrap().partition(0).unwrap();
        partition.with_log(|log| log.size_bytes())
    };
    assert!(
        size(&on) < size(&off) / 2,
        "{} vs {}",
        size(&on),
        size(&off)
    );
    assert_eq!(passes(&off), 0);
    assert!(dirty_ratio(&off) > 0.9, "{}", dirty_ratio(&off));
    assert_eq!(metric(&off, "herald_broker_log_cleaner_key_map_bytes"), 0.0);
}

// DescribeConfigs for the broker resource reports the cleaner settings in force
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_configs_reports_cleaner_settings() {
    let broker = TestBroker::start_with(|c| {
        c.cleaner = CleanerSettings {
            enabled: false,
            threads: 1,
            dedupe_buffer_bytes: 8 * 1024 * 1024,
            io_max_bytes_per_second: Some(2_500_000.0),
            backoff: Duration::from_millis(750),
        }
    })
    .await;
    let results = admin(&broker.bootstrap())
        .describe_configs([&ResourceSpecifier::Broker(0)], &AdminOptions::new())
        .await
        .unwrap();
    let resource = results.into_iter().next().unwrap().unwrap();
    let value = |name: &str| {
        resource
            .get(name)
            .and_then(|entry| entry.value.clone())
            .unwrap_or_else(|| panic!("{name} not described"))
    };
    assert_eq!(value("log.cleaner.enable"), "false");
    assert_eq!(value("log.cleaner.threads"), "1");
    assert_eq!(value("log.cleaner.dedupe.buffer.size"), "8388608");
    assert_eq!(value("log.cleaner.io.max.bytes.per.second"), "2500000");
    assert_eq!(value("log.cleaner.backoff.ms"), "750");
    let default = TestBroker::start().await;
    let results = admin(&default.bootstrap())
        .describe_configs([&ResourceSpecifier::Broker(0)], &AdminOptions::new())
        .await
        .unwrap();
    let resource = results.into_iter().next().unwrap().unwrap();
    let io = resource.get("log.cleaner.io.max.bytes.per.second").unwrap();
    assert_eq!(io.value.as_deref(), Some("1.7976931348623157E308"));
}

// a second cleaner thread or a key map under Kafka's 1 MiB minimum is a start-up error naming the
// config; nothing is bound
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cleaner_settings_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    type Adjust = fn(&mut CleanerSettings);
    let cases: [(Adjust, &str); 3] = [
        (|c| c.threads = 2, "log.cleaner.threads"),
        (
            |c| c.dedupe_buffer_bytes = 512 * 1024,
            "log.cleaner.dedupe.buffer.size",
        ),
        (
            |c| c.io_max_bytes_per_second = Some(0.0),
            "log.cleaner.io.max.bytes.per.second",
        ),
    ];
    for (adjust, name) in cases {
        let mut config = BrokerConfig::for_tests(dir.path());
        adjust(&mut config.cleaner);
        let error = match Broker::start(config).await {
            Ok(_) => panic!("{name}: broker started"),
            Err(e) => e.to_string(),
        };
        assert!(error.contains(name), "{error}");
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "the data directory was touched"
    );
}
