//! Two runners in one consumer group share the partitions; when one stops, the other takes over its
//! partitions and nothing is lost.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use herald::consumer::{Consumer, HandlerResult, Message, Runner, TopicPartition};
use support::{eventually, produce_user, unique, TestBroker, DEADLINE};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Records which member processed which event, and each member's current assignment.
struct Member {
    id: &'static str,
    topic: String,
    processed: Arc<Mutex<HashMap<Uuid, Vec<&'static str>>>>,
    assigned: Mutex<HashSet<TopicPartition>>,
}

#[async_trait]
impl Consumer for Member {
    fn subscribes_to(&self) -> Vec<String> {
        vec![self.topic.clone()]
    }

    async fn process(&self, message: &Message) -> HandlerResult {
        self.processed
            .lock()
            .unwrap()
            .entry(message.event.id)
            .or_default()
            .push(self.id);
        Ok(())
    }

    async fn on_partitions_assigned(&self, partitions: &[TopicPartition]) {
        self.assigned
            .lock()
            .unwrap()
            .extend(partitions.iter().cloned());
    }

    async fn on_partitions_revoked(&self, partitions: &[TopicPartition]) {
        let mut assigned = self.assigned.lock().unwrap();
        for tp in partitions {
            assigned.remove(tp);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survivor_takes_over_without_loss() {
    // Proves: both members get partitions, every event is processed while both run, and after one
    // member leaves the survivor owns all partitions and processes every later event.
    const PARTITIONS: i32 = 4;
    let broker = TestBroker::start().await;
    let topic = unique("users");
    broker.create_topic(&topic, PARTITIONS).await;
    let config = broker.consumer_config(&unique("g"));
    let processed = Arc::new(Mutex::new(HashMap::new()));
    let member = |id| {
        Arc::new(Member {
            id,
            topic: topic.clone(),
            processed: processed.clone(),
            assigned: Mutex::default(),
        })
    };
    let (a, b) = (member("a"), member("b"));
    let (stop_a, stop_b) = (CancellationToken::new(), CancellationToken::new());
    let run_a = tokio::spawn(
        Runner::new(config.clone())
            .consumer(a.clone())
            .run(stop_a.clone()),
    );
    let run_b = tokio::spawn(
        Runner::new(config.clone())
            .consumer(b.clone())
            .run(stop_b.clone()),
    );
    let both_assigned = eventually(DEADLINE, || async {
        let (na, nb) = (
            a.assigned.lock().unwrap().len(),
            b.assigned.lock().unwrap().len(),
        );
        na > 0 && nb > 0 && na + nb == PARTITIONS as usize
    })
    .await;
    assert!(
        both_assigned,
        "a={:?} b={:?}",
        a.assigned.lock().unwrap(),
        b.assigned.lock().unwrap()
    );

    let producer = broker.producer();
    let mut before = Vec::new();
    for i in 0..40 {
        before.push(produce_user(&producer, &topic, i % PARTITIONS, &format!("u{i}")).await);
    }
    let all_seen = |ids: Vec<Uuid>| {
        let processed = processed.clone();
        async move {
            let processed = processed.lock().unwrap();
            ids.iter().all(|id| processed.contains_key(id))
        }
    };
    assert!(eventually(DEADLINE, || all_seen(before.clone())).await);

    stop_a.cancel();
    run_a.await.unwrap().unwrap();
    assert!(
        eventually(DEADLINE, || async {
            b.assigned.lock().unwrap().len() == PARTITIONS as usize
        })
        .await
    );
    let mut after = Vec::new();
    for i in 0..40 {
        after.push(produce_user(&producer, &topic, i % PARTITIONS, &format!("v{i}")).await);
    }
    assert!(eventually(DEADLINE, || all_seen(after.clone())).await);
    {
        let processed = processed.lock().unwrap();
        for id in &after {
            assert_eq!(processed[id], vec!["b"], "after a left, only b processes");
        }
        let by_a = before
            .iter()
            .filter(|id| processed[*id].contains(&"a"))
            .count();
        let by_b = before
            .iter()
            .filter(|id| processed[*id].contains(&"b"))
            .count();
        assert!(by_a > 0 && by_b > 0, "work was shared: a={by_a} b={by_b}");
    }
    stop_b.cancel();
    run_b.await.unwrap().unwrap();
    broker.stop().await;
}
