//! Batch validation and idempotence on the produce path, spoken in raw protocol: a retried batch of an
//! idempotent producer is appended once, a sequence gap is refused, a bad CRC is CORRUPT_MESSAGE and a
//! batch above max.message.bytes is MESSAGE_TOO_LARGE.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{create_topic, raw_produce, record_batch, watermarks, RawClient, TestBroker};
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse};

async fn producer_id(raw: &mut RawClient) -> i64 {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    let response: InitProducerIdResponse = raw.request(ApiKey::InitProducerId, 4, &request).await;
    assert_eq!(response.error_code, 0);
    assert_eq!(response.producer_epoch, 0);
    response.producer_id.0
}

// The same idempotent batch sent twice is stored once and both answers carry the same offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_batch_gets_the_original_offset() {
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "dedupe", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let pid = producer_id(&mut raw).await;
    assert_ne!(producer_id(&mut raw).await, pid, "producer ids are unique");
    let first = record_batch(pid, 0, 0, &["a", "b"], 1_000);
    let appended = raw_produce(&mut raw, "dedupe", 0, first.clone()).await;
    assert_eq!((appended.error_code, appended.base_offset), (0, 0));
    let retried = raw_produce(&mut raw, "dedupe", 0, first).await;
    assert_eq!((retried.error_code, retried.base_offset), (0, 0));
    let next = raw_produce(
        &mut raw,
        "dedupe",
        0,
        record_batch(pid, 0, 2, &["c"], 1_000),
    )
    .await;
    assert_eq!((next.error_code, next.base_offset), (0, 2));
    // Skipping sequence 3 is OUT_OF_ORDER_SEQUENCE_NUMBER (45).
    let gap = raw_produce(
        &mut raw,
        "dedupe",
        0,
        record_batch(pid, 0, 9, &["z"], 1_000),
    )
    .await;
    assert_eq!(gap.error_code, 45);
    assert_eq!(watermarks(&broker.bootstrap(), "dedupe", 0).await, (0, 3));
}

// A batch whose CRC does not match is refused with CORRUPT_MESSAGE (2) and nothing is appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_crc_is_corrupt_message() {
    let broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "crc", 1, &[]).await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let mut batch = record_batch(-1, -1, -1, &["payload"], 1_000).to_vec();
    let last = batch.len() - 1;
    batch[last] ^= 0xFF; // flip bits inside the CRC-covered records
    let response = raw_produce(&mut raw, "crc", 0, Bytes::from(batch)).await;
    assert_eq!(response.error_code, 2);
    assert_eq!(watermarks(&broker.bootstrap(), "crc", 0).await, (0, 0));
}

// A batch larger than the topic's max.message.bytes is refused with MESSAGE_TOO_LARGE (10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_batch_is_message_too_large() {
    let broker = TestBroker::start().await;
    create_topic(
        &broker.bootstrap(),
        "small",
        1,
        &[("max.message.bytes", "500")],
    )
    .await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let big = "x".repeat(2_000);
    let response = raw_produce(
        &mut raw,
        "small",
        0,
        record_batch(-1, -1, -1, &[&big], 1_000),
    )
    .await;
    assert_eq!(response.error_code, 10);
    let fits = raw_produce(
        &mut raw,
        "small",
        0,
        record_batch(-1, -1, -1, &["ok"], 1_000),
    )
    .await;
    assert_eq!((fits.error_code, fits.base_offset), (0, 0));
}
