//! Session expiry of closed static members (KIP-345) as Kafka's coordinator times it: a static member
//! sends no LeaveGroup when it closes, so the coordinator drops it once `session.timeout.ms` has passed
//! since its last heartbeat or commit, not later. librdkafka's 0081 closes three static members (one
//! per group), waits session timeout + 1 s and deletes the groups; herald answered NON_EMPTY_GROUP
//! when its timer ran late (a busy machine, a slow fsync in the same loop). Requests now expire what
//! is due in their group first, and the timer wakes at the next deadline.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{admin, create_topic, produce_each, TestBroker};
use rdkafka::admin::AdminOptions;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;

const SESSION_TIMEOUT_MS: u64 = 5_000;
const GROUPS: usize = 3;
/// How much later than its session timeout Kafka may drop a member: its expiry timer fires within a
/// few milliseconds; the rest is this test's polling and a busy machine.
const EXPIRY_SLACK_MS: u64 = 700;

fn group(i: usize) -> String {
    format!("static-expiry-{i}")
}

/// A static member of `group(i)` that has consumed the topic's one record.
async fn consumed_static_member(bootstrap: &str, i: usize) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group(i))
        .set("group.instance.id", format!("instance-{i}"))
        .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
        .set("auto.offset.reset", "earliest")
        // librdkafka's default: the close commits, which refreshes the member's session.
        .set("enable.auto.commit", "true")
        .create()
        .unwrap();
    consumer.subscribe(&["expiry"]).unwrap();
    let message = tokio::time::timeout(common::DEADLINE, consumer.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.payload(), Some(&b"a"[..]));
    drop(message);
    consumer
}

/// Members and state of `group` as DescribeGroups reports them.
fn describe(probe: &BaseConsumer, group: &str) -> (usize, String) {
    let groups = probe
        .fetch_group_list(Some(group), Duration::from_secs(5))
        .unwrap();
    let found = &groups.groups()[0];
    (found.members().len(), found.state().to_string())
}

// Static members with a 5 s session that consumed, committed and closed are gone from their groups
// within the session timeout (plus slack), and DeleteGroups then succeeds for every group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_static_members_expire_after_their_session_timeout() {
    let broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "expiry", 1, &[]).await;
    produce_each(&bootstrap, "expiry", ["a".to_string()]).await;
    let mut consumers = Vec::new();
    for i in 0..GROUPS {
        consumers.push(consumed_static_member(&bootstrap, i).await);
    }

    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let (closed_at, expired_after) = tokio::task::spawn_blocking(move || {
        drop(consumers); // each closes: commits, sends no LeaveGroup (static member)
        let closed_at = Instant::now();
        for i in 0..GROUPS {
            assert_eq!(
                describe(&probe, &group(i)).0,
                1,
                "a static member keeps its slot"
            );
        }
        let deadline = closed_at + Duration::from_millis(SESSION_TIMEOUT_MS * 3);
        let mut expired_after = Duration::ZERO;
        for i in 0..GROUPS {
            loop {
                let (members, state) = describe(&probe, &group(i));
                if members == 0 {
                    assert_eq!(state, "Empty");
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "member of {} never expired",
                    group(i)
                );
                std::thread::sleep(Duration::from_millis(50)); // polling interval
            }
            expired_after = closed_at.elapsed();
        }
        (closed_at, expired_after)
    })
    .await
    .unwrap();
    assert!(
        expired_after <= Duration::from_millis(SESSION_TIMEOUT_MS + EXPIRY_SLACK_MS),
        "the last member expired {expired_after:?} after the close"
    );
    // librdkafka's 0081: session timeout + 1 s after the close, every group can be deleted.
    let delete_at = closed_at + Duration::from_millis(SESSION_TIMEOUT_MS + 1_000);
    tokio::time::sleep_until(delete_at.into()).await; // the wait is the scenario, not a sync
    let names: Vec<String> = (0..GROUPS).map(group).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let deleted = admin(&bootstrap)
        .delete_groups(&names, &AdminOptions::new())
        .await
        .unwrap();
    assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");
}
