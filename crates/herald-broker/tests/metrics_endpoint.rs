//! The metrics endpoint (`metrics_listen`): per-API request counts, storage figures, group lag, and
//! the health and readiness probes, as a Prometheus scrape sees them.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{consumer_config, create_topic, produce_each, TestBroker};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(addr: SocketAddr) -> String {
    let (status, body) = http(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, 200);
    body
}

// After 10 records produced and 4 consumed and committed by a group, a scrape shows the requests
// per API, the records in and out, the log end offset, fsyncs, and a lag of 6 for that group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_shows_requests_storage_and_lag() {
    let broker =
        TestBroker::start_with(|c| c.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0))))
            .await;
    let addr = broker.handle.as_ref().unwrap().metrics_addr().unwrap();
    create_topic(&broker.bootstrap(), "measured", 1, &[]).await;
    let values: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    produce_each(&broker.bootstrap(), "measured", values).await;

    let consumer: StreamConsumer = consumer_config(&broker.bootstrap())
        .set("group.id", "lagging")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("measured", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut last = 0;
    for _ in 0..4 {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .unwrap()
            .unwrap();
        last = message.offset();
    }
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset("measured", 0, Offset::Offset(last + 1))
        .unwrap();
    consumer.commit(&commit, CommitMode::Sync).unwrap();

    let body = scrape(addr).await;
    assert!(value(&body, "herald_broker_requests_total{api=\"Produce\"}").unwrap() >= 1.0);
    assert!(value(&body, "herald_broker_requests_total{api=\"Fetch\"}").unwrap() >= 1.0);
    assert!(
        value(
            &body,
            "herald_broker_request_duration_seconds_count{api=\"Metadata\"}"
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        value(
            &body,
            "herald_broker_topic_records_in_total{topic=\"measured\"}"
        ),
        Some(10.0)
    );
    assert!(
        value(
            &body,
            "herald_broker_topic_records_out_total{topic=\"measured\"}"
        )
        .unwrap()
            >= 4.0
    );
    assert_eq!(
        value(
            &body,
            "herald_broker_partition_log_end_offset{topic=\"measured\",partition=\"0\"}"
        ),
        Some(10.0)
    );
    assert!(value(&body, "herald_broker_fsync_duration_seconds_count").unwrap() >= 1.0);
    assert!(value(&body, "herald_broker_connections").unwrap() >= 1.0);
    assert_eq!(
        value(&body, "herald_broker_consumer_group_lag{group=\"lagging\",topic=\"measured\",partition=\"0\"}"),
        Some(6.0)
    );
    // Every line is a comment or `name{labels} value` with a number: what Prometheus parses.
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let number = line.rsplit(' ').next().unwrap();
        assert!(number.parse::<f64>().is_ok(), "not a sample: {line}");
    }
}

// The probes answer 200, an unknown path 404 and a POST 405, each with a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_bad_requests() {
    let broker =
        TestBroker::start_with(|c| c.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0))))
            .await;
    let addr = broker.handle.as_ref().unwrap().metrics_addr().unwrap();
    assert_eq!(http(addr, "GET /health HTTP/1.1\r\n\r\n").await.0, 200);
    assert_eq!(http(addr, "GET /ready HTTP/1.1\r\n\r\n").await.0, 200);
    let (status, body) = http(addr, "GET /nope HTTP/1.1\r\n\r\n").await;
    assert_eq!(status, 404);
    assert!(body.contains("/metrics"), "{body}");
    assert_eq!(http(addr, "POST /metrics HTTP/1.1\r\n\r\n").await.0, 405);
}

// Every metric the shipped Grafana dashboard queries is one the broker serves (names cannot drift).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_dashboard_queries_served_metrics() {
    let broker =
        TestBroker::start_with(|c| c.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0))))
            .await;
    let addr = broker.handle.as_ref().unwrap().metrics_addr().unwrap();
    let body = scrape(addr).await;
    let dashboard = include_str!("../../../docs/grafana/herald-broker.json");
    let json: serde_json::Value = serde_json::from_str(dashboard).unwrap();
    let mut names = Vec::new();
    for panel in json["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for (at, _) in expr.match_indices("herald_broker_") {
                let name: String = expr[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                names.push(name);
            }
        }
    }
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        assert!(
            body.contains(&format!("# TYPE {name} "))
                || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
                    name.strip_suffix(suffix)
                        .is_some_and(|base| body.contains(&format!("# TYPE {base} histogram")))
                }),
            "the dashboard queries {name}, which the broker does not serve"
        );
    }
}
