//! SASL on a plaintext listener with real rdkafka clients: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512
//! logins produce and consume; a wrong password or an unknown user fails authentication; before a
//! login only ApiVersions and the SASL APIs are served.
#![allow(clippy::unwrap_used)]

mod common;
mod security;

use common::{consumer_config, producer_config, RawClient, TestBroker, DEADLINE};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use security::{first_error_containing, sasl, write_users, PASSWORD};

async fn sasl_broker() -> TestBroker {
    let users_dir = tempfile::tempdir().unwrap();
    let users = write_users(users_dir.path());
    let broker = TestBroker::start_with(|c| {
        c.sasl_users = Some(users.clone());
    })
    .await;
    drop(users_dir); // loaded at start
    broker
}

/// Produces one record as alice with `mechanism` and reads it back with a second login.
async fn round_trip(broker: &TestBroker, mechanism: &str) {
    let topic = format!("orders-{}", mechanism.to_lowercase());
    let mut config = producer_config(&broker.bootstrap());
    sasl(&mut config, "SASL_PLAINTEXT", mechanism, "alice", PASSWORD);
    let producer: FutureProducer = config.create().unwrap();
    let delivery = producer
        .send(
            FutureRecord::to(&topic).key("k").payload(mechanism),
            DEADLINE,
        )
        .await
        .unwrap();
    let mut config = consumer_config(&broker.bootstrap());
    sasl(&mut config, "SASL_PLAINTEXT", mechanism, "alice", PASSWORD);
    let consumer: StreamConsumer = config.create().unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, delivery.partition, Offset::Offset(delivery.offset))
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let message = tokio::time::timeout(DEADLINE, consumer.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.payload(), Some(mechanism.as_bytes()));
}

// PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 logins each produce and consume through rdkafka.
#[tokio::test]
async fn every_mechanism_produces_and_consumes() {
    let broker = sasl_broker().await;
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        round_trip(&broker, mechanism).await;
    }
}

// A wrong password fails authentication for PLAIN and for SCRAM, and rdkafka reports it.
#[tokio::test]
async fn wrong_password_fails_authentication() {
    let broker = sasl_broker().await;
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let mut config = consumer_config(&broker.bootstrap());
        sasl(&mut config, "SASL_PLAINTEXT", mechanism, "alice", "wrong");
        let (error, reason) = tokio::task::spawn_blocking(move || {
            first_error_containing(&config, "invalid credentials")
        })
        .await
        .unwrap();
        assert_eq!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Authentication),
            "{mechanism}: {reason}"
        );
    }
}

// An unknown user fails authentication with the same error as a wrong password.
#[tokio::test]
async fn unknown_user_fails_authentication() {
    let broker = sasl_broker().await;
    for mechanism in ["PLAIN", "SCRAM-SHA-256"] {
        let mut config = consumer_config(&broker.bootstrap());
        sasl(
            &mut config,
            "SASL_PLAINTEXT",
            mechanism,
            "mallory",
            PASSWORD,
        );
        let (error, _) = tokio::task::spawn_blocking(move || {
            first_error_containing(&config, "invalid credentials")
        })
        .await
        .unwrap();
        assert_eq!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Authentication)
        );
    }
}

// Before a login, ApiVersions is answered (listing the SASL APIs) but Metadata closes the connection.
#[tokio::test]
async fn unauthenticated_metadata_closes_connection() {
    let broker = sasl_broker().await;
    let mut client = RawClient::connect(broker.addr()).await;
    let versions: ApiVersionsResponse = client
        .request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(versions.error_code, 0);
    let advertised: Vec<i16> = versions.api_keys.iter().map(|k| k.api_key).collect();
    assert!(advertised.contains(&(ApiKey::SaslHandshake as i16)));
    assert!(advertised.contains(&(ApiKey::SaslAuthenticate as i16)));
    client
        .send(ApiKey::Metadata, 9, &MetadataRequest::default())
        .await;
    client.assert_closed().await;
}

// Without a users file the SASL APIs are neither advertised nor served (plaintext stays as it was).
#[tokio::test]
async fn sasl_apis_absent_without_users_file() {
    let broker = TestBroker::start().await;
    let mut client = RawClient::connect(broker.addr()).await;
    let versions: ApiVersionsResponse = client
        .request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert!(!versions
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::SaslHandshake as i16));
    let metadata: kafka_protocol::messages::MetadataResponse = client
        .request(ApiKey::Metadata, 9, &MetadataRequest::default())
        .await;
    assert_eq!(metadata.brokers.len(), 1);
}

// A malformed SASL token gets SASL_AUTHENTICATION_FAILED and closes only that connection.
#[tokio::test]
async fn malformed_token_closes_only_that_connection() {
    use kafka_protocol::messages::{
        SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
        SaslHandshakeResponse,
    };
    use kafka_protocol::protocol::StrBytes;
    let broker = sasl_broker().await;
    for (mechanism, token) in [
        ("PLAIN", &b"no separators"[..]),
        ("SCRAM-SHA-256", b"\xff\xfe not scram"),
        ("SCRAM-SHA-512", b"p=tls-unique,,n=alice,r=abc"),
    ] {
        let mut client = RawClient::connect(broker.addr()).await;
        let handshake: SaslHandshakeResponse = client
            .request(
                ApiKey::SaslHandshake,
                1,
                &SaslHandshakeRequest::default()
                    .with_mechanism(StrBytes::from_static_str(mechanism)),
            )
            .await;
        assert_eq!(handshake.error_code, 0);
        let login: SaslAuthenticateResponse = client
            .request(
                ApiKey::SaslAuthenticate,
                2,
                &SaslAuthenticateRequest::default()
                    .with_auth_bytes(bytes::Bytes::from_static(token)),
            )
            .await;
        assert_eq!(
            login.error_code, 58,
            "SASL_AUTHENTICATION_FAILED for {mechanism}"
        );
        client.assert_closed().await;
    }
    let mut other = security::raw_login(broker.addr(), "alice", PASSWORD).await;
    let metadata: kafka_protocol::messages::MetadataResponse = other
        .request(ApiKey::Metadata, 9, &MetadataRequest::default())
        .await;
    assert_eq!(metadata.brokers.len(), 1);
}
