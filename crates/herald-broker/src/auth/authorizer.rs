//! [`Authorizer`]: one connection's principal and the ACLs it is checked against, cheap to clone
//! into every request's context. Without ACLs configured it allows everything and
//! [`Authorizer::enforcing`] is false, so the registry skips the rules altogether.

use std::sync::Arc;

use super::acl::{Operation, ResourceType};
use super::acl_store::AclStore;

/// Who sent a request, and what they may do.
#[derive(Clone, Debug)]
pub struct Authorizer {
    acls: Option<Arc<AclStore>>,
    principal: Arc<str>,
    host: Arc<str>,
}

impl Authorizer {
    /// `principal`, connected from `host`, checked against `acls`; `None` allows everything.
    pub fn new(acls: Option<Arc<AclStore>>, principal: &str, host: &str) -> Self {
        Self {
            acls,
            principal: Arc::from(principal),
            host: Arc::from(host),
        }
    }

    /// The ACL store, when ACLs are configured (the ACL admin APIs use it).
    pub fn store(&self) -> Option<&Arc<AclStore>> {
        self.acls.as_ref()
    }

    /// The principal (`User:alice`).
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// Whether ACLs are configured (else every rule would allow everything).
    pub fn enforcing(&self) -> bool {
        self.acls.is_some()
    }

    /// Whether the principal may do `operation` to the `resource` named `name`.
    pub fn allows(&self, resource: ResourceType, name: &str, operation: Operation) -> bool {
        self.acls
            .as_ref()
            .is_none_or(|acls| acls.allows(&self.principal, &self.host, resource, name, operation))
    }

    /// Whether the principal may do `operation` to at least one `resource` (KIP-679's check).
    pub fn allows_any(&self, resource: ResourceType, operation: Operation) -> bool {
        self.acls
            .as_ref()
            .is_none_or(|acls| acls.allows_any(&self.principal, &self.host, resource, operation))
    }
}
