//! DescribeCluster (0-2, KIP-700): the one broker, which is also the controller, and the cluster id.
//! Admin clients use it instead of Metadata to list brokers. v1 adds the endpoint type (only brokers,
//! 1, exist here; asking for controllers, 2, answers MISMATCHED_ENDPOINT_TYPE as a broker does); v2
//! adds fenced brokers (never any on one node). Authorized operations are reported when asked for,
//! else INT32_MIN, as Kafka does.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::context::RequestContext;
use crate::auth::acl::{Operation, ResourceType};

/// `endpoint_type` of broker listeners (1; controllers are 2).
const ENDPOINT_TYPE_BROKERS: i8 = 1;
/// "Not requested" in an authorized-operations field.
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;
/// The cluster resource's name in ACLs.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// Kafka's AclOperation codes a cluster supports: CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9,
/// DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12.
const CLUSTER_OPERATIONS: [(Operation, u8); 7] = [
    (Operation::Create, 5),
    (Operation::Alter, 7),
    (Operation::Describe, 8),
    (Operation::ClusterAction, 9),
    (Operation::DescribeConfigs, 10),
    (Operation::AlterConfigs, 11),
    (Operation::IdempotentWrite, 12),
];

/// Answers a DescribeCluster request.
pub fn handle(ctx: &RequestContext, request: DescribeClusterRequest) -> DescribeClusterResponse {
    let state = &ctx.state;
    let response = DescribeClusterResponse::default()
        .with_endpoint_type(ENDPOINT_TYPE_BROKERS)
        .with_cluster_id(StrBytes::from_string(state.cluster_id.clone()))
        .with_controller_id(state.node_id().into())
        .with_cluster_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
    if ctx.version() >= 1 && request.endpoint_type != ENDPOINT_TYPE_BROKERS {
        return response
            .with_error_code(ResponseError::MismatchedEndpointType.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "herald-broker has only broker endpoints (endpoint type 1)",
            )));
    }
    let operations = if request.include_cluster_authorized_operations {
        CLUSTER_OPERATIONS
            .iter()
            .filter(|(operation, _)| {
                ctx.authorizer
                    .allows(ResourceType::Cluster, CLUSTER_NAME, *operation)
            })
            .fold(0i32, |bits, (_, code)| bits | (1 << code))
    } else {
        AUTHORIZED_OPERATIONS_OMITTED
    };
    response
        .with_cluster_authorized_operations(operations)
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(state.node_id().into())
            .with_host(StrBytes::from_string(state.advertised_host.clone()))
            .with_port(state.advertised_port)])
}
