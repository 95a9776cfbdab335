//! ACLs through the admin API (CreateAcls, DescribeAcls, DeleteAcls) with Kafka's codes: created
//! bindings are enforced at once and survive a restart, deny beats allow, the ACL file's bindings are
//! listed but cannot be deleted, only cluster admins may manage ACLs, and without an ACL file every
//! ACL API answers SECURITY_DISABLED.
#![allow(clippy::unwrap_used)]

mod common;
mod security;

use common::{RawClient, TestBroker};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse, DescribeClusterRequest, DescribeClusterResponse,
    MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use security::{raw_login, write_users, PASSWORD};

const TOPIC: i8 = 2;
const CLUSTER: i8 = 4;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const ANY: i8 = 1;
const DESCRIBE: i8 = 8;
const ALLOW: i8 = 3;
const DENY: i8 = 2;

const ACLS: &str = "
alice  cluster  *  all
alice  topic    *  all
";

/// A broker with SASL users (alice, bob) and, when `acl`, the ACL file above; the temp dir holding
/// the files is returned so that they outlive restarts.
async fn acl_broker(acl: bool) -> (TestBroker, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let users = write_users(files.path());
    let path = files.path().join("acl.txt");
    std::fs::write(&path, ACLS).unwrap();
    let broker = TestBroker::start_with(|c| {
        c.sasl_users = Some(users);
        c.acl = acl.then_some(path);
    })
    .await;
    (broker, files)
}

fn creation(
    name: &str,
    pattern: i8,
    principal: &str,
    operation: i8,
    permission: i8,
) -> AclCreation {
    AclCreation::default()
        .with_resource_type(TOPIC)
        .with_resource_name(StrBytes::from_string(name.to_string()))
        .with_resource_pattern_type(pattern)
        .with_principal(StrBytes::from_string(principal.to_string()))
        .with_host(StrBytes::from_static_str("*"))
        .with_operation(operation)
        .with_permission_type(permission)
}

fn describe_all() -> DescribeAclsRequest {
    // The nullable filters default to "" in kafka-protocol; null means "any".
    DescribeAclsRequest::default()
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_resource_type_filter(ANY)
        .with_pattern_type_filter(ANY)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

/// Whether bob may describe `topic` (Metadata answers UNKNOWN_TOPIC_OR_PARTITION for a topic that
/// does not exist and that he may not create) or not (TOPIC_AUTHORIZATION_FAILED).
async fn bob_describes(broker: &TestBroker, topic: &str) -> bool {
    let mut bob = raw_login(broker.addr(), "bob", "bob-secret").await;
    let request =
        MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_string(topic.to_string()))))]));
    let response: MetadataResponse = bob.request(ApiKey::Metadata, 12, &request).await;
    match response.topics[0].error_code {
        3 => true,
        29 => false,
        other => panic!("unexpected Metadata error {other}"),
    }
}

// alice grants bob DESCRIBE on `orders.*` (prefixed): bob sees orders.eu at once, and still after a
// restart; a DENY on orders.secret beats the prefixed allow; deleting the allow takes it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_acls_are_enforced_persisted_and_deleted() {
    let (mut broker, _files) = acl_broker(true).await;
    assert!(!bob_describes(&broker, "orders.eu").await);
    let mut alice = raw_login(broker.addr(), "alice", PASSWORD).await;
    let create = CreateAclsRequest::default().with_creations(vec![
        creation("orders.", PREFIXED, "User:bob", DESCRIBE, ALLOW),
        creation("orders.secret", LITERAL, "User:bob", DESCRIBE, DENY),
        creation("bad", LITERAL, "bob", DESCRIBE, ALLOW), // no User: prefix
    ]);
    let created: CreateAclsResponse = alice.request(ApiKey::CreateAcls, 3, &create).await;
    let codes: Vec<i16> = created.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, vec![0, 0, 42], "{:?}", created.results);
    assert!(bob_describes(&broker, "orders.eu").await);
    assert!(!bob_describes(&broker, "orders.secret").await);

    broker.restart().await;
    assert!(
        bob_describes(&broker, "orders.eu").await,
        "ACLs survive a restart"
    );
    let mut alice = raw_login(broker.addr(), "alice", PASSWORD).await;
    let described: DescribeAclsResponse = alice
        .request(ApiKey::DescribeAcls, 3, &describe_all())
        .await;
    assert_eq!(described.error_code, 0);
    let names: Vec<&str> = described
        .resources
        .iter()
        .map(|r| r.resource_name.as_str())
        .collect();
    assert!(
        names.contains(&"orders.") && names.contains(&"orders.secret") && names.contains(&"*"),
        "{names:?}"
    );

    let delete = DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_resource_type_filter(TOPIC)
        .with_resource_name_filter(Some(StrBytes::from_static_str("orders.")))
        .with_pattern_type_filter(PREFIXED)
        .with_operation(ANY)
        .with_permission_type(ANY)]);
    let deleted: DeleteAclsResponse = alice.request(ApiKey::DeleteAcls, 3, &delete).await;
    let matching = &deleted.filter_results[0].matching_acls;
    assert_eq!(matching.len(), 1);
    assert_eq!(matching[0].error_code, 0);
    assert!(!bob_describes(&broker, "orders.eu").await);
}

// The file's bindings are listed but not deleted (INVALID_REQUEST naming the file), and a principal
// without ALTER on the cluster gets CLUSTER_AUTHORIZATION_FAILED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_acls_stay_and_only_admins_manage() {
    let (broker, _files) = acl_broker(true).await;
    let mut alice = raw_login(broker.addr(), "alice", PASSWORD).await;
    let delete = DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_resource_type_filter(CLUSTER)
        .with_pattern_type_filter(ANY)
        .with_operation(ANY)
        .with_permission_type(ANY)]);
    let deleted: DeleteAclsResponse = alice.request(ApiKey::DeleteAcls, 3, &delete).await;
    let matching = &deleted.filter_results[0].matching_acls;
    assert_eq!(matching.len(), 1);
    assert_eq!(matching[0].error_code, 42);
    assert!(matching[0]
        .error_message
        .as_deref()
        .unwrap()
        .contains("acl.txt"));
    let described: DescribeAclsResponse = alice
        .request(ApiKey::DescribeAcls, 3, &describe_all())
        .await;
    assert!(
        described
            .resources
            .iter()
            .any(|r| r.resource_type == CLUSTER),
        "still there"
    );

    let mut bob = raw_login(broker.addr(), "bob", "bob-secret").await;
    let create = CreateAclsRequest::default().with_creations(vec![creation(
        "*",
        LITERAL,
        "User:bob",
        ANY + 1,
        ALLOW,
    )]);
    let refused: CreateAclsResponse = bob.request(ApiKey::CreateAcls, 3, &create).await;
    assert_eq!(refused.results[0].error_code, 31);
    let refused: DescribeAclsResponse = bob.request(ApiKey::DescribeAcls, 3, &describe_all()).await;
    assert_eq!(refused.error_code, 31);
}

// Without an ACL file the ACL APIs answer SECURITY_DISABLED (54) with a message, as Kafka without an
// authorizer does; DescribeCluster lists the one broker and, when asked, every cluster operation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_acls_the_apis_are_disabled() {
    let broker = TestBroker::start().await;
    let mut raw = RawClient::connect(broker.addr()).await;
    let described: DescribeAclsResponse =
        raw.request(ApiKey::DescribeAcls, 3, &describe_all()).await;
    assert_eq!(described.error_code, 54);
    assert!(described
        .error_message
        .as_deref()
        .unwrap()
        .contains("--acl"));
    let create = CreateAclsRequest::default()
        .with_creations(vec![creation("t", LITERAL, "User:x", DESCRIBE, ALLOW)]);
    let created: CreateAclsResponse = raw.request(ApiKey::CreateAcls, 3, &create).await;
    assert_eq!(created.results[0].error_code, 54);

    let cluster: DescribeClusterResponse = raw
        .request(
            ApiKey::DescribeCluster,
            1,
            &DescribeClusterRequest::default()
                .with_include_cluster_authorized_operations(true)
                .with_endpoint_type(1),
        )
        .await;
    assert_eq!(cluster.error_code, 0);
    assert_eq!(cluster.brokers.len(), 1);
    assert_eq!(cluster.brokers[0].port, i32::from(broker.addr().port()));
    // CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.
    let expected = [5, 7, 8, 9, 10, 11, 12]
        .iter()
        .fold(0, |bits, op| bits | (1 << op));
    assert_eq!(cluster.cluster_authorized_operations, expected);
    let plain: DescribeClusterResponse = raw
        .request(
            ApiKey::DescribeCluster,
            0,
            &DescribeClusterRequest::default(),
        )
        .await;
    assert_eq!(plain.cluster_authorized_operations, i32::MIN);
}
