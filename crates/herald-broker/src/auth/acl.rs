//! ACLs: which principal may (or may not) do what to which resources, as Kafka's authorizer decides
//! it. Pure: no I/O after load. Bindings come from the ACL file (`--acl FILE`) and from the admin
//! API (CreateAcls, persisted by `acl_store.rs`); both are checked together.
//!
//! Kafka's rules, kept exactly: a binding matches a principal (`User:alice`, or `User:*` for any),
//! a host (`*` for any), a resource type, and a name by its pattern type (LITERAL: the name itself,
//! or `*` for every name; PREFIXED: names starting with it). A matching DENY for the operation (or
//! for ALL) refuses, whatever allows it; otherwise a matching ALLOW for the operation, for ALL, or for
//! one that implies it (READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies
//! DESCRIBE_CONFIGS) permits; nothing matching refuses.
//!
//! The file holds one binding per line, whitespace-separated, `#` starts a comment:
//!
//! ```text
//! # [allow|deny] principal  resource          pattern        operations
//! User:alice     topic     orders    read,write
//! alice          group     billing   read
//! bob            topic     audit.*   describe
//! *              topic     *         describe
//! deny bob       topic     audit.secret  all
//! User:admin     cluster   *         all
//! ```
//!
//! principal is `User:<name>` (a bare name means the same), `*` or `User:*` for any principal.
//! resource is `topic`, `group`, `cluster` or `transactional-id`. pattern is a literal name, a prefix
//! ending in `*`, or `*` for every name. operations are `read`, `write`, `create`, `delete`,
//! `describe`, `alter`, `describe-configs`, `alter-configs`, `cluster-action`, `idempotent-write` or
//! `all`, comma-separated. Not here: which API needs which operation (`rules.rs`).
//!
//! Main types: [`Acls`], [`AclBinding`], [`ResourceType`], [`Operation`], [`PatternType`].

use std::path::Path;

use crate::BrokerError;

/// What an ACL protects (Kafka's ResourceType codes).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ResourceType {
    Topic = 2,
    Group = 3,
    Cluster = 4,
    TransactionalId = 5,
}

/// What a principal does to a resource (Kafka's AclOperation codes).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Operation {
    All = 2,
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    /// Changing a topic's shape (CreatePartitions), or the cluster's ACLs.
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
}

/// How a binding's name matches resource names (Kafka's PatternType codes).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum PatternType {
    /// The name itself; `*` matches every name.
    Literal = 3,
    /// Names that start with it.
    Prefixed = 4,
}

/// Allow or deny (Kafka's AclPermissionType codes).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Permission {
    Deny = 2,
    Allow = 3,
}

impl ResourceType {
    /// The type for a Kafka code (2-5), if herald has it.
    pub fn from_code(code: i8) -> Option<Self> {
        Some(match code {
            2 => Self::Topic,
            3 => Self::Group,
            4 => Self::Cluster,
            5 => Self::TransactionalId,
            _ => return None,
        })
    }
}

impl Operation {
    /// Every operation but ALL, in code order.
    pub const EACH: [Operation; 10] = [
        Operation::Read,
        Operation::Write,
        Operation::Create,
        Operation::Delete,
        Operation::Alter,
        Operation::Describe,
        Operation::ClusterAction,
        Operation::DescribeConfigs,
        Operation::AlterConfigs,
        Operation::IdempotentWrite,
    ];

    /// The operation for a Kafka code (2-12), if herald has it.
    pub fn from_code(code: i8) -> Option<Self> {
        Self::EACH
            .into_iter()
            .chain([Operation::All])
            .find(|op| *op as i8 == code)
    }

    fn parse(word: &str) -> Result<Operation, String> {
        Ok(match word {
            "all" => Operation::All,
            "read" => Operation::Read,
            "write" => Operation::Write,
            "create" => Operation::Create,
            "delete" => Operation::Delete,
            "alter" => Operation::Alter,
            "describe" => Operation::Describe,
            "cluster-action" => Operation::ClusterAction,
            "describe-configs" => Operation::DescribeConfigs,
            "alter-configs" => Operation::AlterConfigs,
            "idempotent-write" => Operation::IdempotentWrite,
            other => return Err(format!("unknown operation {other:?}")),
        })
    }

    /// Whether an ALLOW of `self` permits `wanted`.
    fn allows(self, wanted: Operation) -> bool {
        self == wanted
            || self == Operation::All
            || (wanted == Operation::Describe
                && matches!(
                    self,
                    Operation::Read | Operation::Write | Operation::Delete | Operation::Alter
                ))
            || (wanted == Operation::DescribeConfigs && self == Operation::AlterConfigs)
    }
}

impl PatternType {
    /// The pattern type for a Kafka code (3 literal, 4 prefixed).
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            3 => Some(Self::Literal),
            4 => Some(Self::Prefixed),
            _ => None,
        }
    }
}

impl Permission {
    /// The permission for a Kafka code (2 deny, 3 allow).
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            2 => Some(Self::Deny),
            3 => Some(Self::Allow),
            _ => None,
        }
    }
}

/// One ACL, as Kafka's admin API names its parts.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `User:alice`, or `User:*` for every principal.
    pub principal: String,
    /// A client host, or `*` for any.
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

impl AclBinding {
    /// Whether this binding speaks of `principal` on `host` and of the `resource` named `name`.
    fn covers(&self, principal: &str, host: &str, resource: ResourceType, name: &str) -> bool {
        self.resource_type == resource
            && (self.principal == principal || self.principal == "User:*")
            && (self.host == "*" || self.host == host)
            && match self.pattern_type {
                PatternType::Literal => self.resource_name == name || self.resource_name == "*",
                PatternType::Prefixed => name.starts_with(self.resource_name.as_str()),
            }
    }
}

/// Kafka's decision over a set of bindings: a matching deny refuses, else a matching allow permits.
pub fn decide<'a>(
    bindings: impl Iterator<Item = &'a AclBinding> + Clone,
    principal: &str,
    host: &str,
    resource: ResourceType,
    name: &str,
    operation: Operation,
) -> bool {
    let matching = bindings.filter(|b| b.covers(principal, host, resource, name));
    let denied = matching.clone().any(|b| {
        b.permission == Permission::Deny
            && (b.operation == operation || b.operation == Operation::All)
    });
    !denied
        && matching
            .into_iter()
            .any(|b| b.permission == Permission::Allow && b.operation.allows(operation))
}

/// Whether some allow binding grants `operation` on some `resource` (any name), with no deny of it
/// for every name: what Kafka asks of an idempotent producer's InitProducerId (KIP-679).
pub fn decide_any<'a>(
    bindings: impl Iterator<Item = &'a AclBinding> + Clone,
    principal: &str,
    host: &str,
    resource: ResourceType,
    operation: Operation,
) -> bool {
    let mine = |b: &&AclBinding| {
        b.resource_type == resource
            && (b.principal == principal || b.principal == "User:*")
            && (b.host == "*" || b.host == host)
    };
    let denied_everywhere = bindings.clone().filter(mine).any(|b| {
        b.permission == Permission::Deny
            && b.pattern_type == PatternType::Literal
            && b.resource_name == "*"
            && (b.operation == operation || b.operation == Operation::All)
    });
    !denied_everywhere
        && bindings
            .filter(mine)
            .any(|b| b.permission == Permission::Allow && b.operation.allows(operation))
}

/// The bindings of the ACL file.
#[derive(Debug, Clone, Default)]
pub struct Acls {
    bindings: Vec<AclBinding>,
}

impl Acls {
    /// Reads and parses the ACL file.
    pub fn load(path: &Path) -> Result<Self, BrokerError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| BrokerError::io("read ACL file", path, e))?;
        Self::parse(&text).map_err(|reason| BrokerError::InvalidSecurityFile {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses the ACL file's text; the error names the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut bindings = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let parsed =
                parse_line(line).map_err(|reason| format!("line {}: {reason}", index + 1))?;
            bindings.extend(parsed);
        }
        Ok(Self { bindings })
    }

    /// The bindings, one per operation of each line.
    pub fn bindings(&self) -> &[AclBinding] {
        &self.bindings
    }

    /// Whether `principal` (`User:alice`) may do `operation` to the `resource` named `name`, from any
    /// host (the file's bindings are host `*`).
    pub fn allows(
        &self,
        principal: &str,
        resource: ResourceType,
        name: &str,
        operation: Operation,
    ) -> bool {
        decide(
            self.bindings.iter(),
            principal,
            "*",
            resource,
            name,
            operation,
        )
    }

    /// Whether `principal` may do `operation` to at least one `resource`.
    pub fn allows_any(
        &self,
        principal: &str,
        resource: ResourceType,
        operation: Operation,
    ) -> bool {
        decide_any(self.bindings.iter(), principal, "*", resource, operation)
    }

    /// How many bindings are loaded.
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    /// Whether the file held no binding (then everything is denied).
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }
}

fn parse_line(line: &str) -> Result<Vec<AclBinding>, String> {
    let mut fields: Vec<&str> = line.split_whitespace().collect();
    let permission = match fields.first() {
        Some(&"deny") => Permission::Deny,
        Some(&"allow") => Permission::Allow,
        _ => Permission::Allow,
    };
    if matches!(fields.first(), Some(&"deny") | Some(&"allow")) {
        fields.remove(0);
    }
    let [principal, resource, pattern, operations] = fields.as_slice() else {
        return Err(format!(
            "expected `[allow|deny] principal resource pattern operations`, found {} fields",
            fields.len()
        ));
    };
    let principal = parse_principal(principal)?;
    let resource_type = match *resource {
        "topic" => ResourceType::Topic,
        "group" => ResourceType::Group,
        "cluster" => ResourceType::Cluster,
        "transactional-id" => ResourceType::TransactionalId,
        other => {
            return Err(format!(
                "unknown resource {other:?} (topic, group, cluster or transactional-id)"
            ))
        }
    };
    let (pattern_type, resource_name) = match pattern.strip_suffix('*') {
        Some("") => (PatternType::Literal, "*".to_string()),
        Some(prefix) => (PatternType::Prefixed, prefix.to_string()),
        None => (PatternType::Literal, pattern.to_string()),
    };
    let mut parsed = Vec::new();
    for word in operations.split(',').filter(|w| !w.is_empty()) {
        parsed.push(AclBinding {
            resource_type,
            resource_name: resource_name.clone(),
            pattern_type,
            principal: principal.clone(),
            host: "*".to_string(),
            operation: Operation::parse(word)?,
            permission,
        });
    }
    if parsed.is_empty() {
        return Err("no operations".into());
    }
    Ok(parsed)
}

/// `User:<name>`, a bare name, `*` or `User:*`, as the canonical `User:...` form.
pub fn parse_principal(principal: &str) -> Result<String, String> {
    match principal {
        "*" | "User:*" => Ok("User:*".to_string()),
        p if p.starts_with("User:") && p.len() > "User:".len() => Ok(p.to_string()),
        p if !p.contains(':') && !p.is_empty() => Ok(format!("User:{p}")),
        p => Err(format!("unknown principal type in {p:?} (User:<name>)")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use Operation::*;
    use ResourceType::*;

    const FILE: &str = "
        # comment
        User:alice  topic  orders   read,write   # trailing comment
        alice       group  billing  read
        bob         topic  audit.*  describe
        *           topic  public   all
        deny carol  topic  public   delete
        admin       cluster *       alter-configs
    ";

    // Literal, prefix and wildcard patterns match what they say and nothing more; deny by default.
    #[test]
    fn rules_match_principal_resource_name_and_operation() {
        let acls = Acls::parse(FILE).unwrap();
        assert_eq!(acls.len(), 7);
        assert!(acls.allows("User:alice", Topic, "orders", Write));
        assert!(acls.allows("User:alice", Topic, "orders", Describe));
        assert!(!acls.allows("User:alice", Topic, "orders", Delete));
        assert!(!acls.allows("User:alice", Topic, "orders2", Read));
        assert!(!acls.allows("User:alice", Group, "orders", Read));
        assert!(acls.allows("User:alice", Group, "billing", Read));
        assert!(!acls.allows("User:bob", Group, "billing", Read));
        assert!(acls.allows("User:bob", Topic, "audit.2024", Describe));
        assert!(!acls.allows("User:bob", Topic, "audit.2024", Read));
        assert!(!acls.allows("User:bob", Topic, "audit", Describe));
        assert!(acls.allows("User:dave", Topic, "public", Delete));
        assert!(!acls.allows("User:dave", Topic, "orders", Describe));
        assert!(!Acls::default().allows("User:alice", Topic, "orders", Read));
        assert!(acls.allows("User:dave", Topic, "public", Alter));
        assert!(!acls.allows("User:alice", Topic, "orders", Alter));
        assert!(acls.allows_any("User:alice", Topic, Write));
        assert!(acls.allows_any("User:bob", Topic, Write)); // through `* topic public all`
        assert!(!Acls::default().allows_any("User:bob", Topic, Write));
        assert!(!acls.allows_any("User:bob", Group, Read));
        // ALTER_CONFIGS implies DESCRIBE_CONFIGS, and `*` as a literal name matches every name.
        assert!(acls.allows("User:admin", Cluster, "kafka-cluster", DescribeConfigs));
        assert!(!acls.allows("User:admin", Cluster, "kafka-cluster", Alter));
    }

    // A deny refuses what an allow (even ALL, even for every principal) would permit, and only that.
    #[test]
    fn deny_wins_over_allow() {
        let acls = Acls::parse(FILE).unwrap();
        assert!(!acls.allows("User:carol", Topic, "public", Delete));
        assert!(acls.allows("User:carol", Topic, "public", Read));
        assert!(acls.allows("User:carol", Topic, "public", Describe));
        let everything = Acls::parse("* topic * all\ndeny bob topic * all").unwrap();
        assert!(!everything.allows_any("User:bob", Topic, Write));
        assert!(everything.allows_any("User:alice", Topic, Write));
    }

    // Malformed rules are refused with their line number.
    #[test]
    fn malformed_rules_are_refused() {
        for bad in [
            "alice topic orders",
            "alice broker kafka read",
            "alice topic orders fly",
            "Group:x topic orders read",
            "alice topic orders ,",
            "deny alice topic orders",
        ] {
            let error = Acls::parse(&format!("\n{bad}")).unwrap_err();
            assert!(error.starts_with("line 2:"), "{error}");
        }
    }
}
