//! Kafka's ACL model as the CLI speaks it: resource types, pattern types, operations and permissions
//! with their command-line words, an [`AclBinding`] (one rule) and an [`AclFilter`] (what DescribeAcls
//! and DeleteAcls select), and the answers' errors ([`Refusal`], [`AclCallError`]). Pure data: the
//! librdkafka calls are in `ffi.rs`.
//!
//! The words are the ACL file's (`topic`, `transactional-id`, `describe-configs`, ...), so a binding
//! reads the same in `herald acls list` as in the broker's `--acl FILE`.

use std::fmt;
use std::time::Duration;

use rdkafka::types::RDKafkaErrorCode;
use serde_json::{json, Value};

/// The one resource name of the cluster resource, as in Kafka.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// What a binding is about. `Any` only in filters; `Unknown` only in answers (a code librdkafka did
/// not recognise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum ResourceType {
    Any,
    Topic,
    Group,
    Cluster,
    TransactionalId,
    #[value(skip)]
    Unknown,
}

/// How a binding's resource name matches resources. `Any` and `Match` only in filters: `Match`
/// selects every binding that applies to the named resource (literal, `*` and prefixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum PatternType {
    Any,
    Match,
    Literal,
    Prefixed,
    #[value(skip)]
    Unknown,
}

/// What a binding allows or denies. `Any` only in filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Operation {
    Any,
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
    #[value(skip)]
    Unknown,
}

/// Allow or deny; `None` in a filter means either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    Allow,
    Deny,
    Unknown,
}

/// The command-line word of a value (`transactional-id`, `describe-configs`, ...).
fn word<T: clap::ValueEnum>(value: &T) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&word(self))
    }
}

impl fmt::Display for PatternType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&word(self))
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&word(self))
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Permission::Allow => "allow",
            Permission::Deny => "deny",
            Permission::Unknown => "unknown",
        })
    }
}

/// One ACL rule: `permission` `principal` from `host` to `operation` the resources that
/// `resource_name` selects under `pattern_type`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    pub principal: String,
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

impl AclBinding {
    /// The binding as a JSON object with the CLI's words.
    pub fn to_json(&self) -> Value {
        json!({
            "principal": self.principal,
            "permission": self.permission.to_string(),
            "operation": self.operation.to_string(),
            "resource_type": self.resource_type.to_string(),
            "pattern_type": self.pattern_type.to_string(),
            "resource_name": self.resource_name,
            "host": self.host,
        })
    }

    /// The cells of a table row, in [`AclBinding::TABLE_HEADER`] order.
    pub fn table_row(&self) -> Vec<String> {
        vec![
            self.principal.clone(),
            self.permission.to_string(),
            self.operation.to_string(),
            self.resource_type.to_string(),
            self.pattern_type.to_string(),
            self.resource_name.clone(),
            self.host.clone(),
        ]
    }

    /// The column names of [`AclBinding::table_row`].
    pub const TABLE_HEADER: [&'static str; 7] = [
        "PRINCIPAL",
        "PERMISSION",
        "OPERATION",
        "RESOURCE TYPE",
        "PATTERN",
        "RESOURCE",
        "HOST",
    ];
}

impl fmt::Display for AclBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {:?} from host {:?}",
            self.permission,
            self.principal,
            self.operation,
            self.resource_type,
            self.pattern_type,
            self.resource_name,
            self.host
        )
    }
}

/// What DescribeAcls lists and DeleteAcls removes; `None` fields match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: ResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Operation,
    pub permission: Option<Permission>,
}

impl AclFilter {
    /// A filter that selects every binding.
    pub fn any() -> Self {
        Self {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: Operation::Any,
            permission: None,
        }
    }
}

/// An error librdkafka or the broker answered, with its code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: RDKafkaErrorCode,
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.message, self.code)
    }
}

impl std::error::Error for Refusal {}

/// Why a whole ACL call failed.
#[derive(Debug)]
pub enum AclCallError {
    /// An argument librdkafka refuses (a NUL byte in a name, ANY in a binding, ...).
    InvalidArgument(String),
    /// librdkafka or the broker failed the call (unreachable brokers, timeout, ...).
    Failed(Refusal),
    /// No result event arrived within the deadline.
    NoAnswer(Duration),
    /// librdkafka answered this API's call with an event of another type.
    UnexpectedEvent(&'static str),
}

impl fmt::Display for AclCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AclCallError::InvalidArgument(message) => write!(f, "invalid argument: {message}"),
            AclCallError::Failed(refusal) => refusal.fmt(f),
            AclCallError::NoAnswer(waited) => write!(f, "no answer within {waited:?}"),
            AclCallError::UnexpectedEvent(api) => {
                write!(f, "librdkafka answered {api} with another event type")
            }
        }
    }
}

impl std::error::Error for AclCallError {}

/// One binding DeleteAcls matched: removed, or `refused` with the broker's reason (e.g. a binding of
/// herald-broker's ACL file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub binding: AclBinding,
    pub refused: Option<Refusal>,
}

/// Checks a principal has Kafka's `Type:name` form (`User:alice`, `User:*`), for clap.
pub fn parse_principal(text: &str) -> Result<String, String> {
    match text.split_once(':') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => Ok(text.to_string()),
        _ => Err(format!(
            "expected a principal of the form Type:name, e.g. User:alice or User:*, got {text:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The CLI prints the ACL file's words, so bindings read the same in both places.
    #[test]
    fn words_match_the_acl_file() {
        assert_eq!(
            ResourceType::TransactionalId.to_string(),
            "transactional-id"
        );
        assert_eq!(Operation::DescribeConfigs.to_string(), "describe-configs");
        assert_eq!(Operation::IdempotentWrite.to_string(), "idempotent-write");
        assert_eq!(PatternType::Prefixed.to_string(), "prefixed");
        assert_eq!(Permission::Deny.to_string(), "deny");
        assert_eq!(ResourceType::Unknown.to_string(), "unknown");
    }

    // A principal needs a type and a name; a bare name is refused before anything is sent.
    #[test]
    fn principals_need_a_type() {
        assert_eq!(parse_principal("User:bob").as_deref(), Ok("User:bob"));
        assert!(parse_principal("User:*").is_ok());
        assert!(parse_principal("bob").is_err());
        assert!(parse_principal("User:").is_err());
        assert!(parse_principal(":bob").is_err());
    }

    // JSON carries every field under a stable name.
    #[test]
    fn binding_json_names_every_field() {
        let binding = AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: "orders.".into(),
            pattern_type: PatternType::Prefixed,
            principal: "User:bob".into(),
            host: "*".into(),
            operation: Operation::Describe,
            permission: Permission::Allow,
        };
        assert_eq!(
            binding.to_json(),
            json!({"principal": "User:bob", "permission": "allow", "operation": "describe",
                   "resource_type": "topic", "pattern_type": "prefixed",
                   "resource_name": "orders.", "host": "*"})
        );
        assert_eq!(binding.table_row().len(), AclBinding::TABLE_HEADER.len());
    }
}
