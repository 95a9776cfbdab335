//! DescribeCluster (0-2, KIP-700): the one broker, which is also the controller, and the cluster id.
//! Admin clients use it instead of Metadata to list brokers. v1 adds the endpoint type (only brokers,
//! 1, exist here; asking for controllers, 2, answers MISMATCHED_ENDPOINT_TYPE as a broker does); v2
//! adds fenced brokers (never any on one node). Authorized operations are reported when asked for,
//! else INT32_MIN, as Kafka does.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::authorized_operations::{for_principal, NOT_PROVIDED};
use super::context::RequestContext;
use crate::auth::acl::ResourceType;

/// `endpoint_type` of broker listeners (1; controllers are 2).
const ENDPOINT_TYPE_BROKERS: i8 = 1;
/// The cluster resource's name in ACLs.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// Answers a DescribeCluster request.
pub fn handle(ctx: &RequestContext, request: DescribeClusterRequest) -> DescribeClusterResponse {
    let state = &ctx.state;
    let response = DescribeClusterResponse::default()
        .with_endpoint_type(ENDPOINT_TYPE_BROKERS)
        .with_cluster_id(StrBytes::from_string(state.cluster_id.clone()))
        .with_controller_id(state.node_id().into())
        .with_cluster_authorized_operations(NOT_PROVIDED);
    if ctx.version() >= 1 && request.endpoint_type != ENDPOINT_TYPE_BROKERS {
        return response
            .with_error_code(ResponseError::MismatchedEndpointType.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "herald-broker has only broker endpoints (endpoint type 1)",
            )));
    }
    let operations = for_principal(
        &ctx.authorizer,
        ResourceType::Cluster,
        CLUSTER_NAME,
        request.include_cluster_authorized_operations,
    );
    response
        .with_cluster_authorized_operations(operations)
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(state.node_id().into())
            .with_host(StrBytes::from_string(state.advertised_host.clone()))
            .with_port(state.advertised_port)])
}
