//! DescribeGroups (0-5): state, protocol and members of each group; member metadata and assignments are
//! shown only when the group is Stable, and an unknown group is described as Dead, as Kafka does.
//! Authorized operations (v3+, when asked) are Kafka's group bitfield (`authorized_operations.rs`).

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authorized_operations::for_principal;
use super::context::RequestContext;
use crate::answer_log::warn_error;
use crate::auth::acl::ResourceType;

/// Answers a DescribeGroups request.
pub fn handle(ctx: &RequestContext, request: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let (state, header) = (&ctx.state, &ctx.header);
    let with_instance_ids = header.request_api_version >= 4;
    let requested = header.request_api_version >= 3 && request.include_authorized_operations;
    let operations_of =
        |group: &str| for_principal(&ctx.authorizer, ResourceType::Group, group, requested);
    let groups = request
        .groups
        .into_iter()
        .map(|group_id| {
            let operations = operations_of(&group_id);
            match state.coordinator.describe_group(&group_id) {
                Err(error) => {
                    warn_error(ApiKey::DescribeGroups, header, error.code(), &&*group_id);
                    DescribedGroup::default()
                        .with_group_id(group_id)
                        .with_error_code(error.code())
                        .with_authorized_operations(operations)
                }
                Ok(summary) => {
                    let members = summary
                        .members
                        .into_iter()
                        .map(|m| {
                            let member = DescribedGroupMember::default()
                                .with_member_id(StrBytes::from_string(m.member_id))
                                .with_client_id(StrBytes::from_string(m.client_id))
                                .with_client_host(StrBytes::from_string(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment);
                            if with_instance_ids {
                                member.with_group_instance_id(
                                    m.group_instance_id.map(StrBytes::from_string),
                                )
                            } else {
                                member
                            }
                        })
                        .collect();
                    DescribedGroup::default()
                        .with_group_id(group_id)
                        .with_group_state(StrBytes::from_static_str(summary.state))
                        .with_protocol_type(StrBytes::from_string(summary.protocol_type))
                        .with_protocol_data(StrBytes::from_string(summary.protocol_name))
                        .with_members(members)
                        .with_authorized_operations(operations)
                }
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
