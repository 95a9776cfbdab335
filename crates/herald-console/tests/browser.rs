//! End to end in headless Chromium (Debian's chromium + chromedriver): every page opens, a topic
//! is created through the form, a produced event is found in the explorer, a group's lag falls to
//! 0 on its live-refreshing page, and a dead letter is republished and consumed again. Screenshots
//! of each page go to `target/console-screenshots/`.
//!
//! Fails (never skips) when Chromium or chromedriver is missing: CI installs them.

mod common;

use std::time::Duration;

use common::webdriver::{screenshot_dir, Browser};
use common::{commit, produce, Setup};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::ClientConfig;

/// Records the "billing" group has to work through.
const BACKLOG_RECORDS: i64 = 25;

/// Reads `topic` from the start as group `group` until a record carries `header`; returns its value.
async fn consume_until_header(brokers: &str, group: &str, topic: &str, header: &str) -> String {
    let (brokers, group, topic, header) = (
        brokers.to_string(),
        group.to_string(),
        topic.to_string(),
        header.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", &group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        consumer.subscribe(&[&topic]).expect("subscribed");
        let deadline = std::time::Instant::now() + Duration::from_millis(common::AWAIT_MS);
        while std::time::Instant::now() < deadline {
            let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let found = message.headers().and_then(|h| {
                h.iter()
                    .find(|h| h.key == header)
                    .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
            });
            if let Some(value) = found {
                return value;
            }
        }
        panic!("no record with header {header} consumed from {topic}");
    })
    .await
    .expect("consumer task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    // A person's tour through every page, with each action's effect checked in the browser.
    let browser = Browser::launch().await;
    let setup = Setup::start(|_| {}).await;
    let brokers = setup.broker.bootstrap_servers().to_string();
    let shots = screenshot_dir();
    let url = |path: &str| format!("{}{path}", setup.url);

    // Create a topic through the form (confirming the dialog).
    browser.goto(&url("/topics")).await;
    browser.type_into("#new-topic-name", "orders").await;
    browser.type_into("#new-topic-partitions", "1").await;
    browser.click("#create-topic").await;
    browser.accept_alert().await;
    browser
        .await_text("#done", |t| t.contains("created topic orders"))
        .await;

    // Produce an event and a backlog; find the event in the explorer by searching.
    let ce = [
        ("ce_specversion", "1.0"),
        ("ce_type", "order_placed"),
        ("ce_id", "0190-e2e"),
        ("ce_source", "shop"),
        ("content-type", "application/json"),
    ];
    produce(
        &brokers,
        "orders",
        "order-1",
        br#"{"id":"order-1","customer":"ada@example.com","total":42.5}"#,
        &ce,
    )
    .await;
    for i in 0..BACKLOG_RECORDS - 1 {
        produce(
            &brokers,
            "orders",
            &format!("order-{}", i + 2),
            format!(r#"{{"name":"order_placed","data":{{"id":"{}"}}}}"#, i + 2).as_bytes(),
            &[],
        )
        .await;
    }
    browser.goto(&url("/topics/orders")).await;
    browser.screenshot(&shots.join("topic.png")).await;
    browser.click("#explore").await;
    browser.type_into("#search", "ada@example.com").await;
    browser.click("#read").await;
    let summary = browser
        .await_text("#summary", |t| t.contains("1 shown of"))
        .await;
    assert!(
        summary.contains(&format!("{BACKLOG_RECORDS} looked at")),
        "{summary}"
    );
    let row = browser.text("tr.record").await;
    assert!(
        row.contains("order_placed") && row.contains("\"customer\": \"ada@example.com\""),
        "{row}"
    );
    browser.screenshot(&shots.join("explorer.png")).await;

    // A group behind by the whole backlog; it catches up and the live page shows lag 0.
    commit(&brokers, "billing", "orders", 0).await;
    browser.goto(&url("/groups/billing")).await;
    browser
        .await_text("#group-lag", |t| t == BACKLOG_RECORDS.to_string())
        .await;
    // The chart has sampled the backlog before the group catches up.
    let backlog = format!("max {BACKLOG_RECORDS}");
    browser
        .await_text("#lag-chart", |t| t.contains(&backlog))
        .await;
    commit(&brokers, "billing", "orders", BACKLOG_RECORDS).await;
    browser.await_text("#group-lag", |t| t == "0").await;
    browser
        .await_text("#lag-chart", |t| t.contains("now 0"))
        .await;
    browser.screenshot(&shots.join("group.png")).await;

    // A dead letter republished from its page, then consumed from the original topic.
    let dead = [
        ("ce_id", "0190-dead"),
        ("ce_type", "order_placed"),
        ("herald-error-reason", "payment service timed out"),
        ("herald-error-kind", "processing"),
        ("herald-attempts", "5"),
        ("herald-original-topic", "orders"),
        ("herald-original-partition", "0"),
        ("herald-original-offset", "3"),
        ("herald-consumer", "billing"),
        ("herald-consumer-group", "billing"),
    ];
    produce(
        &brokers,
        "orders.dlq",
        "order-4",
        br#"{"id":"order-4"}"#,
        &dead,
    )
    .await;
    browser.goto(&url("/dead-letters")).await;
    browser
        .screenshot(&shots.join("dead-letter-topics.png"))
        .await;
    browser.click("a[href='/dead-letters/orders.dlq']").await;
    browser
        .await_text("#dead-letters", |t| t.contains("payment service timed out"))
        .await;
    browser.screenshot(&shots.join("dead-letters.png")).await;
    browser.click("button.republish-one").await;
    browser.accept_alert().await;
    browser
        .await_text("#republish-summary", |t| {
            t.contains("1 republished, 0 failed")
        })
        .await;
    browser.screenshot(&shots.join("republished.png")).await;
    let from = consume_until_header(&brokers, "auditor", "orders", "herald-republished-from").await;
    assert_eq!(from, "orders.dlq/0@0");

    // The remaining pages open, and the overview and groups list show the cluster.
    browser.goto(&url("/groups")).await;
    browser
        .await_text("#groups", |t| t.contains("billing"))
        .await;
    browser.screenshot(&shots.join("groups.png")).await;
    browser.goto(&url("/topics")).await;
    browser
        .await_text("#topics", |t| t.contains("orders.dlq"))
        .await;
    browser.screenshot(&shots.join("topics.png")).await;
    browser.goto(&url("/")).await;
    browser.await_text("#topics .value", |t| t == "2").await;
    browser.await_text("#total-lag .value", |t| t != "…").await;
    browser.screenshot(&shots.join("overview.png")).await;

    browser.quit().await;
    setup.stop().await;
}
