//! SCRAM users through the admin API (KIP-554): a user added with AlterUserScramCredentials logs in
//! at once with a real client and still after a restart; Describe lists mechanisms and iterations;
//! bad requests get Kafka's codes; the users file's credentials cannot be changed through the API;
//! only cluster admins may alter.
#![allow(clippy::unwrap_used)]

mod common;
mod security;

use common::{producer_config, TestBroker, DEADLINE};
use herald_broker::auth::scram::ScramMechanism;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ApiKey,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::producer::{FutureProducer, FutureRecord};
use security::{raw_login, sasl, write_users, PASSWORD};

const SHA256: i8 = 1;

async fn scram_broker() -> (TestBroker, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let users = write_users(files.path());
    let acl = files.path().join("acl.txt");
    std::fs::write(&acl, "alice cluster * all\n* topic * all\n").unwrap();
    let broker = TestBroker::start_with(|c| {
        c.sasl_users = Some(users);
        c.acl = Some(acl);
    })
    .await;
    (broker, files)
}

fn upsertion(
    name: &str,
    mechanism: i8,
    iterations: i32,
    password: &str,
) -> ScramCredentialUpsertion {
    let salt = b"carol-salt".to_vec();
    let salted = ScramMechanism::Sha256.salted_password(
        password.as_bytes(),
        &salt,
        iterations.max(1) as u32,
    );
    ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(salt.into())
        .with_salted_password(salted.into())
}

/// Produces one record as `user` over SCRAM-SHA-256; the error if the login fails.
async fn produce_as(broker: &TestBroker, user: &str, password: &str) -> Result<(), String> {
    let mut config = producer_config(&broker.bootstrap());
    sasl(
        &mut config,
        "SASL_PLAINTEXT",
        "SCRAM-SHA-256",
        user,
        password,
    );
    config.set("message.timeout.ms", "3000");
    let producer: FutureProducer = config.create().unwrap();
    producer
        .send(FutureRecord::to("scram").key("k").payload("v"), DEADLINE)
        .await
        .map(|_| ())
        .map_err(|(e, _)| e.to_string())
}

// carol, added through the API, produces over SCRAM at once and after a restart; Describe shows her
// mechanism and iterations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_user_logs_in_without_restart_and_after_one() {
    let (mut broker, _files) = scram_broker().await;
    assert!(
        produce_as(&broker, "carol", "carol-pw").await.is_err(),
        "carol does not exist yet"
    );
    let mut alice = raw_login(broker.addr(), "alice", PASSWORD).await;
    let alter = AlterUserScramCredentialsRequest::default()
        .with_upsertions(vec![upsertion("carol", SHA256, 4096, "carol-pw")]);
    let altered: AlterUserScramCredentialsResponse = alice
        .request(ApiKey::AlterUserScramCredentials, 0, &alter)
        .await;
    assert_eq!(altered.results[0].error_code, 0, "{:?}", altered.results);
    produce_as(&broker, "carol", "carol-pw").await.unwrap();
    assert!(produce_as(&broker, "carol", "wrong").await.is_err());

    broker.restart().await;
    produce_as(&broker, "carol", "carol-pw").await.unwrap();
    let mut alice = raw_login(broker.addr(), "alice", PASSWORD).await;
    let describe = DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
        UserName::default().with_name(StrBytes::from_static_str("carol")),
        UserName::default().with_name(StrBytes::from_static_str("nobody")),
    ]));
    let described: DescribeUserScramCredentialsResponse = alice
        .request(ApiKey::DescribeUserScramCredentials, 0, &describe)
        .await;
    assert_eq!(described.results[0].error_code, 0);
    let info = &described.results[0].credential_infos[0];
    assert_eq!((info.mechanism, info.iterations), (SHA256, 4096));
    assert_eq!(described.results[1].error_code, 91, "RESOURCE_NOT_FOUND");
}

// Kafka's codes: too few iterations 93, unknown mechanism 33, deleting what does not exist 91,
// changing a users-file credential 93; a non-admin gets 31.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_alterations_get_kafkas_codes() {
    let (broker, _files) = scram_broker().await;
    let mut alice = raw_login(broker.addr(), "alice", PASSWORD).await;
    let alter = AlterUserScramCredentialsRequest::default()
        .with_upsertions(vec![
            upsertion("few", SHA256, 1000, "pw"),
            upsertion("odd", 3, 4096, "pw"),
            upsertion("alice", SHA256, 4096, "stolen"),
        ])
        .with_deletions(vec![ScramCredentialDeletion::default()
            .with_name(StrBytes::from_static_str("ghost"))
            .with_mechanism(SHA256)]);
    let altered: AlterUserScramCredentialsResponse = alice
        .request(ApiKey::AlterUserScramCredentials, 0, &alter)
        .await;
    let codes: Vec<(&str, i16)> = altered
        .results
        .iter()
        .map(|r| (r.user.as_str(), r.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![("ghost", 91), ("few", 93), ("odd", 33), ("alice", 93)]
    );
    produce_as(&broker, "alice", PASSWORD).await.unwrap();

    let mut bob = raw_login(broker.addr(), "bob", "bob-secret").await;
    let alter = AlterUserScramCredentialsRequest::default()
        .with_upsertions(vec![upsertion("mallory", SHA256, 4096, "pw")]);
    let refused: AlterUserScramCredentialsResponse = bob
        .request(ApiKey::AlterUserScramCredentials, 0, &alter)
        .await;
    assert_eq!(refused.results[0].error_code, 31);
}
