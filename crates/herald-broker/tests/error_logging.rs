//! Every response that carries an error code leaves one WARN line naming the API, the client id and
//! the code, so wrong answers are visible in the broker's log; the group protocol's normal steps
//! (MEMBER_ID_REQUIRED) do not.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{RawClient, TestBroker};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, GroupId, JoinGroupRequest, JoinGroupResponse, MetadataRequest, MetadataResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;

/// Everything the broker logs, in one buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_string).collect()
    }
}

// An unknown topic (auto-creation off) answers UNKNOWN_TOPIC_OR_PARTITION and logs one WARN line with
// api=Metadata, the client id and error_code=3; a first JoinGroup's MEMBER_ID_REQUIRED logs no WARN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_responses_leave_one_warn_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("herald_broker=warn")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let broker = TestBroker::start_with(|c| c.auto_create_topics = false).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("missing"))))]));
    let response: MetadataResponse = raw.request(ApiKey::Metadata, 12, &request).await;
    assert_eq!(response.topics[0].error_code, 3);
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(StrBytes::from_static_str("range"))
            .with_metadata(bytes::Bytes::from_static(b"\0\0"))]);
    let joined: JoinGroupResponse = raw.request(ApiKey::JoinGroup, 5, &join).await;
    assert_eq!(joined.error_code, 79, "MEMBER_ID_REQUIRED");
    // One more request on the same connection: its response is written after the two above, so
    // their log lines are already in the buffer.
    let _: MetadataResponse = raw
        .request(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(Some(vec![])),
        )
        .await;
    let warns: Vec<String> = captured
        .lines()
        .into_iter()
        .filter(|l| l.contains("WARN") && l.contains("answered with an error"))
        .collect();
    assert_eq!(warns.len(), 1, "{warns:#?}");
    let line = &warns[0];
    for needle in [
        "api=Metadata",
        "client_id=\"raw-test\"",
        "error_code=3",
        "UnknownTopicOrPartition",
    ] {
        assert!(line.contains(needle), "{needle} missing in {line}");
    }
}
