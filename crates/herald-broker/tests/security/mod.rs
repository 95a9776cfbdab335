//! Helpers for the security tests: a users file, SASL client configs, and a client context that
//! collects librdkafka's error callbacks so a test can await an authentication error.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use herald_broker::auth::scram::ScramMechanism;
use herald_broker::auth::users::{credential_line, Mechanism};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::KafkaError;

pub const PASSWORD: &str = "alice-secret";

/// Writes a users file where `alice` may log in with every mechanism and `bob` with PLAIN.
pub fn write_users(dir: &Path) -> PathBuf {
    let lines = [
        credential_line("alice", Mechanism::Plain, PASSWORD),
        credential_line("alice", Mechanism::Scram(ScramMechanism::Sha256), PASSWORD),
        credential_line("alice", Mechanism::Scram(ScramMechanism::Sha512), PASSWORD),
        credential_line("bob", Mechanism::Plain, "bob-secret"),
    ];
    let path = dir.join("users.txt");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

/// Client settings for SASL over `protocol` (SASL_PLAINTEXT or SASL_SSL).
pub fn sasl(
    config: &mut ClientConfig,
    protocol: &str,
    mechanism: &str,
    user: &str,
    password: &str,
) {
    config
        .set("security.protocol", protocol)
        .set("sasl.mechanism", mechanism)
        .set("sasl.username", user)
        .set("sasl.password", password);
}

/// Collects librdkafka's error callbacks.
pub struct ErrorCollector(pub Mutex<mpsc::Sender<(KafkaError, String)>>);

impl ClientContext for ErrorCollector {
    fn error(&self, error: KafkaError, reason: &str) {
        let _ = self.0.lock().unwrap().send((error, reason.to_string()));
    }
}

impl ConsumerContext for ErrorCollector {}

/// Connects a consumer with `config` and returns the first error whose reason contains `needle`,
/// polling with a deadline (no sleeps).
pub fn first_error_containing(config: &ClientConfig, needle: &str) -> (KafkaError, String) {
    let (tx, rx) = mpsc::channel();
    let consumer: BaseConsumer<ErrorCollector> = config
        .create_with_context(ErrorCollector(Mutex::new(tx)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        // Metadata makes librdkafka connect; poll serves the error callback.
        let _ = rdkafka::consumer::Consumer::fetch_metadata(
            &consumer,
            None,
            Duration::from_millis(200),
        );
        let _ = consumer.poll(Duration::from_millis(50));
        while let Ok((error, reason)) = rx.try_recv() {
            if reason.contains(needle) || error.to_string().contains(needle) {
                return (error, reason);
            }
            seen.push(reason);
        }
    }
    panic!("no error containing {needle:?} within the deadline; saw {seen:?}");
}

/// Paths of a test CA and a server certificate it signed (for localhost and 127.0.0.1).
pub struct TestCerts {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Generates a CA and a server certificate signed by it into `dir`.
pub fn write_certs(dir: &Path) -> TestCerts {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct names: a leaf whose issuer equals its subject looks self-signed to OpenSSL.
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "herald test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let mut server_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    server_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();
    let certs = TestCerts {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&certs.ca, ca.pem()).unwrap();
    std::fs::write(&certs.cert, server.pem()).unwrap();
    std::fs::write(&certs.key, server_key.serialize_pem()).unwrap();
    certs
}

/// A raw protocol client logged in with SASL PLAIN (SaslHandshake v1 + SaslAuthenticate v2).
pub async fn raw_login(
    addr: std::net::SocketAddr,
    user: &str,
    password: &str,
) -> super::common::RawClient {
    use kafka_protocol::messages::{
        ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
        SaslHandshakeResponse,
    };
    use kafka_protocol::protocol::StrBytes;
    let mut client = super::common::RawClient::connect(addr).await;
    let handshake: SaslHandshakeResponse = client
        .request(
            ApiKey::SaslHandshake,
            1,
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        )
        .await;
    assert_eq!(handshake.error_code, 0);
    let token = format!("\0{user}\0{password}");
    let login: SaslAuthenticateResponse = client
        .request(
            ApiKey::SaslAuthenticate,
            2,
            &SaslAuthenticateRequest::default().with_auth_bytes(bytes::Bytes::from(token)),
        )
        .await;
    assert_eq!(login.error_code, 0, "{:?}", login.error_message);
    client
}
