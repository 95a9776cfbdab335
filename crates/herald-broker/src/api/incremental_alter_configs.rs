//! IncrementalAlterConfigs (0-1, KIP-339): SET, DELETE, APPEND and SUBTRACT on a topic's configs,
//! applied live and persisted; `validate_only` checks without changing anything. Each resource is
//! answered on its own (`config_changes.rs` has the rules). Needs ALTER_CONFIGS on the topic.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::config_changes::{self, Change};
use super::context::RequestContext;

/// Answers an IncrementalAlterConfigs request.
pub async fn handle(
    ctx: &RequestContext,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let changes: Result<Vec<Change>, String> = resource
            .configs
            .into_iter()
            .map(|c| {
                let (name, value) = (c.name.to_string(), c.value.map(|v| v.to_string()));
                Ok(match c.config_operation {
                    0 => Change::Set(name, value),
                    1 => Change::Delete(name),
                    2 => Change::Append(name, value),
                    3 => Change::Subtract(name, value),
                    other => return Err(format!("unknown config operation {other}")),
                })
            })
            .collect();
        let outcome = match changes {
            Err(message) => Err((ResponseError::InvalidRequest.code(), message)),
            Ok(changes) => {
                config_changes::apply(
                    &ctx.state,
                    resource.resource_type,
                    &resource.resource_name,
                    changes,
                    false,
                    request.validate_only,
                )
                .await
            }
        };
        let (code, message) = match outcome {
            Ok(()) => (0, None),
            Err((code, message)) => (code, Some(StrBytes::from_string(message))),
        };
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name),
        );
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
