//! DescribeAcls (1-3): the bindings a filter selects, grouped by resource, from the ACL file and the
//! admin API alike. Needs DESCRIBE on the cluster; SECURITY_DISABLED when ACLs are not configured.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::protocol::StrBytes;

use super::acl_fields::{self, WireFilter};
use super::context::RequestContext;

/// Answers a DescribeAcls request.
pub fn handle(ctx: &RequestContext, request: DescribeAclsRequest) -> DescribeAclsResponse {
    let Some(store) = ctx.authorizer.store() else {
        return DescribeAclsResponse::default()
            .with_error_code(acl_fields::security_disabled())
            .with_error_message(Some(StrBytes::from_static_str(
                acl_fields::SECURITY_DISABLED_MESSAGE,
            )));
    };
    let filter = acl_fields::filter(WireFilter {
        resource_type: request.resource_type_filter,
        resource_name: request.resource_name_filter.as_deref(),
        pattern_type: request.pattern_type_filter,
        principal: request.principal_filter.as_deref(),
        host: request.host_filter.as_deref(),
        operation: request.operation,
        permission: request.permission_type,
    });
    let filter = match filter {
        Ok(filter) => filter,
        Err((code, message)) => {
            return DescribeAclsResponse::default()
                .with_error_code(code)
                .with_error_message(Some(StrBytes::from_string(message)))
        }
    };
    let mut resources: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for binding in store.describe(&filter) {
        let key = (
            binding.resource_type as i8,
            binding.resource_name.clone(),
            binding.pattern_type as i8,
        );
        resources.entry(key).or_default().push(
            AclDescription::default()
                .with_principal(StrBytes::from_string(binding.principal))
                .with_host(StrBytes::from_string(binding.host))
                .with_operation(binding.operation as i8)
                .with_permission_type(binding.permission as i8),
        );
    }
    let resources = resources
        .into_iter()
        .map(|((resource_type, name, pattern_type), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(name))
                .with_pattern_type(pattern_type)
                .with_acls(acls)
        })
        .collect();
    DescribeAclsResponse::default().with_resources(resources)
}
