//! Per-topic configs: the Kafka topic config names herald accepts, their validation, how overrides and
//! broker defaults combine into a `herald_log::LogConfig`, and the list DescribeConfigs reports.
//!
//! Only overrides are stored (in the topic's meta.json); defaults come from [`BrokerConfig`] and
//! `herald_log`'s. `cleanup.policy` is enforced: `compact` topics are compacted by herald-log's cleaner
//! (tuned by `delete.retention.ms`, `min.compaction.lag.ms`, `max.compaction.lag.ms`,
//! `min.cleanable.dirty.ratio`) and are not deleted by retention. Not here: the registry that persists
//! topics (`topics.rs`).
//!
//! Main types: [`TopicConfigs`], [`ConfigEntry`].

use std::collections::BTreeMap;

use herald_log::{CleanupPolicy, LogConfig};

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
/// `cleanup.policy`: `delete`, `compact` or `compact,delete`.
pub const CLEANUP_POLICY: &str = "cleanup.policy";
/// `delete.retention.ms`: how long a tombstone outlives its batch's first clean.
pub const DELETE_RETENTION_MS: &str = "delete.retention.ms";
/// `min.compaction.lag.ms`: records younger than this are not compacted.
pub const MIN_COMPACTION_LAG_MS: &str = "min.compaction.lag.ms";
/// `max.compaction.lag.ms`: records are compacted within about this long.
pub const MAX_COMPACTION_LAG_MS: &str = "max.compaction.lag.ms";
/// `min.cleanable.dirty.ratio`: a double in [0, 1].
pub const MIN_CLEANABLE_DIRTY_RATIO: &str = "min.cleanable.dirty.ratio";

/// Every config name accepted, in the order DescribeConfigs lists them.
pub const CONFIG_NAMES: [&str; 10] = [
    CLEANUP_POLICY,
    DELETE_RETENTION_MS,
    MAX_COMPACTION_LAG_MS,
    MAX_MESSAGE_BYTES,
    MIN_CLEANABLE_DIRTY_RATIO,
    MIN_COMPACTION_LAG_MS,
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
        MAX_MESSAGE_BYTES | DELETE_RETENTION_MS | MIN_COMPACTION_LAG_MS => number(0),
        MAX_COMPACTION_LAG_MS => number(1),
        MIN_CLEANABLE_DIRTY_RATIO => match value.parse::<f64>() {
            Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio.to_string()),
            _ => Err(invalid("expected a number between 0 and 1".into())),
        },
        CLEANUP_POLICY => match CleanupPolicy::parse(value) {
            Some(policy) => Ok(policy.as_str().to_string()),
            None => Err(invalid("expected delete, compact or compact,delete".into())),
        },
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
    apply_compaction_configs(&mut config, overrides);
    config
}

/// The cleanup policy and the log cleaner's topic configs.
fn apply_compaction_configs(config: &mut LogConfig, overrides: &TopicConfigs) {
    if let Some(policy) = overrides
        .get(CLEANUP_POLICY)
        .and_then(|v| CleanupPolicy::parse(v))
    {
        config.cleanup_policy = policy;
    }
    if let Some(v) = parsed(overrides, DELETE_RETENTION_MS).and_then(non_negative) {
        config.delete_retention_ms = v;
    }
    if let Some(v) = parsed(overrides, MIN_COMPACTION_LAG_MS).and_then(non_negative) {
        config.min_compaction_lag_ms = v;
    }
    if let Some(v) = parsed(overrides, MAX_COMPACTION_LAG_MS).and_then(non_negative) {
        config.max_compaction_lag_ms = v;
    }
    let ratio = overrides
        .get(MIN_CLEANABLE_DIRTY_RATIO)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|r| (0.0..=1.0).contains(r));
    if let Some(ratio) = ratio {
        config.min_cleanable_dirty_ratio = ratio;
    }
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
                CLEANUP_POLICY => defaults.cleanup_policy.as_str().to_string(),
                DELETE_RETENTION_MS => defaults.delete_retention_ms.to_string(),
                MIN_COMPACTION_LAG_MS => defaults.min_compaction_lag_ms.to_string(),
                MAX_COMPACTION_LAG_MS => defaults.max_compaction_lag_ms.to_string(),
                MIN_CLEANABLE_DIRTY_RATIO => defaults.min_cleanable_dirty_ratio.to_string(),
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

    // The compaction configs reach the log config; out-of-range values are refused.
    #[test]
    fn compaction_configs_apply_to_log_config() {
        let broker = BrokerConfig::default();
        let overrides = validate_all([
            (CLEANUP_POLICY, Some("delete,compact")),
            (DELETE_RETENTION_MS, Some("100")),
            (MIN_COMPACTION_LAG_MS, Some("5")),
            (MAX_COMPACTION_LAG_MS, Some("60000")),
            (MIN_CLEANABLE_DIRTY_RATIO, Some("0.25")),
        ])
        .unwrap_or_default();
        let config = log_config(&broker, &overrides);
        assert_eq!(config.cleanup_policy, CleanupPolicy::CompactDelete);
        assert_eq!(config.delete_retention_ms, 100);
        assert_eq!(config.min_compaction_lag_ms, 5);
        assert_eq!(config.max_compaction_lag_ms, 60000);
        assert_eq!(config.min_cleanable_dirty_ratio, 0.25);
        assert_eq!(
            overrides.get(CLEANUP_POLICY).map(String::as_str),
            Some("compact,delete")
        );
        assert!(validate(MIN_CLEANABLE_DIRTY_RATIO, Some("1.5")).is_err());
        assert!(validate(MIN_CLEANABLE_DIRTY_RATIO, Some("NaN")).is_err());
        assert!(validate(MAX_COMPACTION_LAG_MS, Some("0")).is_err());
        let described = describe(&broker, &TopicConfigs::new());
        let ratio = described
            .iter()
            .find(|e| e.name == MIN_CLEANABLE_DIRTY_RATIO);
        assert_eq!(ratio.map(|e| e.value.as_str()), Some("0.5"));
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
