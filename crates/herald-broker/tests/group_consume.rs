//! Consumer groups with real rdkafka StreamConsumers: balanced ownership of every partition, exactly-once
//! processing in steady state (range and cooperative-sticky), and hand-over when a member leaves cleanly
//! or disappears without leaving.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use common::{create_topic, eventually, producer_config, RawClient, TestBroker};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolSubscription, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const PARTITIONS: i32 = 6;
const RECORDS: usize = 600;
const SESSION_TIMEOUT_MS: u64 = 3_000;

/// Records a consumer processed: (partition, offset, payload).
type Processed = Arc<Mutex<Vec<(i32, i64, String)>>>;

/// One rdkafka group member polled by its own task.
struct Member {
    consumer: Arc<StreamConsumer>,
    processed: Processed,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Member {
    fn start(bootstrap: &str, group: &str, topic: &str, strategy: &str) -> Self {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("partition.assignment.strategy", strategy)
            // Short timeouts so that rebalances and evictions happen within the test's patience.
            .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
            .set("heartbeat.interval.ms", "100")
            // Offsets are not what these tests are about; commits are tested elsewhere.
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "50")
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        let consumer = Arc::new(consumer);
        let processed: Processed = Arc::default();
        let stop = CancellationToken::new();
        let task = tokio::spawn(poll(consumer.clone(), processed.clone(), stop.clone()));
        Self {
            consumer,
            processed,
            stop,
            task,
        }
    }

    /// Partitions this member owns right now.
    fn owned(&self) -> BTreeSet<i32> {
        let assignment = self.consumer.assignment().unwrap();
        assignment
            .elements()
            .iter()
            .map(|e| e.partition())
            .collect()
    }

    /// Stops polling and closes the consumer, which leaves the group (LeaveGroup).
    async fn leave(self) {
        self.stop.cancel();
        self.task.await.unwrap();
        let consumer = Arc::try_unwrap(self.consumer).ok().unwrap();
        tokio::task::spawn_blocking(move || drop(consumer))
            .await
            .unwrap();
    }
}

async fn poll(consumer: Arc<StreamConsumer>, processed: Processed, stop: CancellationToken) {
    loop {
        let message = tokio::select! {
            _ = stop.cancelled() => return,
            message = consumer.recv() => message,
        };
        if let Ok(message) = message {
            let payload =
                String::from_utf8_lossy(message.payload().unwrap_or_default()).to_string();
            processed
                .lock()
                .unwrap()
                .push((message.partition(), message.offset(), payload));
        }
    }
}

/// Waits until `members` own every partition exactly once between them, with `per_member` each.
async fn await_balanced(members: &[&Member], per_member: usize) -> Vec<BTreeSet<i32>> {
    eventually("every partition owned by exactly one member", || async {
        let owned: Vec<BTreeSet<i32>> = members.iter().map(|m| m.owned()).collect();
        let total: usize = owned.iter().map(|o| o.len()).sum();
        let union: BTreeSet<i32> = owned.iter().flatten().copied().collect();
        let balanced = total == PARTITIONS as usize
            && union.len() == PARTITIONS as usize
            && owned.iter().all(|o| o.len() == per_member);
        balanced.then_some(owned)
    })
    .await
}

async fn produce(bootstrap: &str, topic: &str, count: usize) {
    let producer: FutureProducer = producer_config(bootstrap).create().unwrap();
    let payloads: Vec<String> = (0..count).map(|i| format!("record-{i}")).collect();
    // All sends in flight at once: the producer batches them, so loading takes a moment, not seconds.
    let sends = payloads.iter().enumerate().map(|(i, payload)| {
        let record = FutureRecord::to(topic)
            .payload(payload)
            .key(payload)
            .partition((i % PARTITIONS as usize) as i32);
        producer.send(record, Duration::from_secs(10))
    });
    for delivery in futures::future::join_all(sends).await {
        delivery.unwrap();
    }
}

/// Every produced record processed exactly once, by the member owning its partition.
async fn assert_processed_once(members: &[&Member], owned: &[BTreeSet<i32>]) {
    eventually("every record processed", || async {
        let total: usize = members
            .iter()
            .map(|m| m.processed.lock().unwrap().len())
            .sum();
        (total >= RECORDS).then_some(())
    })
    .await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (member, partitions) in members.iter().zip(owned) {
        for (partition, _, payload) in member.processed.lock().unwrap().iter() {
            assert!(
                partitions.contains(partition),
                "record of partition {partition} processed by a non-owner"
            );
            *seen.entry(payload.clone()).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), RECORDS);
    assert!(
        seen.values().all(|count| *count == 1),
        "a record was processed twice"
    );
}

async fn three_members_process_each_record_once(strategy: &str) {
    let broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    let topic = format!("orders-{strategy}");
    create_topic(&bootstrap, &topic, PARTITIONS, &[]).await;
    let members: Vec<Member> = (0..3)
        .map(|_| Member::start(&bootstrap, "billing", &topic, strategy))
        .collect();
    let refs: Vec<&Member> = members.iter().collect();
    let owned = await_balanced(&refs, 2).await;
    produce(&bootstrap, &topic, RECORDS).await;
    assert_processed_once(&refs, &owned).await;
    for member in members {
        member.leave().await;
    }
}

// With the range assignor, 3 members of one group own 2 distinct partitions each, and every record
// produced in steady state is processed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_members_share_partitions_and_process_each_record_once() {
    three_members_process_each_record_once("range").await;
}

// The same with cooperative-sticky (incremental rebalancing): the broker only relays the assignment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_members_share_partitions_and_process_each_record_once() {
    three_members_process_each_record_once("cooperative-sticky").await;
}

// A member that leaves cleanly hands its partitions over at once: the others own all 6 well before
// the session timeout could have expired it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_leave_hands_partitions_over_at_once() {
    let broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "leave", PARTITIONS, &[]).await;
    let mut members: Vec<Member> = (0..3)
        .map(|_| Member::start(&bootstrap, "leavers", "leave", "range"))
        .collect();
    await_balanced(&members.iter().collect::<Vec<_>>(), 2).await;
    let leaver = members.pop().unwrap();
    let left_at = Instant::now();
    leaver.leave().await;
    await_balanced(&members.iter().collect::<Vec<_>>(), 3).await;
    let handover = left_at.elapsed();
    assert!(
        handover < Duration::from_millis(SESSION_TIMEOUT_MS),
        "hand-over took {handover:?}, as long as a session timeout"
    );
    for member in members {
        member.leave().await;
    }
}

/// Consumer-protocol subscription metadata (version 0) for `topic`.
fn subscription(topic: &str) -> bytes::Bytes {
    let body = ConsumerProtocolSubscription::default()
        .with_topics(vec![StrBytes::from_string(topic.to_owned())]);
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    body.encode(&mut buf, 0).unwrap();
    buf.freeze()
}

// A member that disappears without leaving (it stops heartbeating and its connection goes away) keeps
// its partitions until its session times out; then the others own all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_member_loses_partitions_after_session_timeout() {
    let broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "crash", PARTITIONS, &[]).await;
    let members: Vec<Member> = (0..2)
        .map(|_| Member::start(&bootstrap, "crashers", "crash", "range"))
        .collect();
    let refs: Vec<&Member> = members.iter().collect();
    await_balanced(&refs, 3).await;

    // A third member speaks the protocol by hand, so that it can vanish without a LeaveGroup.
    let mut raw = RawClient::connect(broker.addr()).await;
    let session_timeout_ms = 2_000;
    let mut join = JoinGroupRequest::default()
        .with_group_id(StrBytes::from_static_str("crashers").into())
        .with_session_timeout_ms(session_timeout_ms)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(StrBytes::from_static_str("range"))
            .with_metadata(subscription("crash"))]);
    let first: JoinGroupResponse = raw.request(ApiKey::JoinGroup, 5, &join).await;
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    join.member_id = first.member_id.clone();
    let joined: JoinGroupResponse = raw.request(ApiKey::JoinGroup, 5, &join).await;
    assert_eq!(joined.error_code, 0);
    let sync = SyncGroupRequest::default()
        .with_group_id(StrBytes::from_static_str("crashers").into())
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone());
    let synced: SyncGroupResponse = raw.request(ApiKey::SyncGroup, 3, &sync).await;
    assert_eq!(synced.error_code, 0);

    // The raw member heartbeats while the others take their new assignment (2 partitions each).
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(StrBytes::from_static_str("crashers").into())
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone());
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        let beat: HeartbeatResponse = raw.request(ApiKey::Heartbeat, 3, &heartbeat).await;
        assert_eq!(
            beat.error_code, 0,
            "the raw member was evicted while heartbeating"
        );
        let owned: Vec<BTreeSet<i32>> = refs.iter().map(|m| m.owned()).collect();
        let union: BTreeSet<i32> = owned.iter().flatten().copied().collect();
        if owned.iter().all(|o| o.len() == 2) && union.len() == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rdkafka members never took 2 partitions each"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    drop(raw);
    let vanished_at = Instant::now();
    await_balanced(&refs, 3).await;
    let takeover = vanished_at.elapsed();
    assert!(
        takeover >= Duration::from_millis(session_timeout_ms as u64 - 200),
        "partitions moved after {takeover:?}, before the session timeout"
    );
    for member in members {
        member.leave().await;
    }
}
