//! The `authorized_operations` bitfields (KIP-430) of Metadata (topics; the cluster in v8-10),
//! DescribeGroups (v3+) and DescribeCluster: bit `i` set when the client may do the operation whose
//! Kafka `AclOperation` code is `i`, over the operations Kafka supports for that resource type
//! (`AclEntry.supportedOperations`). Kafka answers `INT32_MIN` where the client did not ask.
//!
//! The answer is the request's principal's, from its [`Authorizer`]: without ACLs everything a
//! resource supports is allowed, as Kafka answers without an authorizer.
//! Main items: [`authorized_operations`], [`for_principal`].

use crate::auth::acl::{Operation, ResourceType};
use crate::auth::Authorizer;

/// What Kafka answers when authorized operations were not requested.
pub const NOT_PROVIDED: i32 = i32::MIN;

/// The operations Kafka supports on a resource type (`AclEntry.supportedOperations`).
pub fn supported_operations(resource: ResourceType) -> &'static [Operation] {
    use Operation::*;
    match resource {
        ResourceType::Topic => &[
            Read,
            Write,
            Create,
            Describe,
            Delete,
            Alter,
            DescribeConfigs,
            AlterConfigs,
        ],
        ResourceType::Group => &[Read, Describe, Delete],
        ResourceType::Cluster => &[
            Create,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            Alter,
            Describe,
        ],
        ResourceType::TransactionalId => &[Describe, Write],
    }
}

/// The bitfield of the operations on `resource` that `allowed` grants (Kafka's
/// `Utils.to32BitField` over the supported operations).
pub fn authorized_operations(resource: ResourceType, allowed: impl Fn(Operation) -> bool) -> i32 {
    supported_operations(resource)
        .iter()
        .filter(|operation| allowed(**operation))
        .fold(0, |bits, operation| bits | 1 << (*operation as i32))
}

/// What the principal of `authorizer` may do to the `resource` named `name`, when `requested`;
/// else [`NOT_PROVIDED`].
pub fn for_principal(
    authorizer: &Authorizer,
    resource: ResourceType,
    name: &str,
    requested: bool,
) -> i32 {
    if !requested {
        return NOT_PROVIDED;
    }
    authorized_operations(resource, |operation| {
        authorizer.allows(resource, name, operation)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Kafka's bitfields without an authorizer: what a Kafka broker answers for each resource type.
    #[test]
    fn everything_allowed_matches_kafka() {
        let all = |resource| authorized_operations(resource, |_| true);
        assert_eq!(all(ResourceType::Topic), 3576);
        assert_eq!(all(ResourceType::Group), 328);
        assert_eq!(all(ResourceType::Cluster), 8096);
    }

    // Only the granted operations are set; nothing granted is 0, not INT32_MIN.
    #[test]
    fn only_granted_operations_are_set() {
        let describe_only = authorized_operations(ResourceType::Topic, |operation| {
            operation == Operation::Describe
        });
        assert_eq!(describe_only, 1 << 8);
        assert_eq!(authorized_operations(ResourceType::Group, |_| false), 0);
    }
}
