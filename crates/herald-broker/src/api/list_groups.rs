//! ListGroups (0-5): every group this coordinator knows, including groups that only hold committed
//! offsets; v4 filters by state, v5 by type (KIP-848): every group here is a `classic` group, so a
//! types filter without `classic` lists none.

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{ListGroupsRequest, ListGroupsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use crate::BrokerState;

/// The type of every group here: the classic (JoinGroup/SyncGroup) protocol.
const GROUP_TYPE_CLASSIC: &str = "classic";

/// Answers a ListGroups request.
pub fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let with_state = header.request_api_version >= 4;
    let with_type = header.request_api_version >= 5;
    if with_type
        && !request.types_filter.is_empty()
        && !request
            .types_filter
            .iter()
            .any(|t| t.eq_ignore_ascii_case(GROUP_TYPE_CLASSIC))
    {
        return ListGroupsResponse::default();
    }
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.to_string())
        .collect();
    match state.coordinator.list_groups(&states) {
        Err(error) => ListGroupsResponse::default().with_error_code(error.code()),
        Ok(groups) => {
            let groups = groups
                .into_iter()
                .map(|g| {
                    let listed = ListedGroup::default()
                        .with_group_id(StrBytes::from_string(g.group_id).into())
                        .with_protocol_type(StrBytes::from_string(g.protocol_type));
                    let listed = if with_state {
                        listed.with_group_state(StrBytes::from_static_str(g.state))
                    } else {
                        listed
                    };
                    if with_type {
                        listed.with_group_type(StrBytes::from_static_str(GROUP_TYPE_CLASSIC))
                    } else {
                        listed
                    }
                })
                .collect();
            ListGroupsResponse::default().with_groups(groups)
        }
    }
}
