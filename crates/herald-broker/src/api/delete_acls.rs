//! DeleteAcls (1-3): removes the bindings each filter selects and reports them per filter. Bindings
//! of the ACL file are reported with INVALID_REQUEST and stay (edit the file to remove them). Needs
//! ALTER on the cluster; SECURITY_DISABLED when ACLs are not configured.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};
use kafka_protocol::protocol::StrBytes;

use super::acl_fields::{self, WireFilter};
use super::context::RequestContext;

/// Answers a DeleteAcls request.
pub async fn handle(ctx: &RequestContext, request: DeleteAclsRequest) -> DeleteAclsResponse {
    let failed = |code: i16, message: String| {
        DeleteAclsFilterResult::default()
            .with_error_code(code)
            .with_error_message(Some(StrBytes::from_string(message)))
    };
    let Some(store) = ctx.authorizer.store().cloned() else {
        let disabled = request.filters.iter().map(|_| {
            failed(
                acl_fields::security_disabled(),
                acl_fields::SECURITY_DISABLED_MESSAGE.to_string(),
            )
        });
        return DeleteAclsResponse::default().with_filter_results(disabled.collect());
    };
    let parsed: Vec<_> = request
        .filters
        .iter()
        .map(|f| {
            acl_fields::filter(WireFilter {
                resource_type: f.resource_type_filter,
                resource_name: f.resource_name_filter.as_deref(),
                pattern_type: f.pattern_type_filter,
                principal: f.principal_filter.as_deref(),
                host: f.host_filter.as_deref(),
                operation: f.operation,
                permission: f.permission_type,
            })
        })
        .collect();
    let valid: Vec<_> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().cloned())
        .collect();
    let deleted = super::blocking(&ctx.state, move |_| store.delete(&valid)).await;
    let mut deleted = match deleted {
        Ok(deleted) => deleted.into_iter(),
        Err(e) => {
            let code = ResponseError::UnknownServerError.code();
            let results = parsed.iter().map(|_| failed(code, e.to_string()));
            return DeleteAclsResponse::default().with_filter_results(results.collect());
        }
    };
    let results = parsed
        .into_iter()
        .map(|p| match p {
            Err((code, message)) => failed(code, message),
            Ok(_) => {
                let matching = deleted.next().unwrap_or_default().into_iter().map(|d| {
                    let (code, message) = match d.refused {
                        Some(reason) => (ResponseError::InvalidRequest.code(), Some(reason)),
                        None => (0, None),
                    };
                    DeleteAclsMatchingAcl::default()
                        .with_error_code(code)
                        .with_error_message(message.map(StrBytes::from_string))
                        .with_resource_type(d.binding.resource_type as i8)
                        .with_resource_name(StrBytes::from_string(d.binding.resource_name))
                        .with_pattern_type(d.binding.pattern_type as i8)
                        .with_principal(StrBytes::from_string(d.binding.principal))
                        .with_host(StrBytes::from_string(d.binding.host))
                        .with_operation(d.binding.operation as i8)
                        .with_permission_type(d.binding.permission as i8)
                });
                DeleteAclsFilterResult::default().with_matching_acls(matching.collect())
            }
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
