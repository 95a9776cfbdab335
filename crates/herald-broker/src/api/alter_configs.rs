//! AlterConfigs (0-2): replaces a topic's config overrides with the ones given (configs left out go
//! back to their defaults, as Kafka's non-incremental API does), applied live and persisted;
//! `validate_only` checks without changing anything. A null value is INVALID_CONFIG. Needs
//! ALTER_CONFIGS on the topic.

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::config_changes::{self, Change};
use super::context::RequestContext;

/// Answers an AlterConfigs request.
pub async fn handle(ctx: &RequestContext, request: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let changes = resource
            .configs
            .into_iter()
            .map(|c| Change::Set(c.name.to_string(), c.value.map(|v| v.to_string())))
            .collect();
        let outcome = config_changes::apply(
            &ctx.state,
            resource.resource_type,
            &resource.resource_name,
            changes,
            true,
            request.validate_only,
        )
        .await;
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
    AlterConfigsResponse::default().with_responses(responses)
}
