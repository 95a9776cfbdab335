//! `herald::testing::TestBroker` (feature `testing`): a real broker for users' tests, with outages.
#![cfg(feature = "testing")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use herald::envelope::Event;
use herald::producer::{Producer, ProducerConfig};
use herald::testing::TestBroker;

// Events deliver_async'ed during a TestBroker restart are delivered after it, on the same address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_address_and_data() {
    let mut broker = TestBroker::start().await.unwrap();
    let address = broker.local_addr();
    let producer = Producer::new(
        ProducerConfig::new(broker.bootstrap_servers())
            .set("reconnect.backoff.ms", "50")
            .set("reconnect.backoff.max.ms", "200"),
    )
    .unwrap();
    let before = Event::new("tick", &1).unwrap();
    assert_eq!(producer.deliver("ticks", &before).await.unwrap().offset, 0);

    broker
        .restart(|| async {
            for n in 0..10 {
                producer
                    .deliver_async("ticks", &Event::new("tick", &n).unwrap())
                    .unwrap();
            }
        })
        .await
        .unwrap();
    assert_eq!(broker.local_addr(), address);
    assert!(broker.is_running());
    producer.flush(Duration::from_secs(30)).await.unwrap();
    assert_eq!(producer.stats().delivered, 11);
    let after = producer.deliver("ticks", &before).await.unwrap();
    assert_eq!(after.offset, 11, "data from before the restart is kept");
    producer.close().await.unwrap();
    broker.stop().await.unwrap();
}

// A broker started with a custom configuration keeps it across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_configuration() {
    let mut broker = TestBroker::start_with(|config| config.default_partitions = 3)
        .await
        .unwrap();
    broker.restart(|| async {}).await.unwrap();
    let producer = Producer::new(ProducerConfig::new(broker.bootstrap_servers())).unwrap();
    let mut partitions = std::collections::HashSet::new();
    for key in 0..30 {
        let event = Event::new("tick", &key).unwrap().key(key);
        partitions.insert(producer.deliver("spread", &event).await.unwrap().partition);
    }
    assert_eq!(
        partitions.len(),
        3,
        "auto-created with 3 partitions: {partitions:?}"
    );
    producer.close().await.unwrap();
    broker.stop().await.unwrap();
}
