//! CreateAcls (1-3): adds bindings (allow or deny, literal or prefixed) that the broker enforces at
//! once and keeps across restarts (`auth/acl_store.rs`). Each creation is validated as Kafka does and
//! answered on its own; the valid ones are made durable together before the response. Needs ALTER on
//! the cluster; SECURITY_DISABLED when ACLs are not configured.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use kafka_protocol::protocol::StrBytes;

use super::acl_fields::{self, WireBinding};
use super::context::RequestContext;

/// Answers a CreateAcls request.
pub async fn handle(ctx: &RequestContext, request: CreateAclsRequest) -> CreateAclsResponse {
    let result = |code: i16, message: Option<String>| {
        AclCreationResult::default()
            .with_error_code(code)
            .with_error_message(message.map(StrBytes::from_string))
    };
    let Some(store) = ctx.authorizer.store().cloned() else {
        let disabled = request.creations.iter().map(|_| {
            result(
                acl_fields::security_disabled(),
                Some(acl_fields::SECURITY_DISABLED_MESSAGE.to_string()),
            )
        });
        return CreateAclsResponse::default().with_results(disabled.collect());
    };
    let parsed: Vec<_> = request
        .creations
        .iter()
        .map(|c| {
            acl_fields::binding(WireBinding {
                resource_type: c.resource_type,
                resource_name: &c.resource_name,
                pattern_type: c.resource_pattern_type,
                principal: &c.principal,
                host: &c.host,
                operation: c.operation,
                permission: c.permission_type,
            })
        })
        .collect();
    let valid: Vec<_> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().cloned())
        .collect();
    let written = if valid.is_empty() {
        Ok(())
    } else {
        super::blocking(&ctx.state, move |_| store.create(&valid)).await
    };
    let results = parsed
        .into_iter()
        .map(|p| match (p, &written) {
            (Err((code, message)), _) => result(code, Some(message)),
            (Ok(_), Ok(())) => result(0, None),
            (Ok(_), Err(e)) => result(
                ResponseError::UnknownServerError.code(),
                Some(e.to_string()),
            ),
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}
