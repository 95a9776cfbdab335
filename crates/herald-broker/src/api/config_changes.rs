//! What AlterConfigs and IncrementalAlterConfigs share: one resource's config changes, checked and
//! applied as Kafka does. A topic's new overrides are validated whole (every name known, every value
//! of its type, lists only for APPEND/SUBTRACT) and, unless `validate_only`, persisted and applied to
//! its partitions at once. Broker settings are `herald broker` flags, read-only while it runs.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::topic_config::catalog::{self, Kind};
use crate::topic_config::{self, TopicConfigs};
use crate::BrokerState;

/// One change to one config.
#[derive(Debug, Clone)]
pub enum Change {
    /// SET (0): the value (null is refused).
    Set(String, Option<String>),
    /// DELETE (1): back to the default.
    Delete(String),
    /// APPEND (2): add items to a list config.
    Append(String, Option<String>),
    /// SUBTRACT (3): remove items from a list config.
    Subtract(String, Option<String>),
}

impl Change {
    fn name(&self) -> &str {
        match self {
            Change::Set(n, _)
            | Change::Delete(n)
            | Change::Append(n, _)
            | Change::Subtract(n, _) => n,
        }
    }
}

/// A failed resource: the Kafka error code and a message.
pub type Failure = (i16, String);

/// Applies `changes` to the resource; `replace` starts from no overrides (AlterConfigs) instead of
/// the current ones (IncrementalAlterConfigs).
pub async fn apply(
    state: &Arc<BrokerState>,
    resource_type: i8,
    resource_name: &str,
    changes: Vec<Change>,
    replace: bool,
    validate_only: bool,
) -> Result<(), Failure> {
    let invalid_request = |message: String| (ResponseError::InvalidRequest.code(), message);
    match resource_type {
        RESOURCE_TOPIC => {}
        RESOURCE_BROKER => return Err(invalid_request(
            "herald's broker settings are flags of `herald broker` and cannot change while it runs"
                .into(),
        )),
        other => {
            return Err(invalid_request(format!(
                "unsupported config resource type {other}"
            )))
        }
    }
    let mut names: Vec<&str> = changes.iter().map(Change::name).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(invalid_request("error due to duplicate config keys".into()));
    }
    let Some(topic) = state.topics.get(resource_name) else {
        return Err((
            ResponseError::UnknownTopicOrPartition.code(),
            format!("unknown topic {resource_name}"),
        ));
    };
    let current = topic.configs();
    let mut next = if replace {
        TopicConfigs::new()
    } else {
        current.clone()
    };
    for change in changes {
        apply_one(&mut next, &current, change).map_err(|e| (e.error_code(), e.to_string()))?;
    }
    if validate_only {
        return Ok(());
    }
    let name = resource_name.to_string();
    super::blocking(state, move |s| s.topics.alter_configs(&name, next))
        .await
        .map_err(|e| (e.error_code(), e.to_string()))
}

fn apply_one(
    next: &mut TopicConfigs,
    current: &TopicConfigs,
    change: Change,
) -> Result<(), crate::BrokerError> {
    let invalid = |name: &str, reason: &str| crate::BrokerError::InvalidConfig {
        name: name.to_string(),
        value: None,
        reason: reason.to_string(),
    };
    match change {
        Change::Set(name, value) => {
            let value = topic_config::validate(&name, value.as_deref())?;
            next.insert(name, value);
        }
        Change::Delete(name) => {
            if catalog::find(&name).is_none() {
                return Err(invalid(&name, "unknown topic config"));
            }
            next.remove(&name);
        }
        Change::Append(name, items) | Change::Subtract(name, items) if !is_list(&name) => {
            let _ = items;
            return Err(invalid(
                &name,
                "APPEND and SUBTRACT apply only to list configs",
            ));
        }
        Change::Append(name, items) => {
            let mut list = effective_list(current, &name);
            for item in split(items.as_deref()) {
                if !list.contains(&item) {
                    list.push(item);
                }
            }
            let value = topic_config::validate(&name, Some(&list.join(",")))?;
            next.insert(name, value);
        }
        Change::Subtract(name, items) => {
            let remove = split(items.as_deref());
            let list: Vec<String> = effective_list(current, &name)
                .into_iter()
                .filter(|item| !remove.contains(item))
                .collect();
            let value = topic_config::validate(&name, Some(&list.join(",")))?;
            next.insert(name, value);
        }
    }
    Ok(())
}

fn is_list(name: &str) -> bool {
    catalog::find(name).is_some_and(|def| matches!(def.kind, Kind::List(_) | Kind::ReplicaList))
}

fn split(items: Option<&str>) -> Vec<String> {
    items
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

/// The list a topic has now: its override, else the default.
fn effective_list(current: &TopicConfigs, name: &str) -> Vec<String> {
    let default = catalog::find(name).map_or("", |def| def.default);
    split(Some(current.get(name).map_or(default, String::as_str)))
}
