//! Malformed input closes only the connection that sent it: garbage, a truncated frame, an oversize
//! length prefix, an unknown API key, an undecodable body and an unserved version each close their
//! raw connection while an rdkafka client on another connection keeps producing and consuming.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::{BufMut, BytesMut};
use common::{consume, create_topic, produce_each, RawClient, TestBroker};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use tokio::io::AsyncWriteExt;

fn frame(api_key: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    buf.put_i32((8 + 2 + body.len()) as i32);
    buf.put_i16(api_key);
    buf.put_i16(version);
    buf.put_i32(1); // correlation id
    buf.put_i16(-1); // null client id
    buf.put_slice(body);
    buf.to_vec()
}

async fn send_and_expect_close(broker: &TestBroker, bytes: &[u8], then_close_write: bool) {
    let mut raw = RawClient::connect(broker.addr()).await;
    raw.stream.write_all(bytes).await.unwrap();
    if then_close_write {
        raw.stream.shutdown().await.unwrap();
    }
    raw.assert_closed().await;
}

// Each kind of bad frame closes its own connection; a healthy client is unaffected throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_only_their_connection() {
    let broker = TestBroker::start_with(|c| c.max_request_bytes = 1024 * 1024).await;
    create_topic(&broker.bootstrap(), "healthy", 1, &[]).await;
    let mut expected = 0;
    let mut check_healthy = |label: &'static str| {
        let bootstrap = broker.bootstrap();
        expected += 1;
        let offset = expected - 1;
        async move {
            let offsets = produce_each(&bootstrap, "healthy", [label.to_string()]).await;
            assert_eq!(offsets, vec![offset], "after {label}");
        }
    };
    check_healthy("start").await;

    // Garbage: a plausible size followed by bytes whose "api key" does not exist.
    let mut garbage = 12i32.to_be_bytes().to_vec();
    garbage.extend_from_slice(b"garbage!!!!!");
    send_and_expect_close(&broker, &garbage, false).await;
    check_healthy("garbage").await;

    // Truncated: the size promises 100 bytes, the stream ends after 10.
    let mut truncated = 100i32.to_be_bytes().to_vec();
    truncated.extend_from_slice(&[0u8; 10]);
    send_and_expect_close(&broker, &truncated, true).await;
    check_healthy("truncated").await;

    // Oversize: a length prefix above max_request_bytes is refused before any body is read.
    send_and_expect_close(&broker, &(64 * 1024 * 1024i32).to_be_bytes(), false).await;
    send_and_expect_close(&broker, &(-5i32).to_be_bytes(), false).await;
    check_healthy("oversize").await;

    // Unknown API key with a well-formed header.
    send_and_expect_close(&broker, &frame(999, 0, &[]), false).await;
    check_healthy("unknown api key").await;

    // Metadata v12 whose body is cut short.
    send_and_expect_close(
        &broker,
        &frame(ApiKey::Metadata as i16, 12, &[0xFF, 0xFF, 0xFF]),
        false,
    )
    .await;
    // Produce v2: advertised for feature checks, not served.
    send_and_expect_close(
        &broker,
        &frame(ApiKey::Produce as i16, 2, &[0, 0, 0, 0]),
        false,
    )
    .await;
    check_healthy("undecodable body").await;

    // The listener still answers new connections properly.
    let mut raw = RawClient::connect(broker.addr()).await;
    let versions: ApiVersionsResponse = raw
        .request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(versions.error_code, 0);
    let read = consume(&broker.bootstrap(), "healthy", 0, expected as usize).await;
    assert_eq!(read.len(), expected as usize);
    assert_eq!(read[0].1, "start");
}
