//! The runner against a real broker: per-partition order under concurrency and batching, offsets
//! committed after processing, several consumers in one process, and graceful shutdown.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use herald::admin::Admin;
use herald::consumer::{Consumer, HandlerResult, Message, Runner};
use support::{eventually, produce_user, unique, TestBroker, DEADLINE};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Records offsets per partition as batches arrive.
struct Ordered {
    topic: String,
    offsets: Mutex<HashMap<i32, Vec<i64>>>,
    batches: AtomicUsize,
}

#[async_trait]
impl Consumer for Ordered {
    fn subscribes_to(&self) -> Vec<String> {
        vec![self.topic.clone()]
    }

    async fn process(&self, message: &Message) -> HandlerResult {
        self.offsets
            .lock()
            .unwrap()
            .entry(message.partition())
            .or_default()
            .push(message.offset());
        Ok(())
    }

    async fn process_batch(&self, batch: &[Message]) -> HandlerResult {
        self.batches.fetch_add(1, Ordering::SeqCst);
        for message in batch {
            assert_eq!(
                message.partition(),
                batch[0].partition(),
                "a batch holds one partition"
            );
            self.process(message).await?;
        }
        Ok(())
    }
}

impl Ordered {
    fn new(topic: &str) -> Arc<Self> {
        Arc::new(Ordered {
            topic: topic.to_string(),
            offsets: Mutex::default(),
            batches: AtomicUsize::new(0),
        })
    }

    fn total(&self) -> usize {
        self.offsets.lock().unwrap().values().map(Vec::len).sum()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_keep_order_in_batches_and_offsets_are_committed() {
    // Proves: with concurrency and batches, each partition is processed in offset order exactly
    // once, batches are used, and after shutdown the committed offsets equal the log end offsets.
    const PARTITIONS: i32 = 4;
    const PER_PARTITION: i64 = 50;
    let broker = TestBroker::start().await;
    let topic = unique("users");
    broker.create_topic(&topic, PARTITIONS).await;
    let producer = broker.producer();
    for i in 0..PER_PARTITION * PARTITIONS as i64 {
        produce_user(
            &producer,
            &topic,
            (i % PARTITIONS as i64) as i32,
            &format!("u{i}"),
        )
        .await;
    }
    let group = unique("g");
    let mut config = broker.consumer_config(&group);
    config.batch_size = 16;
    config.concurrency = 2;
    let ordered = Ordered::new(&topic);
    let stop = CancellationToken::new();
    let run = tokio::spawn(
        Runner::new(config)
            .consumer(ordered.clone())
            .run(stop.clone()),
    );
    assert!(
        eventually(DEADLINE, || async {
            ordered.total() == (PER_PARTITION * PARTITIONS as i64) as usize
        })
        .await
    );
    stop.cancel();
    run.await.unwrap().unwrap();

    for (partition, offsets) in ordered.offsets.lock().unwrap().iter() {
        assert_eq!(
            offsets,
            &(0..PER_PARTITION).collect::<Vec<_>>(),
            "partition {partition}"
        );
    }
    assert!(
        ordered.batches.load(Ordering::SeqCst) < ordered.total(),
        "batches were used"
    );
    let committed = Admin::new(&broker.brokers())
        .committed_offsets(&group, &topic)
        .await
        .unwrap();
    assert_eq!(committed.len(), PARTITIONS as usize);
    assert!(
        committed.iter().all(|p| p.offset == Some(PER_PARTITION)),
        "{committed:?}"
    );
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_consumers_run_in_one_process() {
    // Proves: one runner drives two consumers on different topics, each in its own group.
    let broker = TestBroker::start().await;
    let (users, orders) = (unique("users"), unique("orders"));
    broker.create_topic(&users, 1).await;
    broker.create_topic(&orders, 1).await;
    let producer = broker.producer();
    produce_user(&producer, &users, 0, "ada").await;
    produce_user(&producer, &orders, 0, "order-1").await;
    produce_user(&producer, &orders, 0, "order-2").await;
    let (a, b) = (Ordered::new(&users), Ordered::new(&orders));
    let mut config = broker.consumer_config("ignored");
    config.group_id = None; // each consumer's group defaults to its name; make them distinct below
    struct Named(Arc<Ordered>, String);
    #[async_trait]
    impl Consumer for Named {
        fn subscribes_to(&self) -> Vec<String> {
            self.0.subscribes_to()
        }
        async fn process(&self, message: &Message) -> HandlerResult {
            self.0.process(message).await
        }
        fn group_id(&self) -> Option<String> {
            Some(self.1.clone())
        }
    }
    let stop = CancellationToken::new();
    let runner = Runner::new(config)
        .consumer(Named(a.clone(), unique("ga")))
        .consumer(Named(b.clone(), unique("gb")));
    let run = tokio::spawn(runner.run(stop.clone()));
    assert!(eventually(DEADLINE, || async { a.total() == 1 && b.total() == 2 }).await);
    stop.cancel();
    run.await.unwrap().unwrap();
    broker.stop().await;
}

/// Blocks in `process` until released, to hold a message in flight.
struct Slow {
    topic: String,
    started: Notify,
    release: Notify,
    finished: AtomicBool,
}

#[async_trait]
impl Consumer for Slow {
    fn subscribes_to(&self) -> Vec<String> {
        vec![self.topic.clone()]
    }

    async fn process(&self, _message: &Message) -> HandlerResult {
        self.started.notify_one();
        self.release.notified().await;
        self.finished.store(true, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_work_commits_and_leaves() {
    // Proves: cancelling the token while a message is in flight waits for it, commits its offset,
    // and leaves the group (no live members afterwards).
    let broker = TestBroker::start().await;
    let topic = unique("users");
    broker.create_topic(&topic, 1).await;
    produce_user(&broker.producer(), &topic, 0, "ada").await;
    let group = unique("g");
    let slow = Arc::new(Slow {
        topic: topic.clone(),
        started: Notify::new(),
        release: Notify::new(),
        finished: AtomicBool::new(false),
    });
    let stop = CancellationToken::new();
    let run = tokio::spawn(
        Runner::new(broker.consumer_config(&group))
            .consumer(slow.clone())
            .run(stop.clone()),
    );
    tokio::time::timeout(DEADLINE, slow.started.notified())
        .await
        .unwrap();
    stop.cancel();
    assert!(
        !run.is_finished(),
        "the runner waits for the in-flight message"
    );
    slow.release.notify_one();
    tokio::time::timeout(DEADLINE, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(slow.finished.load(Ordering::SeqCst));
    let admin = Admin::new(&broker.brokers());
    let committed = admin.committed_offsets(&group, &topic).await.unwrap();
    assert_eq!(committed[0].offset, Some(1));
    assert!(admin.group_members(&group).await.unwrap().is_empty());
    broker.stop().await;
}
