//! The ACL file (`--acl FILE`): which principal may do what to which topics and groups. Allow rules
//! only; once an ACL file is configured, anything no rule allows is denied.
//!
//! One rule per line, whitespace-separated, `#` starts a comment:
//!
//! ```text
//! # principal    resource  pattern    operations
//! User:alice     topic     orders     read,write
//! User:alice     group     billing    read
//! bob            topic     audit.*    describe
//! *              topic     *          describe
//! ```
//!
//! principal is `User:<name>` (a bare name means the same), `*` or `User:*` for any authenticated
//! principal. resource is `topic` or `group`. pattern is a literal name, a prefix ending in `*`, or
//! `*` for every name. operations are `read`, `write`, `create`, `delete`, `describe`, `alter` or
//! `all`, comma-separated; as in Kafka, read, write, delete and alter imply describe. Pure: no I/O after load.
//! Not here: which API needs which operation (`enforce.rs`).
//!
//! Main types: [`Acls`], [`ResourceType`], [`Operation`].

use std::path::Path;

use crate::BrokerError;

/// What an ACL rule protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Topic,
    Group,
}

/// What a principal does to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Read,
    Write,
    Create,
    Delete,
    Describe,
    /// Changing a topic's shape (CreatePartitions).
    Alter,
}

impl Operation {
    fn parse(word: &str) -> Result<Vec<Operation>, String> {
        Ok(match word {
            "read" => vec![Operation::Read],
            "write" => vec![Operation::Write],
            "create" => vec![Operation::Create],
            "delete" => vec![Operation::Delete],
            "describe" => vec![Operation::Describe],
            "alter" => vec![Operation::Alter],
            "all" => vec![
                Operation::Read,
                Operation::Write,
                Operation::Create,
                Operation::Delete,
                Operation::Describe,
                Operation::Alter,
            ],
            other => return Err(format!("unknown operation {other:?}")),
        })
    }

    /// Whether a rule granting `self` also grants `wanted`.
    fn grants(self, wanted: Operation) -> bool {
        self == wanted
            || (wanted == Operation::Describe
                && matches!(
                    self,
                    Operation::Read | Operation::Write | Operation::Delete | Operation::Alter
                ))
    }
}

/// Which names a rule covers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Any,
    Prefix(String),
    Literal(String),
}

impl Pattern {
    fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Prefix(prefix) => name.starts_with(prefix.as_str()),
            Pattern::Literal(literal) => name == literal,
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    /// `None` matches every principal.
    principal: Option<String>,
    resource: ResourceType,
    pattern: Pattern,
    operations: Vec<Operation>,
}

impl Rule {
    /// Whether this rule gives `principal` `operation` on some names of `resource`.
    fn grants(&self, principal: &str, resource: ResourceType, operation: Operation) -> bool {
        self.resource == resource
            && self.principal.as_deref().is_none_or(|p| p == principal)
            && self.operations.iter().any(|o| o.grants(operation))
    }
}

/// Every allow rule of the ACL file.
#[derive(Debug, Clone, Default)]
pub struct Acls {
    rules: Vec<Rule>,
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
        let mut rules = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let rule =
                parse_rule(line).map_err(|reason| format!("line {}: {reason}", index + 1))?;
            rules.push(rule);
        }
        Ok(Self { rules })
    }

    /// Whether `principal` (`User:alice`) may do `operation` to the `resource` named `name`.
    pub fn allows(
        &self,
        principal: &str,
        resource: ResourceType,
        name: &str,
        operation: Operation,
    ) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.grants(principal, resource, operation) && rule.pattern.matches(name))
    }

    /// Whether `principal` may do `operation` to at least one `resource` (some name, any pattern):
    /// what Kafka asks of an idempotent producer's InitProducerId (write on any topic, KIP-679).
    pub fn allows_any(
        &self,
        principal: &str,
        resource: ResourceType,
        operation: Operation,
    ) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.grants(principal, resource, operation))
    }

    /// How many rules are loaded.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the file held no rule (then everything is denied).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn parse_rule(line: &str) -> Result<Rule, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [principal, resource, pattern, operations] = fields.as_slice() else {
        return Err(format!(
            "expected `principal resource pattern operations`, found {} fields",
            fields.len()
        ));
    };
    let principal = match *principal {
        "*" | "User:*" => None,
        p if p.starts_with("User:") && p.len() > "User:".len() => Some(p.to_string()),
        p if !p.contains(':') => Some(format!("User:{p}")),
        p => return Err(format!("unknown principal type in {p:?}")),
    };
    let resource = match *resource {
        "topic" => ResourceType::Topic,
        "group" => ResourceType::Group,
        other => return Err(format!("unknown resource {other:?} (topic or group)")),
    };
    let pattern = match pattern.strip_suffix('*') {
        Some("") => Pattern::Any,
        Some(prefix) => Pattern::Prefix(prefix.to_string()),
        None => Pattern::Literal(pattern.to_string()),
    };
    let mut parsed = Vec::new();
    for word in operations.split(',').filter(|w| !w.is_empty()) {
        parsed.extend(Operation::parse(word)?);
    }
    if parsed.is_empty() {
        return Err("no operations".into());
    }
    Ok(Rule {
        principal,
        resource,
        pattern,
        operations: parsed,
    })
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
    ";

    // Literal, prefix and wildcard patterns match what they say and nothing more; deny by default.
    #[test]
    fn rules_match_principal_resource_name_and_operation() {
        let acls = Acls::parse(FILE).unwrap();
        assert_eq!(acls.len(), 4);
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
        assert!(acls.allows("User:carol", Topic, "public", Delete));
        assert!(!acls.allows("User:carol", Topic, "orders", Describe));
        assert!(!Acls::default().allows("User:alice", Topic, "orders", Read));
        assert!(acls.allows("User:carol", Topic, "public", Alter));
        assert!(!acls.allows("User:alice", Topic, "orders", Alter));
        assert!(acls.allows_any("User:alice", Topic, Write));
        assert!(acls.allows_any("User:bob", Topic, Write)); // through `* topic public all`
        assert!(!Acls::default().allows_any("User:bob", Topic, Write));
        assert!(!acls.allows_any("User:bob", Group, Read));
    }

    // Malformed rules are refused with their line number.
    #[test]
    fn malformed_rules_are_refused() {
        for bad in [
            "alice topic orders",
            "alice cluster kafka read",
            "alice topic orders fly",
            "Group:x topic orders read",
            "alice topic orders ,",
        ] {
            let error = Acls::parse(&format!("\n{bad}")).unwrap_err();
            assert!(error.starts_with("line 2:"), "{error}");
        }
    }
}
