//! DescribeGroups (0-5): state, protocol and members of each group; member metadata and assignments are
//! shown only when the group is Stable, and an unknown group is described as Dead, as Kafka does.

use std::sync::Arc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use crate::BrokerState;

/// Answers a DescribeGroups request.
pub fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let with_instance_ids = header.request_api_version >= 4;
    let groups = request
        .groups
        .into_iter()
        .map(
            |group_id| match state.coordinator.describe_group(&group_id) {
                Err(error) => DescribedGroup::default()
                    .with_group_id(group_id)
                    .with_error_code(error.code()),
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
                }
            },
        )
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
