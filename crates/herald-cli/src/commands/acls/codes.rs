//! librdkafka's codes for the ACL model (`rd_kafka_ResourceType_t`, `rd_kafka_AclOperation_t`, ...)
//! and back: safe, pure mappings used by `ffi.rs`. librdkafka calls the cluster resource BROKER.

use rdkafka_sys as sys;

use super::binding::{Operation, PatternType, Permission, ResourceType};

pub fn resource_type_to_sys(value: ResourceType) -> sys::rd_kafka_ResourceType_t {
    use sys::rd_kafka_ResourceType_t::*;
    match value {
        ResourceType::Any => RD_KAFKA_RESOURCE_ANY,
        ResourceType::Topic => RD_KAFKA_RESOURCE_TOPIC,
        ResourceType::Group => RD_KAFKA_RESOURCE_GROUP,
        ResourceType::Cluster => RD_KAFKA_RESOURCE_BROKER,
        ResourceType::TransactionalId => RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
        ResourceType::Unknown => RD_KAFKA_RESOURCE_UNKNOWN,
    }
}

pub fn resource_type_from_sys(value: sys::rd_kafka_ResourceType_t) -> ResourceType {
    use sys::rd_kafka_ResourceType_t::*;
    match value {
        RD_KAFKA_RESOURCE_ANY => ResourceType::Any,
        RD_KAFKA_RESOURCE_TOPIC => ResourceType::Topic,
        RD_KAFKA_RESOURCE_GROUP => ResourceType::Group,
        RD_KAFKA_RESOURCE_BROKER => ResourceType::Cluster,
        RD_KAFKA_RESOURCE_TRANSACTIONAL_ID => ResourceType::TransactionalId,
        RD_KAFKA_RESOURCE_UNKNOWN | RD_KAFKA_RESOURCE__CNT => ResourceType::Unknown,
    }
}

pub fn pattern_to_sys(value: PatternType) -> sys::rd_kafka_ResourcePatternType_t {
    use sys::rd_kafka_ResourcePatternType_t::*;
    match value {
        PatternType::Any => RD_KAFKA_RESOURCE_PATTERN_ANY,
        PatternType::Match => RD_KAFKA_RESOURCE_PATTERN_MATCH,
        PatternType::Literal => RD_KAFKA_RESOURCE_PATTERN_LITERAL,
        PatternType::Prefixed => RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
        PatternType::Unknown => RD_KAFKA_RESOURCE_PATTERN_UNKNOWN,
    }
}

pub fn pattern_from_sys(value: sys::rd_kafka_ResourcePatternType_t) -> PatternType {
    use sys::rd_kafka_ResourcePatternType_t::*;
    match value {
        RD_KAFKA_RESOURCE_PATTERN_ANY => PatternType::Any,
        RD_KAFKA_RESOURCE_PATTERN_MATCH => PatternType::Match,
        RD_KAFKA_RESOURCE_PATTERN_LITERAL => PatternType::Literal,
        RD_KAFKA_RESOURCE_PATTERN_PREFIXED => PatternType::Prefixed,
        RD_KAFKA_RESOURCE_PATTERN_UNKNOWN | RD_KAFKA_RESOURCE_PATTERN_TYPE__CNT => {
            PatternType::Unknown
        }
    }
}

/// Operations in librdkafka's order, each with its librdkafka value.
const OPERATIONS: [(Operation, sys::rd_kafka_AclOperation_t); 13] = {
    use sys::rd_kafka_AclOperation_t::*;
    [
        (Operation::Unknown, RD_KAFKA_ACL_OPERATION_UNKNOWN),
        (Operation::Any, RD_KAFKA_ACL_OPERATION_ANY),
        (Operation::All, RD_KAFKA_ACL_OPERATION_ALL),
        (Operation::Read, RD_KAFKA_ACL_OPERATION_READ),
        (Operation::Write, RD_KAFKA_ACL_OPERATION_WRITE),
        (Operation::Create, RD_KAFKA_ACL_OPERATION_CREATE),
        (Operation::Delete, RD_KAFKA_ACL_OPERATION_DELETE),
        (Operation::Alter, RD_KAFKA_ACL_OPERATION_ALTER),
        (Operation::Describe, RD_KAFKA_ACL_OPERATION_DESCRIBE),
        (
            Operation::ClusterAction,
            RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION,
        ),
        (
            Operation::DescribeConfigs,
            RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
        ),
        (
            Operation::AlterConfigs,
            RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS,
        ),
        (
            Operation::IdempotentWrite,
            RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
        ),
    ]
};

pub fn operation_to_sys(value: Operation) -> sys::rd_kafka_AclOperation_t {
    OPERATIONS.iter().find(|(op, _)| *op == value).map_or(
        sys::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_UNKNOWN,
        |(_, c)| *c,
    )
}

pub fn operation_from_sys(value: sys::rd_kafka_AclOperation_t) -> Operation {
    OPERATIONS
        .iter()
        .find(|(_, c)| *c == value)
        .map_or(Operation::Unknown, |(op, _)| *op)
}

pub fn permission_to_sys(value: Option<Permission>) -> sys::rd_kafka_AclPermissionType_t {
    use sys::rd_kafka_AclPermissionType_t::*;
    match value {
        None => RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
        Some(Permission::Allow) => RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
        Some(Permission::Deny) => RD_KAFKA_ACL_PERMISSION_TYPE_DENY,
        Some(Permission::Unknown) => RD_KAFKA_ACL_PERMISSION_TYPE_UNKNOWN,
    }
}

pub fn permission_from_sys(value: sys::rd_kafka_AclPermissionType_t) -> Permission {
    use sys::rd_kafka_AclPermissionType_t::*;
    match value {
        RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW => Permission::Allow,
        RD_KAFKA_ACL_PERMISSION_TYPE_DENY => Permission::Deny,
        RD_KAFKA_ACL_PERMISSION_TYPE_UNKNOWN
        | RD_KAFKA_ACL_PERMISSION_TYPE_ANY
        | RD_KAFKA_ACL_PERMISSION_TYPE__CNT => Permission::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Every CLI operation maps to librdkafka's value and back unchanged.
    #[test]
    fn operations_round_trip() {
        for (op, code) in OPERATIONS {
            assert_eq!(operation_to_sys(op), code);
            assert_eq!(operation_from_sys(code), op);
        }
        assert_eq!(
            operation_to_sys(Operation::DescribeConfigs) as u32,
            10,
            "Kafka's wire code"
        );
    }

    // Kafka calls the cluster resource BROKER in librdkafka (code 4); the CLI says cluster.
    #[test]
    fn cluster_is_librdkafkas_broker_resource() {
        let code = resource_type_to_sys(ResourceType::Cluster);
        assert_eq!(code as u32, 4);
        assert_eq!(resource_type_from_sys(code), ResourceType::Cluster);
        for pattern in [
            PatternType::Any,
            PatternType::Match,
            PatternType::Literal,
            PatternType::Prefixed,
        ] {
            assert_eq!(pattern_from_sys(pattern_to_sys(pattern)), pattern);
        }
    }
}
