//! ACLs per principal with real clients: write needs write (read-only gets TOPIC_AUTHORIZATION_FAILED
//! from rdkafka), a group needs read (else GROUP_AUTHORIZATION_FAILED), Metadata lists only topics the
//! principal may describe. Without an ACL file every authenticated user may do everything
//! (security_sasl.rs produces and consumes that way).
#![allow(clippy::unwrap_used)]

mod common;
mod security;

use common::{producer_config, TestBroker, DEADLINE};
use kafka_protocol::messages::{
    ApiKey, GroupId, JoinGroupRequest, JoinGroupResponse, MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use security::{raw_login, sasl, write_users, PASSWORD};

const ACLS: &str = "
# alice administers everything
alice  topic  *              all
alice  group  *              read
# bob reads one topic, sees another, and uses one group
bob    topic  readable       read
bob    topic  visible.*      describe
bob    group  allowed-group  read
";

/// A broker with users and ACLs, and topics `readable`, `visible.one` and `secret` made by alice.
async fn acl_broker() -> TestBroker {
    let files = tempfile::tempdir().unwrap();
    let users = write_users(files.path());
    let acl = files.path().join("acl.txt");
    std::fs::write(&acl, ACLS).unwrap();
    let broker = TestBroker::start_with(|c| {
        c.sasl_users = Some(users);
        c.acl = Some(acl);
    })
    .await;
    let mut config = producer_config(&broker.bootstrap());
    sasl(&mut config, "SASL_PLAINTEXT", "PLAIN", "alice", PASSWORD);
    let producer: FutureProducer = config.create().unwrap();
    for topic in ["readable", "visible.one", "secret"] {
        producer
            .send(FutureRecord::to(topic).key("k").payload("v"), DEADLINE)
            .await
            .unwrap();
    }
    broker
}

// A principal with read but not write on a topic gets TOPIC_AUTHORIZATION_FAILED on produce.
#[tokio::test]
async fn produce_without_write_is_refused() {
    let broker = acl_broker().await;
    let mut config = producer_config(&broker.bootstrap());
    sasl(&mut config, "SASL_PLAINTEXT", "PLAIN", "bob", "bob-secret");
    let producer: FutureProducer = config.create().unwrap();
    let (error, _) = producer
        .send(FutureRecord::to("readable").key("k").payload("v"), DEADLINE)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        KafkaError::MessageProduction(RDKafkaErrorCode::TopicAuthorizationFailed)
    );
}

// JoinGroup on a group without read answers GROUP_AUTHORIZATION_FAILED; the allowed group joins.
#[tokio::test]
async fn group_without_read_is_refused() {
    let broker = acl_broker().await;
    let mut client = raw_login(broker.addr(), "bob", "bob-secret").await;
    let join = |group: &'static str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str(group)))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(StrBytes::from_static_str("consumer"))
    };
    let denied: JoinGroupResponse = client
        .request(ApiKey::JoinGroup, 5, &join("denied-group"))
        .await;
    assert_eq!(denied.error_code, 30, "GROUP_AUTHORIZATION_FAILED");
    let allowed: JoinGroupResponse = client
        .request(ApiKey::JoinGroup, 5, &join("allowed-group"))
        .await;
    assert_ne!(allowed.error_code, 30);
}

// Metadata for all topics lists only what bob may describe; naming a hidden topic answers 29;
// describe without create does not auto-create.
#[tokio::test]
async fn metadata_hides_undescribable_topics() {
    let broker = acl_broker().await;
    let mut client = raw_login(broker.addr(), "bob", "bob-secret").await;
    let all: MetadataResponse = client
        .request(
            ApiKey::Metadata,
            9,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    let mut names: Vec<String> = all
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    names.sort();
    assert_eq!(names, ["readable", "visible.one"]);
    let named: MetadataResponse = client
        .request(
            ApiKey::Metadata,
            9,
            &MetadataRequest::default().with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(kafka_protocol::messages::TopicName(
                        StrBytes::from_static_str("secret"),
                    ))),
            ])),
        )
        .await;
    assert_eq!(named.topics.len(), 1);
    assert_eq!(named.topics[0].error_code, 29, "TOPIC_AUTHORIZATION_FAILED");
    // Describe without create does not auto-create a topic.
    let missing: MetadataResponse = client
        .request(
            ApiKey::Metadata,
            9,
            &MetadataRequest::default()
                .with_allow_auto_topic_creation(true)
                .with_topics(Some(vec![
                    kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(kafka_protocol::messages::TopicName(
                            StrBytes::from_static_str("visible.new"),
                        ))),
                ])),
        )
        .await;
    assert_eq!(
        missing.topics[0].error_code, 3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert!(broker
        .handle
        .as_ref()
        .unwrap()
        .state()
        .topics
        .get("visible.new")
        .is_none());
}
