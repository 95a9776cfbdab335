//! A transactional client against herald-broker, which has no transactions: `init_transactions()`
//! fails promptly with a message saying so, instead of retrying COORDINATOR_NOT_AVAILABLE until its
//! timeout.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{producer_config, RawClient, TestBroker};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest,
    InitProducerIdResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::producer::{FutureProducer, Producer};

/// How long a prompt refusal may take on a busy machine (librdkafka's own retries are 500 ms apart
/// and its init timeout here is 30 s).
const PROMPT: Duration = Duration::from_secs(3);

// librdkafka with a transactional.id gets a fatal error from init_transactions within seconds, and
// the error names the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_transactions_fails_promptly_with_a_message() {
    let broker = TestBroker::start().await;
    let producer: FutureProducer = producer_config(&broker.bootstrap())
        .set("transactional.id", "txn-1")
        .create()
        .unwrap();
    let (took, result) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let result = producer.init_transactions(Duration::from_secs(30));
        (started.elapsed(), result)
    })
    .await
    .unwrap();
    let error = result.expect_err("herald has no transactions");
    assert!(took < PROMPT, "init_transactions took {took:?}: {error}");
    assert!(
        error.to_string().contains("does not support transactions"),
        "{error}"
    );
}

// On the wire: FindCoordinator for a transactional id (v1 and batched v4) and InitProducerId with a
// transactional id answer TRANSACTIONAL_ID_AUTHORIZATION_FAILED; unknown key types INVALID_REQUEST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_coordinator_requests_are_refused() {
    let broker = TestBroker::start().await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let refused = ResponseError::TransactionalIdAuthorizationFailed.code();
    let txn = StrBytes::from_static_str("txn-1");

    let v1 = FindCoordinatorRequest::default()
        .with_key(txn.clone())
        .with_key_type(1);
    let response: FindCoordinatorResponse = raw.request(ApiKey::FindCoordinator, 1, &v1).await;
    assert_eq!(response.error_code, refused);
    assert!(response.error_message.unwrap().contains("transactions"));

    let v4 = FindCoordinatorRequest::default()
        .with_coordinator_keys(vec![txn.clone()])
        .with_key_type(1);
    let response: FindCoordinatorResponse = raw.request(ApiKey::FindCoordinator, 4, &v4).await;
    assert_eq!(response.coordinators[0].error_code, refused);

    let unknown = FindCoordinatorRequest::default()
        .with_key(txn.clone())
        .with_key_type(7);
    let response: FindCoordinatorResponse = raw.request(ApiKey::FindCoordinator, 1, &unknown).await;
    assert_eq!(response.error_code, ResponseError::InvalidRequest.code());

    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn.into()))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    let response: InitProducerIdResponse = raw.request(ApiKey::InitProducerId, 4, &init).await;
    assert_eq!(response.error_code, refused);
}
