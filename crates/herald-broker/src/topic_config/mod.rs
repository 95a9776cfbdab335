//! Per-topic configs: every Kafka topic config name is accepted ([`catalog`] says what herald does
//! with each), validated by its type, stored as an override, and combined with the broker's defaults
//! into a `herald_log::LogConfig`; DescribeConfigs lists them with their source, synonyms and
//! documentation. Unknown names answer INVALID_CONFIG.
//!
//! Only overrides are stored (in the topic's meta.json); defaults come from [`BrokerConfig`] where the
//! broker has a flag for them (retention, segment size, batch size) and from Kafka's defaults
//! otherwise. Not here: the registry that persists topics (`topics.rs`), the APIs that change configs
//! (`api/alter_configs.rs`, `api/incremental_alter_configs.rs`).
//!
//! Main types: [`TopicConfigs`], [`ConfigEntry`], [`Source`].

pub mod catalog;

use std::collections::BTreeMap;

use herald_log::{CleanupPolicy, LogConfig, Recompression, TimestampType};

use crate::{BrokerConfig, BrokerError};
use catalog::{ConfigDef, Effect, Kind, CONFIGS};

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
/// `cleanup.policy`.
pub const CLEANUP_POLICY: &str = "cleanup.policy";
/// `index.interval.bytes`.
pub const INDEX_INTERVAL_BYTES: &str = "index.interval.bytes";
/// `message.timestamp.type`: CreateTime or LogAppendTime.
pub const MESSAGE_TIMESTAMP_TYPE: &str = "message.timestamp.type";
/// `message.timestamp.before.max.ms`.
pub const MESSAGE_TIMESTAMP_BEFORE_MAX_MS: &str = "message.timestamp.before.max.ms";
/// `message.timestamp.after.max.ms`.
pub const MESSAGE_TIMESTAMP_AFTER_MAX_MS: &str = "message.timestamp.after.max.ms";
/// `message.timestamp.difference.max.ms` (deprecated: both bounds when the two above are unset).
pub const MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS: &str = "message.timestamp.difference.max.ms";
/// `delete.retention.ms`: how long a tombstone outlives its batch's first clean.
pub const DELETE_RETENTION_MS: &str = "delete.retention.ms";
/// `min.compaction.lag.ms`: records younger than this are not compacted.
pub const MIN_COMPACTION_LAG_MS: &str = "min.compaction.lag.ms";
/// `max.compaction.lag.ms`: records are compacted within about this long.
pub const MAX_COMPACTION_LAG_MS: &str = "max.compaction.lag.ms";
/// `min.cleanable.dirty.ratio`: a double in [0, 1].
pub const MIN_CLEANABLE_DIRTY_RATIO: &str = "min.cleanable.dirty.ratio";
/// `min.insync.replicas`: above 1, acks=all produces answer NOT_ENOUGH_REPLICAS.
pub const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";

/// `compression.type`: `producer` keeps the producer's codec, another value is the stored codec.
pub const COMPRESSION_TYPE: &str = "compression.type";
/// `compression.gzip.level`, `compression.lz4.level`, `compression.zstd.level` (KIP-390).
pub const COMPRESSION_GZIP_LEVEL: &str = "compression.gzip.level";
pub const COMPRESSION_LZ4_LEVEL: &str = "compression.lz4.level";
pub const COMPRESSION_ZSTD_LEVEL: &str = "compression.zstd.level";

/// A topic's config overrides, by Kafka config name.
pub type TopicConfigs = BTreeMap<String, String>;

/// Where a described value comes from (DescribeConfigs' `config_source` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// DYNAMIC_TOPIC_CONFIG (1): an override on the topic.
    Topic = 1,
    /// STATIC_BROKER_CONFIG (4): the broker's flag (`--retention-ms` and the like).
    StaticBroker = 4,
    /// DEFAULT_CONFIG (5): Kafka's default.
    Default = 5,
}

/// One config as DescribeConfigs and CreateTopics v5 report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: &'static str,
    pub value: String,
    pub source: Source,
    /// The values that would apply below this one: (name, value, source), most specific first.
    pub synonyms: Vec<(String, String, Source)>,
    /// DescribeConfigs v3 `config_type`.
    pub config_type: i8,
    pub documentation: String,
}

impl ConfigEntry {
    /// True when no override is set.
    pub fn is_default(&self) -> bool {
        self.source != Source::Topic
    }
}

fn invalid(name: &str, value: Option<&str>, reason: String) -> BrokerError {
    BrokerError::InvalidConfig {
        name: name.to_string(),
        value: value.map(str::to_string),
        reason,
    }
}

/// Checks one `name=value` pair; returns the normalised value to store.
pub fn validate(name: &str, value: Option<&str>) -> Result<String, BrokerError> {
    let Some(def) = catalog::find(name) else {
        return Err(invalid(name, value, "unknown topic config".into()));
    };
    let Some(raw) = value else {
        return Err(invalid(name, value, "a value is required".into()));
    };
    let normalised = parse(def, raw.trim()).map_err(|reason| invalid(name, value, reason))?;
    if let Effect::DefaultOnly(reason) = def.effect {
        if parse(def, def.default).ok().as_deref() != Some(normalised.as_str()) {
            return Err(invalid(
                name,
                value,
                format!("only {} is supported: {reason}", def.default),
            ));
        }
    }
    Ok(normalised)
}

/// Parses `value` by `def`'s type into the form stored and reported.
fn parse(def: &ConfigDef, value: &str) -> Result<String, String> {
    match def.kind {
        Kind::Boolean => match value.to_ascii_lowercase().as_str() {
            v @ ("true" | "false") => Ok(v.to_string()),
            _ => Err("expected true or false".into()),
        },
        Kind::Choice(choices) => choices
            .iter()
            .find(|c| c.eq_ignore_ascii_case(value))
            .map(|c| c.to_string())
            .ok_or_else(|| format!("expected one of {}", choices.join(", "))),
        Kind::Int { min, max } => {
            let parsed: i64 = value.parse().map_err(|_| "not an integer".to_string())?;
            if parsed < min || parsed > max {
                return Err(format!("must be within [{min}, {max}]"));
            }
            Ok(parsed.to_string())
        }
        Kind::Long { min } => {
            let parsed: i64 = value.parse().map_err(|_| "not an integer".to_string())?;
            if parsed < min {
                return Err(format!("must be at least {min}"));
            }
            Ok(parsed.to_string())
        }
        Kind::Double { min, max } => {
            let parsed: f64 = value.parse().map_err(|_| "not a number".to_string())?;
            if !(min..=max).contains(&parsed) {
                return Err(format!("must be within [{min}, {max}]"));
            }
            Ok(value.to_string())
        }
        Kind::List(items) => {
            let parts: Vec<&str> = value.split(',').map(str::trim).collect();
            if value.is_empty() || !parts.iter().all(|p| items.contains(p)) {
                return Err(format!(
                    "expected a comma-separated list of {}",
                    items.join(", ")
                ));
            }
            Ok(parts.join(","))
        }
        Kind::Version => {
            let (number, internal) = match value.to_ascii_uppercase().split_once("-IV") {
                Some((number, iv)) => (number.to_string(), Some(iv.to_string())),
                None => (value.to_string(), None),
            };
            let numeric = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            let parts: Vec<&str> = number.split('.').collect();
            if parts.len() >= 2
                && parts.iter().all(|p| numeric(p))
                && internal.as_deref().is_none_or(numeric)
            {
                Ok(value.to_string())
            } else {
                Err("expected a Kafka version such as 0.10.0, 2.8 or 3.0-IV1".into())
            }
        }
        Kind::ReplicaList => {
            let valid = value.is_empty()
                || value == "*"
                || value.split(',').all(|pair| {
                    pair.trim()
                        .split_once(':')
                        .is_some_and(|(p, b)| p.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
                });
            if valid {
                Ok(value.to_string())
            } else {
                Err("expected * or partition:broker pairs, comma-separated".into())
            }
        }
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

/// Long.MAX_VALUE means "no bound" in Kafka's timestamp configs.
fn bound(value: Option<i64>) -> Option<u64> {
    value.filter(|&v| v != i64::MAX).and_then(non_negative)
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
    if let Some(v) = parsed(overrides, INDEX_INTERVAL_BYTES).and_then(non_negative) {
        config.index_interval_bytes = v;
    }
    if overrides.get(MESSAGE_TIMESTAMP_TYPE).map(String::as_str) == Some("LogAppendTime") {
        config.timestamp_type = TimestampType::LogAppendTime;
    }
    let difference = parsed(overrides, MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS);
    config.timestamp_before_max_ms =
        bound(parsed(overrides, MESSAGE_TIMESTAMP_BEFORE_MAX_MS).or(difference));
    config.timestamp_after_max_ms =
        bound(parsed(overrides, MESSAGE_TIMESTAMP_AFTER_MAX_MS).or(difference));
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

/// `min.insync.replicas` of a topic (1 unless overridden).
pub fn min_insync_replicas(overrides: &TopicConfigs) -> i64 {
    parsed(overrides, MIN_INSYNC_REPLICAS).unwrap_or(1)
}

/// The codec (and level) the broker stores a topic's batches with, as Kafka's `BrokerCompressionType`;
/// `None` under `producer` (batches are stored as produced). Levels apply only to the codec they name
/// (KIP-390); `compression.gzip.level=-1` is zlib's default.
pub fn recompression(overrides: &TopicConfigs) -> Option<Recompression> {
    let (codec, level_name) = match overrides.get(COMPRESSION_TYPE).map(String::as_str)? {
        "uncompressed" => (herald_log::codec::CODEC_NONE, None),
        "gzip" => (herald_log::codec::CODEC_GZIP, Some(COMPRESSION_GZIP_LEVEL)),
        "snappy" => (herald_log::codec::CODEC_SNAPPY, None),
        "lz4" => (herald_log::codec::CODEC_LZ4, Some(COMPRESSION_LZ4_LEVEL)),
        "zstd" => (herald_log::codec::CODEC_ZSTD, Some(COMPRESSION_ZSTD_LEVEL)),
        _ => return None,
    };
    let level = level_name
        .and_then(|name| parsed(overrides, name))
        .and_then(|level| i32::try_from(level).ok())
        .filter(|&level| level != -1 || codec != herald_log::codec::CODEC_GZIP);
    Some(Recompression { codec, level })
}

fn optional(value: Option<u64>) -> String {
    value.map_or_else(|| "-1".to_string(), |v| v.to_string())
}

/// The broker's own value for `def`, where the broker has a flag for it.
fn broker_value(broker: &BrokerConfig, def: &ConfigDef) -> Option<String> {
    Some(match def.name {
        RETENTION_MS => optional(broker.retention_ms),
        RETENTION_BYTES => optional(broker.retention_bytes),
        SEGMENT_BYTES => broker.segment_bytes.to_string(),
        MAX_MESSAGE_BYTES => broker.max_message_bytes.to_string(),
        _ => return None,
    })
}

/// Every topic config with its effective value, source, synonyms and documentation.
pub fn describe(broker: &BrokerConfig, overrides: &TopicConfigs) -> Vec<ConfigEntry> {
    CONFIGS
        .iter()
        .map(|def| {
            // As Kafka: a broker setting is STATIC_BROKER_CONFIG only when it differs from Kafka's
            // default (else it was not set, and the default is DEFAULT_CONFIG).
            let fallback = match broker_value(broker, def) {
                Some(value) if value != def.default => (value, Source::StaticBroker),
                _ => (def.default.to_string(), Source::Default),
            };
            let mut synonyms = Vec::new();
            if let Some(value) = overrides.get(def.name) {
                synonyms.push((def.name.to_string(), value.clone(), Source::Topic));
            }
            if let Some(synonym) = def.broker_synonym {
                synonyms.push((synonym.to_string(), fallback.0.clone(), fallback.1));
            }
            let (value, source) = match overrides.get(def.name) {
                Some(value) => (value.clone(), Source::Topic),
                None => fallback,
            };
            let documentation = match def.effect {
                Effect::Enforced => def.doc.to_string(),
                Effect::NoEffect(why) => format!("{} (no effect on herald: {why})", def.doc),
                Effect::DefaultOnly(why) => format!("{} (herald: {why})", def.doc),
            };
            ConfigEntry {
                name: def.name,
                value,
                source,
                synonyms,
                config_type: def.kind.code(),
                documentation,
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
            (MESSAGE_TIMESTAMP_TYPE, Some("logappendtime")),
            (MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS, Some("5000")),
            (MESSAGE_TIMESTAMP_AFTER_MAX_MS, Some("1000")),
        ])
        .unwrap_or_default();
        let config = log_config(&broker, &overrides);
        assert_eq!(config.segment_bytes, 1024);
        assert_eq!(config.retention_ms, None);
        assert_eq!(config.retention_bytes, Some(4096));
        assert_eq!(config.timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(
            config.timestamp_before_max_ms,
            Some(5000),
            "difference fills in"
        );
        assert_eq!(
            config.timestamp_after_max_ms,
            Some(1000),
            "after wins over difference"
        );
        let described = describe(&broker, &overrides);
        let segment = described.iter().find(|e| e.name == SEGMENT_BYTES);
        assert_eq!(segment.map(ConfigEntry::is_default), Some(false));
        assert_eq!(
            segment.map(|e| e.synonyms.len()),
            Some(2),
            "the override, then log.segment.bytes"
        );
        let retention = described.iter().find(|e| e.name == RETENTION_MS);
        assert_eq!(retention.map(|e| e.source), Some(Source::Topic));
        let max = described.iter().find(|e| e.name == MAX_MESSAGE_BYTES);
        assert_eq!(
            max.map(|e| e.source),
            Some(Source::Default),
            "the broker keeps Kafka's default"
        );
        let cleanup = described.iter().find(|e| e.name == CLEANUP_POLICY);
        assert_eq!(cleanup.map(|e| e.value.as_str()), Some("delete"));
        assert_eq!(described.len(), CONFIGS.len());
    }

    // The compaction configs reach the log config.
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
        assert_eq!(config.max_compaction_lag_ms, 60_000);
        assert!((config.min_cleanable_dirty_ratio - 0.25).abs() < 1e-9);
    }

    // compression.type names the stored codec (producer: none) and each level reaches only its codec.
    #[test]
    fn compression_type_selects_codec_and_level() {
        use herald_log::codec::{CODEC_GZIP, CODEC_LZ4, CODEC_NONE, CODEC_ZSTD};
        let of = |pairs: &[(&'static str, &'static str)]| {
            let overrides = validate_all(pairs.iter().map(|(n, v)| (*n, Some(*v))));
            recompression(&overrides.unwrap_or_default())
        };
        assert_eq!(of(&[]), None);
        assert_eq!(of(&[(COMPRESSION_TYPE, "producer")]), None);
        let target = |codec, level| Some(Recompression { codec, level });
        assert_eq!(
            of(&[(COMPRESSION_TYPE, "uncompressed")]),
            target(CODEC_NONE, None)
        );
        assert_eq!(
            of(&[(COMPRESSION_TYPE, "LZ4"), (COMPRESSION_LZ4_LEVEL, "12")]),
            target(CODEC_LZ4, Some(12))
        );
        assert_eq!(
            of(&[(COMPRESSION_TYPE, "zstd"), (COMPRESSION_GZIP_LEVEL, "9")]),
            target(CODEC_ZSTD, None),
            "the gzip level does not apply to zstd"
        );
        assert_eq!(
            of(&[(COMPRESSION_TYPE, "gzip"), (COMPRESSION_GZIP_LEVEL, "-1")]),
            target(CODEC_GZIP, None)
        );
        assert!(validate(COMPRESSION_TYPE, Some("brotli")).is_err());
        assert!(validate(COMPRESSION_ZSTD_LEVEL, Some("23")).is_err());
        assert!(validate(COMPRESSION_LZ4_LEVEL, Some("0")).is_err());
    }

    // Unknown names, unparsable values and values herald cannot honour are rejected with
    // INVALID_CONFIG; every Kafka config accepts its own default.
    #[test]
    fn invalid_configs_are_rejected() {
        assert!(validate("no.such.config", Some("1")).is_err());
        assert!(validate(RETENTION_MS, Some("soon")).is_err());
        assert!(validate(SEGMENT_BYTES, Some("10")).is_err());
        assert!(validate(CLEANUP_POLICY, Some("forever")).is_err());
        assert!(
            validate("flush.ms", Some("1000")).is_err(),
            "fsync policy is broker-wide"
        );
        assert!(validate("remote.storage.enable", Some("true")).is_err());
        assert!(validate("min.cleanable.dirty.ratio", Some("1.5")).is_err());
        assert!(validate("message.format.version", Some("0.10.0.0")).is_ok());
        assert!(validate("message.format.version", Some("3.0-IV1")).is_ok());
        assert!(validate("message.format.version", Some("latest")).is_err());
        assert_eq!(
            validate(CLEANUP_POLICY, Some(" compact, delete "))
                .ok()
                .as_deref(),
            Some("compact,delete")
        );
        for def in CONFIGS {
            assert!(
                validate(def.name, Some(def.default)).is_ok(),
                "{} refuses its default {:?}",
                def.name,
                def.default
            );
        }
    }
}
