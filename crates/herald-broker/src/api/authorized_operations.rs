//! The `authorized_operations` bitfields (KIP-430) of Metadata (topics; the cluster in v8-10) and
//! DescribeGroups (v3+): bit `i` set when the client may do the operation whose Kafka `AclOperation`
//! code is `i`, over the operations Kafka supports for that resource type
//! (`AclEntry.supportedOperations`). Kafka answers `INT32_MIN` where the client did not ask.
//!
//! Without ACLs everything a resource supports is allowed, so the answer is the whole supported set,
//! as Kafka answers without an authorizer. With an ACL file the answer depends on the connection's
//! principal, which handlers do not receive yet (until the request context carries it):
//! [`unrestricted`] then answers [`NOT_PROVIDED`] rather than claim rights the principal may lack.
//! Main items: [`AclOperation`], [`AuthorizedResource`], [`authorized_operations`].

use crate::BrokerState;

/// What Kafka answers when authorized operations were not requested or are not known.
pub const NOT_PROVIDED: i32 = i32::MIN;

/// Kafka's `AclOperation` codes of the operations a topic, group or the cluster supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclOperation {
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
}

/// The resource types whose authorized operations clients ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizedResource {
    Topic,
    Group,
    Cluster,
}

impl AuthorizedResource {
    /// The operations Kafka supports on this resource type (`AclEntry.supportedOperations`).
    pub fn supported_operations(self) -> &'static [AclOperation] {
        use AclOperation::*;
        match self {
            AuthorizedResource::Topic => &[
                Read,
                Write,
                Create,
                Describe,
                Delete,
                Alter,
                DescribeConfigs,
                AlterConfigs,
            ],
            AuthorizedResource::Group => &[Read, Describe, Delete],
            AuthorizedResource::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
        }
    }
}

/// The bitfield of the operations on `resource` that `allowed` grants (Kafka's
/// `Utils.to32BitField` over the supported operations).
pub fn authorized_operations(
    resource: AuthorizedResource,
    allowed: impl Fn(AclOperation) -> bool,
) -> i32 {
    resource
        .supported_operations()
        .iter()
        .filter(|operation| allowed(**operation))
        .fold(0, |bits, operation| bits | 1 << (*operation as i32))
}

/// What a handler answers for `resource` when the client asked (`requested`): every supported
/// operation when no ACL file is configured; [`NOT_PROVIDED`] when not asked, or when ACLs apply
/// (the principal is not known here).
pub fn unrestricted(state: &BrokerState, resource: AuthorizedResource, requested: bool) -> i32 {
    if !requested || state.config.acl.is_some() {
        return NOT_PROVIDED;
    }
    authorized_operations(resource, |_| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Kafka's bitfields without an authorizer: what a Kafka broker answers for each resource type.
    #[test]
    fn everything_allowed_matches_kafka() {
        let all = |resource| authorized_operations(resource, |_| true);
        assert_eq!(all(AuthorizedResource::Topic), 3576);
        assert_eq!(all(AuthorizedResource::Group), 328);
        assert_eq!(all(AuthorizedResource::Cluster), 8096);
    }

    // Only the granted operations are set; nothing granted is 0, not INT32_MIN.
    #[test]
    fn only_granted_operations_are_set() {
        let describe_only = authorized_operations(AuthorizedResource::Topic, |operation| {
            operation == AclOperation::Describe
        });
        assert_eq!(describe_only, 1 << 8);
        assert_eq!(
            authorized_operations(AuthorizedResource::Group, |_| false),
            0
        );
    }
}
