//! Offset resets through the admin API against a real broker: refused while the group has live
//! members; to earliest (replay), latest, an explicit offset and a timestamp once it is empty.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use herald::admin::{Admin, OffsetReset, PartitionOffset};
use herald::consumer::{Consumer, HandlerResult, Message, Runner};
use herald::Error;
use support::{eventually, produce_user, unique, TestBroker, DEADLINE};
use tokio_util::sync::CancellationToken;

/// Counts processed messages.
struct Count {
    topic: String,
    seen: AtomicUsize,
}

#[async_trait]
impl Consumer for Count {
    fn subscribes_to(&self) -> Vec<String> {
        vec![self.topic.clone()]
    }

    async fn process(&self, _message: &Message) -> HandlerResult {
        self.seen.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn offsets(list: &[PartitionOffset]) -> Vec<Option<i64>> {
    let mut list = list.to_vec();
    list.sort_by_key(|p| p.partition);
    list.iter().map(|p| p.offset).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_is_refused_while_live_then_replays_history() {
    // Proves: a live group refuses a reset; after it stops, a reset to earliest makes the same group
    // consume the whole history again; latest, explicit offsets and timestamps land where expected.
    let broker = TestBroker::start().await;
    let topic = unique("users");
    broker.create_topic(&topic, 2).await;
    let producer = broker.producer();
    for i in 0..6 {
        produce_user(&producer, &topic, i % 2, &format!("old{i}")).await;
    }
    let group = unique("g");
    let config = broker.consumer_config(&group);
    let admin = Admin::new(&broker.brokers());

    let count = Arc::new(Count {
        topic: topic.clone(),
        seen: AtomicUsize::new(0),
    });
    let stop = CancellationToken::new();
    let run = tokio::spawn(
        Runner::new(config.clone())
            .consumer(count.clone())
            .run(stop.clone()),
    );
    assert!(
        eventually(DEADLINE, || async {
            count.seen.load(Ordering::SeqCst) == 6
        })
        .await
    );
    assert!(
        eventually(DEADLINE, || async {
            offsets(&admin.committed_offsets(&group, &topic).await.unwrap())
                == vec![Some(3), Some(3)]
        })
        .await
    );
    let refused = admin
        .reset_offsets(&group, &topic, OffsetReset::Earliest)
        .await;
    assert!(
        matches!(refused, Err(Error::GroupActive { members: 1, .. })),
        "{refused:?}"
    );
    stop.cancel();
    run.await.unwrap().unwrap();
    assert!(admin.group_members(&group).await.unwrap().is_empty());

    // Timestamp: everything produced from now on is "new".
    let cutoff = chrono::Utc::now().timestamp_millis();
    assert!(
        eventually(DEADLINE, || async {
            chrono::Utc::now().timestamp_millis() > cutoff
        })
        .await
    );
    for i in 0..4 {
        produce_user(&producer, &topic, i % 2, &format!("new{i}")).await;
    }
    let by_time = admin
        .reset_offsets(&group, &topic, OffsetReset::Timestamp(cutoff))
        .await
        .unwrap();
    assert_eq!(offsets(&by_time), vec![Some(3), Some(3)]);
    let latest = admin
        .reset_offsets(&group, &topic, OffsetReset::Latest)
        .await
        .unwrap();
    assert_eq!(offsets(&latest), vec![Some(5), Some(5)]);
    let explicit = admin
        .reset_offsets(&group, &topic, OffsetReset::Offset(1))
        .await
        .unwrap();
    assert_eq!(offsets(&explicit), vec![Some(1), Some(1)]);
    assert_eq!(
        offsets(&admin.committed_offsets(&group, &topic).await.unwrap()),
        vec![Some(1), Some(1)]
    );
    let earliest = admin
        .reset_offsets(&group, &topic, OffsetReset::Earliest)
        .await
        .unwrap();
    assert_eq!(offsets(&earliest), vec![Some(0), Some(0)]);

    // Replay: the same group consumes all 10 records again.
    let again = Arc::new(Count {
        topic: topic.clone(),
        seen: AtomicUsize::new(0),
    });
    let stop = CancellationToken::new();
    let run = tokio::spawn(
        Runner::new(config)
            .consumer(again.clone())
            .run(stop.clone()),
    );
    assert!(
        eventually(DEADLINE, || async {
            again.seen.load(Ordering::SeqCst) == 10
        })
        .await
    );
    stop.cancel();
    run.await.unwrap().unwrap();
    broker.stop().await;
}
