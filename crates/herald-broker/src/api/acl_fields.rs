//! The ACL APIs' shared translations: a wire filter (DescribeAcls, DeleteAcls) into an
//! [`AclFilter`], a wire creation (CreateAcls) into an [`AclBinding`] with Kafka's validation, and the
//! error every ACL API answers when ACLs are not configured (SECURITY_DISABLED, as a Kafka broker
//! without an authorizer does).

use kafka_protocol::error::ResponseError;

use super::describe_cluster::CLUSTER_NAME;
use crate::auth::acl::{
    parse_principal, AclBinding, Operation, PatternType, Permission, ResourceType,
};
use crate::auth::acl_store::{AclFilter, PatternFilter};

/// The "ANY" code of Kafka's resource type, operation, permission and pattern type filters.
const ANY: i8 = 1;
/// The "MATCH" code of the pattern type filter.
const MATCH: i8 = 2;

/// The message of SECURITY_DISABLED.
pub const SECURITY_DISABLED_MESSAGE: &str =
    "ACLs are not enabled on this broker: start it with --acl FILE to enforce and manage ACLs";

/// SECURITY_DISABLED (54).
pub fn security_disabled() -> i16 {
    ResponseError::SecurityDisabled.code()
}

/// A wire filter's fields, in wire order.
pub struct WireFilter<'a> {
    pub resource_type: i8,
    pub resource_name: Option<&'a str>,
    pub pattern_type: i8,
    pub principal: Option<&'a str>,
    pub host: Option<&'a str>,
    pub operation: i8,
    pub permission: i8,
}

/// The filter, or INVALID_REQUEST with a message (an UNKNOWN code, or a type herald lacks).
pub fn filter(wire: WireFilter) -> Result<AclFilter, (i16, String)> {
    let invalid = |what: &str, code: i8| {
        (
            ResponseError::InvalidRequest.code(),
            format!("invalid {what} filter {code}"),
        )
    };
    let resource_type = match wire.resource_type {
        ANY => None,
        code => Some(ResourceType::from_code(code).ok_or_else(|| invalid("resource type", code))?),
    };
    let pattern = match wire.pattern_type {
        ANY => PatternFilter::Any,
        MATCH => PatternFilter::Match,
        code => PatternFilter::Exactly(
            PatternType::from_code(code).ok_or_else(|| invalid("pattern type", code))?,
        ),
    };
    let operation = match wire.operation {
        ANY => None,
        code => Some(Operation::from_code(code).ok_or_else(|| invalid("operation", code))?),
    };
    let permission = match wire.permission {
        ANY => None,
        code => Some(Permission::from_code(code).ok_or_else(|| invalid("permission", code))?),
    };
    Ok(AclFilter {
        resource_type,
        resource_name: wire.resource_name.map(str::to_string),
        pattern,
        principal: wire.principal.map(str::to_string),
        host: wire.host.map(str::to_string),
        operation,
        permission,
    })
}

/// A wire creation's fields, in wire order.
pub struct WireBinding<'a> {
    pub resource_type: i8,
    pub resource_name: &'a str,
    pub pattern_type: i8,
    pub principal: &'a str,
    pub host: &'a str,
    pub operation: i8,
    pub permission: i8,
}

/// The binding to create, validated as Kafka validates it; else INVALID_REQUEST with a message.
pub fn binding(wire: WireBinding) -> Result<AclBinding, (i16, String)> {
    let invalid = |message: String| (ResponseError::InvalidRequest.code(), message);
    let resource_type = ResourceType::from_code(wire.resource_type)
        .ok_or_else(|| invalid(format!("invalid resource type {}", wire.resource_type)))?;
    let pattern_type = PatternType::from_code(wire.pattern_type).ok_or_else(|| {
        invalid(format!(
            "invalid pattern type {} (LITERAL 3 or PREFIXED 4)",
            wire.pattern_type
        ))
    })?;
    let operation = Operation::from_code(wire.operation)
        .ok_or_else(|| invalid(format!("invalid operation {}", wire.operation)))?;
    let permission = Permission::from_code(wire.permission).ok_or_else(|| {
        invalid(format!(
            "invalid permission type {} (DENY 2 or ALLOW 3)",
            wire.permission
        ))
    })?;
    if !wire.principal.starts_with("User:") {
        return Err(invalid(format!(
            "invalid principal {:?}: expected User:<name>",
            wire.principal
        )));
    }
    let principal = parse_principal(wire.principal).map_err(invalid)?;
    if wire.resource_name.is_empty() || wire.host.is_empty() {
        return Err(invalid(
            "resource name and host must not be empty".to_string(),
        ));
    }
    if resource_type == ResourceType::Cluster && wire.resource_name != CLUSTER_NAME {
        return Err(invalid(format!(
            "the only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        )));
    }
    Ok(AclBinding {
        resource_type,
        resource_name: wire.resource_name.to_string(),
        pattern_type,
        principal,
        host: wire.host.to_string(),
        operation,
        permission,
    })
}
