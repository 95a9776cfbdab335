//! TLS on the listener with real rdkafka clients: SASL_SSL logs in, produces and consumes with the
//! broker's certificate checked against a test CA; a plaintext client on the TLS port is dropped
//! while TLS clients keep being served.
#![allow(clippy::unwrap_used)]

mod common;
mod security;

use common::{consumer_config, producer_config, RawClient, TestBroker, DEADLINE};
use herald_broker::TlsConfig;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use security::{sasl, write_certs, write_users, TestCerts, PASSWORD};

async fn tls_broker(files: &std::path::Path) -> (TestBroker, TestCerts) {
    let certs = write_certs(files);
    let users = write_users(files);
    let tls = TlsConfig {
        cert_path: certs.cert.clone(),
        key_path: certs.key.clone(),
    };
    let broker = TestBroker::start_with(|c| {
        c.tls = Some(tls);
        c.sasl_users = Some(users);
    })
    .await;
    (broker, certs)
}

fn sasl_ssl(mut config: ClientConfig, certs: &TestCerts) -> ClientConfig {
    sasl(&mut config, "SASL_SSL", "SCRAM-SHA-512", "alice", PASSWORD);
    config.set("ssl.ca.location", certs.ca.to_str().unwrap());
    config
}

/// Produces one record over SASL_SSL and reads it back.
async fn round_trip(broker: &TestBroker, certs: &TestCerts, topic: &str) {
    let producer: FutureProducer = sasl_ssl(producer_config(&broker.bootstrap()), certs)
        .create()
        .unwrap();
    let delivery = producer
        .send(
            FutureRecord::to(topic).key("k").payload("over tls"),
            DEADLINE,
        )
        .await
        .unwrap();
    let consumer: StreamConsumer = sasl_ssl(consumer_config(&broker.bootstrap()), certs)
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, delivery.partition, Offset::Offset(delivery.offset))
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let message = tokio::time::timeout(DEADLINE, consumer.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.payload(), Some(&b"over tls"[..]));
}

// SASL_SSL (SCRAM-SHA-512 over TLS, CA-verified) produces and consumes end to end.
#[tokio::test]
async fn sasl_ssl_produces_and_consumes() {
    let files = tempfile::tempdir().unwrap();
    let (broker, certs) = tls_broker(files.path()).await;
    round_trip(&broker, &certs, "tls-orders").await;
}

// A plaintext Kafka client on the TLS port gets its connection closed, and TLS clients still work.
#[tokio::test]
async fn plaintext_client_on_tls_port_is_dropped() {
    let files = tempfile::tempdir().unwrap();
    let (broker, certs) = tls_broker(files.path()).await;
    let mut plain = RawClient::connect(broker.addr()).await;
    plain
        .send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert!(
        plain.read_frame().await.is_none(),
        "a plaintext request must not get a Kafka response"
    );
    round_trip(&broker, &certs, "after-plaintext").await;
}
