//! Outbox scenarios run on both backends by outbox_sqlite.rs and outbox_postgres.rs.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use herald::db::{Database, Transaction};
use herald::envelope::Event;
use herald::outbox::{Outbox, RelayConfig};
use herald::producer::ProducerConfig;
use herald_broker::{Broker, BrokerConfig, BrokerHandle};
use serde::{Deserialize, Serialize};

use crate::producer_common as common;

/// Partitions of the topics in these tests, so per-key order is checked across partitions.
pub const PARTITIONS: i32 = 3;

/// The data of a test event: which entity, and its position in that entity's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub entity: u32,
    pub seq: u32,
}

pub async fn start_broker(dir: &Path, listen: SocketAddr) -> BrokerHandle {
    let mut config = BrokerConfig::for_tests(dir);
    config.listen = listen;
    config.default_partitions = PARTITIONS;
    Broker::start(config).await.unwrap()
}

/// A producer config that reconnects quickly once a stopped broker is back.
pub fn producer_config(bootstrap_servers: &str) -> ProducerConfig {
    ProducerConfig::new(bootstrap_servers)
        .source("users-service")
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "200")
}

async fn create_users_table(db: &Database) {
    db.execute_script("CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY)")
        .await
        .unwrap();
}

async fn insert_user(tx: &mut Transaction, id: &str) {
    match tx {
        Transaction::Sqlite(tx) => {
            sqlx::query("INSERT INTO users (id) VALUES (?)")
                .bind(id)
                .execute(&mut **tx)
                .await
                .unwrap();
        }
        Transaction::Postgres(tx) => {
            sqlx::query("INSERT INTO users (id) VALUES ($1)")
                .bind(id)
                .execute(&mut **tx)
                .await
                .unwrap();
        }
    }
}

async fn count_users(db: &Database) -> i64 {
    match db {
        Database::Sqlite(pool) => sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(pool)
            .await
            .unwrap(),
        Database::Postgres(pool) => sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(pool)
            .await
            .unwrap(),
    }
}

/// Waits until the outbox has no unsent rows.
async fn drained(outbox: &Outbox, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if outbox.unsent().await.unwrap() == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// A rolled-back transaction publishes nothing; the committed one next to it is published once.
pub async fn rollback_publishes_nothing(db: Database) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), SocketAddr::from(([127, 0, 0, 1], 0))).await;
    create_users_table(&db).await;
    let outbox = Outbox::new(db.clone()).await.unwrap();

    let mut tx = db.begin().await.unwrap();
    insert_user(&mut tx, "rolled-back").await;
    let lost = Event::new("user_created", &"rolled-back")
        .unwrap()
        .key("rolled-back");
    outbox.enqueue(&mut tx, "users", &lost).await.unwrap();
    tx.rollback().await.unwrap();

    let mut tx = db.begin().await.unwrap();
    insert_user(&mut tx, "committed").await;
    let kept = Event::new("user_created", &"committed")
        .unwrap()
        .key("committed");
    outbox.enqueue(&mut tx, "users", &kept).await.unwrap();
    tx.commit().await.unwrap();

    let relay = outbox
        .relay(
            producer_config(&broker.bootstrap_servers()),
            RelayConfig::default(),
        )
        .unwrap()
        .spawn();
    assert!(drained(&outbox, Duration::from_secs(20)).await);
    relay.shutdown().await.unwrap();

    let (events, held) = common::read_topic(
        &broker.bootstrap_servers(),
        "users",
        PARTITIONS,
        1,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(held, 1, "the topic holds only the committed event");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, kept.event_id());
    assert_eq!(
        events[0].source.as_deref(),
        Some(herald::envelope::default_source())
    );
    assert_eq!(count_users(&db).await, 1);
    broker.shutdown().await.unwrap();
}

/// Enqueues `entities * per_entity` events, `per_tx` per transaction, entity-interleaved.
async fn enqueue_steps(outbox: &Outbox, db: &Database, entities: u32, per_entity: u32) {
    const PER_TX: u32 = 100;
    let total = entities * per_entity;
    let mut n = 0;
    while n < total {
        let mut tx = db.begin().await.unwrap();
        for _ in 0..PER_TX.min(total - n) {
            let step = Step {
                entity: n % entities,
                seq: n / entities,
            };
            let event = Event::new("step", &step).unwrap().key(step.entity);
            outbox.enqueue(&mut tx, "steps", &event).await.unwrap();
            n += 1;
        }
        tx.commit().await.unwrap();
    }
}

/// Asserts every step arrived exactly once and each entity's steps arrived in order.
fn assert_once_each_in_order(
    events: &[herald::envelope::ReceivedEvent],
    entities: u32,
    per_entity: u32,
) {
    let ids: HashSet<_> = events.iter().map(|event| event.id).collect();
    assert_eq!(ids.len(), events.len(), "no event twice");
    assert_eq!(events.len() as u32, entities * per_entity, "every event");
    let mut next: HashMap<u32, u32> = HashMap::new();
    for event in events {
        let step: Step = event.data_as().unwrap();
        assert_eq!(event.key_str(), Some(step.entity.to_string().as_str()));
        let expected = next.entry(step.entity).or_insert(0);
        assert_eq!(step.seq, *expected, "entity {} out of order", step.entity);
        *expected += 1;
    }
}

/// Events committed while the broker is down are all published, once each and in per-key order,
/// after it comes back.
pub async fn outage_only_delays(db: Database, entities: u32, per_entity: u32) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let address = broker.local_addr();
    broker.shutdown().await.unwrap();

    let outbox = Outbox::new(db.clone()).await.unwrap();
    let relay = outbox
        .relay(
            producer_config(&address.to_string()),
            RelayConfig::default(),
        )
        .unwrap()
        .spawn();
    enqueue_steps(&outbox, &db, entities, per_entity).await;
    let total = u64::from(entities * per_entity);
    assert_eq!(outbox.unsent().await.unwrap(), total);
    assert_eq!(
        relay.published(),
        0,
        "nothing is published while the broker is down"
    );

    let broker = start_broker(dir.path(), address).await;
    assert!(
        drained(&outbox, Duration::from_secs(90)).await,
        "outbox drained"
    );
    assert_eq!(relay.published(), total);
    relay.shutdown().await.unwrap();

    let (events, held) = common::read_topic(
        &broker.bootstrap_servers(),
        "steps",
        PARTITIONS,
        total as usize,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(held as u64, total, "the topic holds each event once");
    assert_once_each_in_order(&events, entities, per_entity);
    broker.shutdown().await.unwrap();
}

/// Two relays on one database publish every row exactly once, keeping per-key order.
pub async fn concurrent_relays_publish_once(db: Database, entities: u32, per_entity: u32) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let outbox = Outbox::new(db.clone()).await.unwrap();
    enqueue_steps(&outbox, &db, entities, per_entity).await;
    let config = RelayConfig::default().batch_rows(50);
    let relays: Vec<_> = (0..2)
        .map(|_| {
            outbox
                .relay(producer_config(&broker.bootstrap_servers()), config.clone())
                .unwrap()
                .spawn()
        })
        .collect();
    assert!(
        drained(&outbox, Duration::from_secs(60)).await,
        "outbox drained"
    );
    let total = u64::from(entities * per_entity);
    let published: u64 = relays.iter().map(|relay| relay.published()).sum();
    assert_eq!(published, total);
    for relay in relays {
        relay.shutdown().await.unwrap();
    }
    let (events, held) = common::read_topic(
        &broker.bootstrap_servers(),
        "steps",
        PARTITIONS,
        total as usize,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(held as u64, total);
    assert_once_each_in_order(&events, entities, per_entity);
    broker.shutdown().await.unwrap();
}

/// One relay round publishes what is committed and marks it sent; pruning then deletes the sent
/// rows, and the next round finds nothing.
pub async fn round_then_prune(db: Database) {
    use herald::outbox::RoundOutcome;
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let outbox = Outbox::new(db.clone()).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    for entity in 0..3 {
        let event = Event::new("step", &Step { entity, seq: 0 })
            .unwrap()
            .key(entity);
        outbox.enqueue(&mut tx, "pruned", &event).await.unwrap();
    }
    tx.commit().await.unwrap();

    let relay = outbox
        .relay(
            producer_config(&broker.bootstrap_servers()),
            RelayConfig::default().prune_after(Duration::ZERO),
        )
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let outcome = relay.publish_round(&shutdown).await.unwrap();
    let expected = RoundOutcome {
        claimed: 3,
        published: 3,
        failed: 0,
    };
    assert_eq!(outcome, expected);
    assert_eq!(outbox.unsent().await.unwrap(), 0);

    // Rows sent in this very millisecond are not yet older than zero: prune until all three went.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut pruned = 0;
    while pruned < 3 && std::time::Instant::now() < deadline {
        pruned += relay.prune().await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(pruned, 3);
    let next = relay.publish_round(&shutdown).await.unwrap();
    assert_eq!(next, RoundOutcome::default());
    broker.shutdown().await.unwrap();
}

/// An idle relay is woken by the enqueueing transaction's commit (PostgreSQL NOTIFY), long before
/// its fallback poll.
pub async fn commit_wakes_an_idle_relay(db: Database) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let outbox = Outbox::new(db.clone()).await.unwrap();
    let config = RelayConfig::default()
        .listen_fallback(Duration::from_secs(600))
        .poll_interval(Duration::from_secs(600));
    let relay = outbox
        .relay(producer_config(&broker.bootstrap_servers()), config)
        .unwrap()
        .spawn();
    for published in 1..=2 {
        let mut tx = db.begin().await.unwrap();
        let event = Event::new(
            "step",
            &Step {
                entity: 1,
                seq: published,
            },
        )
        .unwrap();
        outbox.enqueue(&mut tx, "woken", &event).await.unwrap();
        tx.commit().await.unwrap();
        let woken = common::eventually(Duration::from_secs(20), || {
            relay.published() == u64::from(published)
        })
        .await;
        assert!(
            woken,
            "event {published} published without waiting for the fallback poll"
        );
    }
    relay.shutdown().await.unwrap();
    broker.shutdown().await.unwrap();
}

/// An idle relay is woken in-process by `Outbox::committed`, long before its (10-minute) poll.
pub async fn committed_wakes_the_relay_in_process(db: Database) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let outbox = Outbox::new(db.clone()).await.unwrap();
    let config = RelayConfig::default()
        .listen_fallback(Duration::from_secs(600))
        .poll_interval(Duration::from_secs(600));
    let relay = outbox
        .relay(producer_config(&broker.bootstrap_servers()), config)
        .unwrap()
        .spawn();
    for published in 1..=3 {
        let mut tx = db.begin().await.unwrap();
        let event = Event::new(
            "step",
            &Step {
                entity: 1,
                seq: published,
            },
        )
        .unwrap();
        outbox.enqueue(&mut tx, "woken", &event).await.unwrap();
        tx.commit().await.unwrap();
        outbox.committed();
        let woken = common::eventually(Duration::from_secs(20), || {
            relay.published() == u64::from(published)
        })
        .await;
        assert!(
            woken,
            "event {published} published without waiting for the poll"
        );
    }
    relay.shutdown().await.unwrap();
    broker.shutdown().await.unwrap();
}

/// A tombstone written through the outbox reaches the topic with the same key, a null value and
/// CloudEvents headers of its own, after the event written before it.
pub async fn tombstone_is_published_with_a_null_value(db: Database) {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::{Headers, Message};

    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let outbox = Outbox::new(db.clone()).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let deleted = Event::new("user_deleted", &serde_json::json!({"id": "u1"}))
        .unwrap()
        .key("u1");
    outbox.enqueue(&mut tx, "entities", &deleted).await.unwrap();
    outbox
        .enqueue_tombstone(&mut tx, "entities", "u1")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let relay = outbox
        .relay(
            producer_config(&broker.bootstrap_servers()),
            RelayConfig::default(),
        )
        .unwrap()
        .spawn();
    assert!(drained(&outbox, Duration::from_secs(20)).await);
    relay.shutdown().await.unwrap();

    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", "tombstone-test")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    // Assigned, not subscribed: no group join to wait for.
    let mut assignment = rdkafka::TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset("entities", partition, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(20), consumer.recv())
            .await
            .expect("records arrive")
            .unwrap();
        let ce_type = message
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == "ce_type"))
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned());
        seen.push((
            message.key().map(<[u8]>::to_vec),
            ce_type,
            message.payload().map(<[u8]>::to_vec),
        ));
    }
    assert_eq!(seen[0].1.as_deref(), Some("user_deleted"));
    assert!(seen[0].2.is_some());
    assert_eq!(seen[1].0.as_deref(), Some(&b"u1"[..]), "same key");
    assert_eq!(
        seen[1].1.as_deref(),
        Some(herald::outbox::TOMBSTONE_EVENT_TYPE)
    );
    assert_eq!(seen[1].2, None, "a null value, not an empty one");
    // Closed while the broker is up: a consumer closed later waits for it until its timeout.
    drop(consumer);
    broker.shutdown().await.unwrap();
}
