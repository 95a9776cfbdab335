//! Per-topic configs: the Kafka topic config names herald accepts, their validation, how overrides and
//! broker defaults combine into a `herald_log::LogConfig`, and the list DescribeConfigs reports.
//!
//! Only overrides are stored (in the topic's meta.json); defaults come from [`BrokerConfig`] and
//! `herald_log`'s. `cleanup.policy` is accepted and reported, but only `delete` is enforced: compaction
//! is not implemented. Not here: the registry that persists topics (`topics.rs`).
//!
//! Main types: [`TopicConfigs`], [`ConfigEntry`].

use std::collections::BTreeMap;

use herald_log::LogConfig;

use crate::{BrokerConfig, BrokerError};

/// `retention.ms`: -1 keeps data forever.
pub const RETENTION_MS: &str = "retention.ms";
/// `retention.bytes`: -1 is unlimited.
pub const RETENTION_BYTES: &str = "retention.bytes";
/// `segment.bytes`.
pub const SEGMENT_BYTES: &str = "segment.bytes";
/// `segment.ms`.
pub const SEGMENT_MS: &str = "segment.ms";
/// `max.message.bytes`: the largest record batch.
pub const MAX_MESSAGE_BYTES: &str = "max.message.bytes";
/// `cleanup.policy`: accepted and reported; only `delete` is enforced.
pub const CLEANUP_POLICY: &str = "cleanup.policy";

/// Every config name accepted, in the order DescribeConfigs lists them.
pub const CONFIG_NAMES: [&str; 6] = [
    CLEANUP_POLICY,
    MAX_MESSAGE_BYTES,
    RETENTION_BYTES,
    RETENTION_MS,
    SEGMENT_BYTES,
    SEGMENT_MS,
];

/// Smallest `segment.bytes` accepted (Kafka's is 14; a segment must hold at least a batch header).
pub const SEGMENT_BYTES_MIN: i64 = 100;

/// A topic's config overrides, by Kafka config name.
pub type TopicConfigs = BTreeMap<String, String>;

/// One config as DescribeConfigs and CreateTopics v5 report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: &'static str,
    pub value: String,
    /// True when no override is set and the value is the broker's default.
    pub is_default: bool,
}

/// Checks one `name=value` pair; returns the normalised value to store.
pub fn validate(name: &str, value: Option<&str>) -> Result<String, BrokerError> {
    let invalid = |reason: String| BrokerError::InvalidConfig {
        name: name.to_string(),
        value: value.map(str::to_string),
        reason,
    };
    let Some(value) = value else {
        return Err(invalid("a value is required".into()));
    };
    let value = value.trim();
    let number = |min: i64| -> Result<String, BrokerError> {
        let parsed: i64 = value
            .parse()
            .map_err(|_| invalid("not an integer".into()))?;
        if parsed < min {
            return Err(invalid(format!("must be at least {min}")));
        }
        Ok(parsed.to_string())
    };
    match name {
        RETENTION_MS | RETENTION_BYTES => number(-1),
        SEGMENT_BYTES => number(SEGMENT_BYTES_MIN),
        SEGMENT_MS => number(1),
        MAX_MESSAGE_BYTES => number(0),
        CLEANUP_POLICY => {
            let ok = value
                .split(',')
                .map(str::trim)
                .all(|p| p == "delete" || p == "compact");
            if ok && !value.is_empty() {
                Ok(value.to_string())
            } else {
                Err(invalid("expected delete, compact or compact,delete".into()))
            }
        }
        _ => Err(invalid("unknown topic config".into())),
    }
}

/// Validates every pair of a CreateTopics / AlterConfigs request into an overrides map.
pub fn validate_all<'a>(
    pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<TopicConfigs, BrokerError> {
    let mut out = TopicConfigs::new();
    for (name, value) in pairs {
        out.insert(name.to_string(), validate(name, value)?);
    }
    Ok(out)
}

fn parsed(overrides: &TopicConfigs, name: &str) -> Option<i64> {
    overrides.get(name).and_then(|v| v.parse().ok())
}

/// -1 (and any negative) means "none" in Kafka's retention configs.
fn non_negative(value: i64) -> Option<u64> {
    u64::try_from(value).ok()
}

/// The log configuration of a topic's partitions: broker defaults overridden by the topic's configs.
pub fn log_config(broker: &BrokerConfig, overrides: &TopicConfigs) -> LogConfig {
    let mut config = LogConfig {
        segment_bytes: broker.segment_bytes,
        retention_ms: broker.retention_ms,
        retention_bytes: broker.retention_bytes,
        max_message_bytes: broker.max_message_bytes,
        ..LogConfig::default()
    };
    if let Some(v) = parsed(overrides, RETENTION_MS) {
        config.retention_ms = non_negative(v);
    }
    if let Some(v) = parsed(overrides, RETENTION_BYTES) {
        config.retention_bytes = non_negative(v);
    }
    if let Some(v) = parsed(overrides, SEGMENT_BYTES).and_then(non_negative) {
        config.segment_bytes = v;
    }
    if let Some(v) = parsed(overrides, SEGMENT_MS).and_then(non_negative) {
        config.segment_ms = Some(v);
    }
    if let Some(v) = parsed(overrides, MAX_MESSAGE_BYTES).and_then(non_negative) {
        config.max_message_bytes = v;
    }
    config
}

fn optional(value: Option<u64>) -> String {
    value.map_or_else(|| "-1".to_string(), |v| v.to_string())
}

/// Every accepted config with its effective value, flagged default or overridden.
pub fn describe(broker: &BrokerConfig, overrides: &TopicConfigs) -> Vec<ConfigEntry> {
    let defaults = log_config(broker, &TopicConfigs::new());
    CONFIG_NAMES
        .iter()
        .map(|&name| {
            let default = match name {
                CLEANUP_POLICY => "delete".to_string(),
                MAX_MESSAGE_BYTES => defaults.max_message_bytes.to_string(),
                RETENTION_BYTES => optional(defaults.retention_bytes),
                RETENTION_MS => optional(defaults.retention_ms),
                SEGMENT_BYTES => defaults.segment_bytes.to_string(),
                _ => optional(defaults.segment_ms),
            };
            match overrides.get(name) {
                Some(value) => ConfigEntry {
                    name,
                    value: value.clone(),
                    is_default: false,
                },
                None => ConfigEntry {
                    name,
                    value: default,
                    is_default: true,
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Overrides replace broker defaults in the log config and -1 means unlimited.
    #[test]
    fn overrides_apply_to_log_config() {
        let broker = BrokerConfig::default();
        let overrides = validate_all([
            (SEGMENT_BYTES, Some("1024")),
            (RETENTION_MS, Some("-1")),
            (RETENTION_BYTES, Some("4096")),
        ])
        .unwrap_or_default();
        let config = log_config(&broker, &overrides);
        assert_eq!(config.segment_bytes, 1024);
        assert_eq!(config.retention_ms, None);
        assert_eq!(config.retention_bytes, Some(4096));
        let described = describe(&broker, &overrides);
        let segment = described.iter().find(|e| e.name == SEGMENT_BYTES);
        assert_eq!(segment.map(|e| e.is_default), Some(false));
        let cleanup = described.iter().find(|e| e.name == CLEANUP_POLICY);
        assert_eq!(cleanup.map(|e| e.value.as_str()), Some("delete"));
    }

    // Unknown names and unparsable values are rejected with INVALID_CONFIG.
    #[test]
    fn invalid_configs_are_rejected() {
        assert!(validate("no.such.config", Some("1")).is_err());
        assert!(validate(RETENTION_MS, Some("soon")).is_err());
        assert!(validate(SEGMENT_BYTES, Some("10")).is_err());
        assert!(validate(CLEANUP_POLICY, Some("forever")).is_err());
        assert_eq!(
            validate(CLEANUP_POLICY, Some("compact,delete"))
                .ok()
                .as_deref(),
            Some("compact,delete")
        );
    }
}
