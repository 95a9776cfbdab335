//! Static membership (KIP-345) with rdkafka: a restarted instance with the same group.instance.id takes
//! back its partitions without waiting for its session to expire and without moving anyone else's.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{create_topic, eventually, TestBroker};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const PARTITIONS: usize = 6;
const SESSION_TIMEOUT_MS: u64 = 10_000;

struct Member {
    consumer: Arc<StreamConsumer>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Member {
    fn start(bootstrap: &str, instance: &str) -> Self {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "static")
            .set("group.instance.id", instance)
            .set("partition.assignment.strategy", "range")
            // Long enough that a take-over before it proves the replacement did not wait for expiry.
            .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
            .set("heartbeat.interval.ms", "100")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        consumer.subscribe(&["statics"]).unwrap();
        let consumer = Arc::new(consumer);
        let stop = CancellationToken::new();
        let (polled, stopping) = (consumer.clone(), stop.clone());
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopping.cancelled() => return,
                    _ = polled.recv() => {}
                }
            }
        });
        Self {
            consumer,
            stop,
            task,
        }
    }

    fn owned(&self) -> BTreeSet<i32> {
        let assignment = self.consumer.assignment().unwrap();
        assignment
            .elements()
            .iter()
            .map(|e| e.partition())
            .collect()
    }

    /// Closes the consumer; a static member sends no LeaveGroup, its slot stays in the group.
    async fn close(self) {
        self.stop.cancel();
        self.task.await.unwrap();
        let consumer = Arc::try_unwrap(self.consumer).ok().unwrap();
        tokio::task::spawn_blocking(move || drop(consumer))
            .await
            .unwrap();
    }
}

async fn await_split(a: &Member, b: &Member) -> (BTreeSet<i32>, BTreeSet<i32>) {
    eventually("both static members own 3 partitions", || async {
        let (owned_a, owned_b) = (a.owned(), b.owned());
        let union: BTreeSet<i32> = owned_a.union(&owned_b).copied().collect();
        (owned_a.len() == 3 && owned_b.len() == 3 && union.len() == PARTITIONS)
            .then_some((owned_a, owned_b))
    })
    .await
}

// A static member that restarts (same group.instance.id, new member id) gets its own partitions back
// well before its old session would have expired, and the other member keeps its partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_static_member_takes_back_its_partitions() {
    let broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "statics", PARTITIONS as i32, &[]).await;
    let a = Member::start(&bootstrap, "instance-a");
    let b = Member::start(&bootstrap, "instance-b");
    let (owned_a, owned_b) = await_split(&a, &b).await;

    a.close().await;
    let restarted_at = Instant::now();
    let a = Member::start(&bootstrap, "instance-a");
    let (again_a, again_b) = await_split(&a, &b).await;
    let took = restarted_at.elapsed();
    assert_eq!((again_a, again_b), (owned_a, owned_b));
    assert!(
        took < Duration::from_millis(SESSION_TIMEOUT_MS / 2),
        "the restarted instance waited {took:?}"
    );
    a.close().await;
    b.close().await;
}
