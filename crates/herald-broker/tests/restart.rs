//! Data, topics and offsets survive a clean restart on the same data directory.
#![allow(clippy::unwrap_used)]

mod common;

use common::{consume, create_topic, produce_each, watermarks, TestBroker};

// Records produced before a restart are readable after it, and new records continue the offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data_and_offsets() {
    let mut broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "durable", 1, &[("retention.ms", "-1")]).await;
    let offsets = produce_each(
        &broker.bootstrap(),
        "durable",
        (0..20).map(|i| format!("before-{i}")),
    )
    .await;
    assert_eq!(offsets, (0..20).collect::<Vec<_>>());

    broker.restart().await;
    assert_eq!(watermarks(&broker.bootstrap(), "durable", 0).await, (0, 20));
    let read = consume(&broker.bootstrap(), "durable", 0, 20).await;
    assert_eq!(read[0], (0, "before-0".to_string()));
    assert_eq!(read[19], (19, "before-19".to_string()));
    let more = produce_each(&broker.bootstrap(), "durable", ["after".to_string()]).await;
    assert_eq!(more, vec![20]);

    // The topic's id and configs were persisted with it.
    let topic = broker
        .handle
        .as_ref()
        .unwrap()
        .state()
        .topics
        .get("durable")
        .unwrap();
    assert_eq!(
        topic.configs().get("retention.ms").map(String::as_str),
        Some("-1")
    );
}
