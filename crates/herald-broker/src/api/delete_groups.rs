//! DeleteGroups (0-2): deletes Empty groups and their committed offsets (NON_EMPTY_GROUP for live ones,
//! GROUP_ID_NOT_FOUND for unknown ones).

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use crate::BrokerState;

/// Answers a DeleteGroups request once the deletions are durable.
pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let group_ids: Vec<String> = request
        .groups_names
        .iter()
        .map(|g| g.0.to_string())
        .collect();
    let results = state
        .coordinator
        .delete_groups(&group_ids)
        .await
        .into_iter()
        .map(|(group_id, error)| {
            DeletableGroupResult::default()
                .with_group_id(StrBytes::from_string(group_id).into())
                .with_error_code(error.map_or(0, |e| e.code()))
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
