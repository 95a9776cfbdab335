//! Every topic config Kafka 3.9 and 4.x define (`TopicConfig` / `LogConfig`), with its type, its
//! default, its broker-level synonym and what herald does with it. One table, so that validation,
//! DescribeConfigs (values, synonyms, documentation) and the README cannot disagree.
//!
//! Each config is either enforced by herald ([`Effect::Enforced`]), accepted and reported with no
//! effect because it only means something for replication or tiered storage or where herald does
//! the job differently ([`Effect::NoEffect`], with the reason), or accepted only at its default
//! ([`Effect::DefaultOnly`]: any other value is INVALID_CONFIG naming what to use instead), so that
//! no accepted value is silently ignored.

/// A config's value type (DescribeConfigs v3 `config_type` codes in comments).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// BOOLEAN (1).
    Boolean,
    /// STRING (2), one of these values (case-insensitive).
    Choice(&'static [&'static str]),
    /// INT (3), at least `min`.
    Int { min: i64, max: i64 },
    /// LONG (5), at least `min`.
    Long { min: i64 },
    /// DOUBLE (6), within `min..=max`.
    Double { min: f64, max: f64 },
    /// LIST (7) of these items, comma-separated.
    List(&'static [&'static str]),
    /// LIST (7) of `partition:broker` pairs or `*` (replication throttles).
    ReplicaList,
    /// STRING (2): a Kafka version such as `0.10.0`, `2.8` or `3.0-IV1`.
    Version,
}

impl Kind {
    /// DescribeConfigs v3's `config_type`.
    pub fn code(self) -> i8 {
        match self {
            Kind::Boolean => 1,
            Kind::Choice(_) | Kind::Version => 2,
            Kind::Int { .. } => 3,
            Kind::Long { .. } => 5,
            Kind::Double { .. } => 6,
            Kind::List(_) | Kind::ReplicaList => 7,
        }
    }
}

/// What herald does with a config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect {
    /// Applied to the topic's partitions.
    Enforced,
    /// Accepted and reported; no effect on one node, for this reason.
    NoEffect(&'static str),
    /// Only the default is accepted; another value answers INVALID_CONFIG with this reason.
    DefaultOnly(&'static str),
}

/// One topic config.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    pub name: &'static str,
    pub kind: Kind,
    /// Kafka's default, when the broker has no setting of its own for it (see `mod.rs`).
    pub default: &'static str,
    /// The broker config that sets the default (DescribeConfigs' synonym).
    pub broker_synonym: Option<&'static str>,
    pub effect: Effect,
    pub doc: &'static str,
}

const LONG_MAX: &str = "9223372036854775807";
/// The compaction family: applied by herald-log's cleaner, which the broker runs.
const COMPACTION: Effect = Effect::Enforced;
const REPLICATION_ONLY: &str = "replication only: one node has no followers";
const TIERED_ONLY: &str = "tiered storage only: herald keeps every segment local";

const fn def(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    broker_synonym: Option<&'static str>,
    effect: Effect,
    doc: &'static str,
) -> ConfigDef {
    ConfigDef {
        name,
        kind,
        default,
        broker_synonym,
        effect,
        doc,
    }
}

/// Every topic config, by name.
pub const CONFIGS: &[ConfigDef] = &[
    def("cleanup.policy", Kind::List(&["delete", "compact"]), "delete", Some("log.cleanup.policy"),
        COMPACTION, "delete: old segments are deleted by retention.ms/retention.bytes; compact: the latest record per key is kept; compact,delete: both"),
    def("compression.type", Kind::Choice(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]), "producer", Some("compression.type"),
        Effect::Enforced, "The codec batches are stored with: a produced batch in another codec is recompressed by the broker; producer keeps the producer's"),
    def("compression.gzip.level", Kind::Int { min: -1, max: 9 }, "-1", Some("compression.gzip.level"),
        Effect::Enforced, "gzip level when the broker recompresses (compression.type=gzip; no effect under producer)"),
    def("compression.lz4.level", Kind::Int { min: 1, max: 17 }, "9", Some("compression.lz4.level"),
        Effect::Enforced, "lz4 level when the broker recompresses (compression.type=lz4; no effect under producer)"),
    def("compression.zstd.level", Kind::Int { min: -131_072, max: 22 }, "3", Some("compression.zstd.level"),
        Effect::Enforced, "zstd level when the broker recompresses (compression.type=zstd; no effect under producer)"),
    def("delete.retention.ms", Kind::Long { min: 0 }, "86400000", Some("log.cleaner.delete.retention.ms"),
        COMPACTION, "How long tombstones are kept on a compacted topic"),
    def("file.delete.delay.ms", Kind::Long { min: 0 }, "60000", Some("log.segment.delete.delay.ms"),
        Effect::NoEffect("herald deletes a segment's files once no read holds them"), "Delay before deleting a file from the filesystem"),
    def("flush.messages", Kind::Long { min: 1 }, LONG_MAX, Some("log.flush.interval.messages"),
        Effect::DefaultOnly("herald's fsync policy is broker-wide: herald broker --flush always|interval:MS|never"), "Force an fsync every this many messages"),
    def("flush.ms", Kind::Long { min: 0 }, LONG_MAX, Some("log.flush.interval.ms"),
        Effect::DefaultOnly("herald's fsync policy is broker-wide: herald broker --flush always|interval:MS|never"), "Force an fsync every this many milliseconds"),
    def("follower.replication.throttled.replicas", Kind::ReplicaList, "", Some("follower.replication.throttled.replicas"),
        Effect::NoEffect(REPLICATION_ONLY), "Replicas whose replication is throttled on the follower side"),
    def("index.interval.bytes", Kind::Int { min: 0, max: i32::MAX as i64 }, "4096", Some("log.index.interval.bytes"),
        Effect::Enforced, "Bytes of batches between two offset index entries"),
    def("leader.replication.throttled.replicas", Kind::ReplicaList, "", Some("leader.replication.throttled.replicas"),
        Effect::NoEffect(REPLICATION_ONLY), "Replicas whose replication is throttled on the leader side"),
    def("local.retention.bytes", Kind::Long { min: -2 }, "-2", Some("log.local.retention.bytes"),
        Effect::NoEffect(TIERED_ONLY), "Local bytes kept before tiering"),
    def("local.retention.ms", Kind::Long { min: -2 }, "-2", Some("log.local.retention.ms"),
        Effect::NoEffect(TIERED_ONLY), "Local time kept before tiering"),
    def("max.compaction.lag.ms", Kind::Long { min: 1 }, LONG_MAX, Some("log.cleaner.max.compaction.lag.ms"),
        COMPACTION, "Longest a record may stay uncompacted"),
    def("max.message.bytes", Kind::Int { min: 0, max: i32::MAX as i64 }, "1048588", Some("message.max.bytes"),
        Effect::Enforced, "Largest record batch accepted"),
    def("message.downconversion.enable", Kind::Boolean, "true", Some("log.message.downconversion.enable"),
        Effect::NoEffect("herald never down-converts: it serves Fetch v4+ only (Kafka 4.0 removed this config)"), "Whether old fetch versions get converted batches"),
    def("message.format.version", Kind::Version, "3.0-IV1", Some("log.message.format.version"),
        Effect::NoEffect("every batch is stored in record-batch v2 (Kafka 4.0 removed this config)"), "Message format of stored batches"),
    def("message.timestamp.after.max.ms", Kind::Long { min: 0 }, LONG_MAX, Some("log.message.timestamp.after.max.ms"),
        Effect::Enforced, "Largest allowed lead of a CreateTime timestamp over the broker's clock"),
    def("message.timestamp.before.max.ms", Kind::Long { min: 0 }, LONG_MAX, Some("log.message.timestamp.before.max.ms"),
        Effect::Enforced, "Largest allowed lag of a CreateTime timestamp behind the broker's clock"),
    def("message.timestamp.difference.max.ms", Kind::Long { min: 0 }, LONG_MAX, Some("log.message.timestamp.difference.max.ms"),
        Effect::Enforced, "Deprecated (removed in Kafka 4.0): both bounds at once, when before/after are not set"),
    def("message.timestamp.type", Kind::Choice(&["CreateTime", "LogAppendTime"]), "CreateTime", Some("log.message.timestamp.type"),
        Effect::Enforced, "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the broker's clock"),
    def("min.cleanable.dirty.ratio", Kind::Double { min: 0.0, max: 1.0 }, "0.5", Some("log.cleaner.min.cleanable.ratio"),
        COMPACTION, "Share of the log that must be uncleaned before the cleaner runs"),
    def("min.compaction.lag.ms", Kind::Long { min: 0 }, "0", Some("log.cleaner.min.compaction.lag.ms"),
        COMPACTION, "Shortest time a record stays uncompacted"),
    def("min.insync.replicas", Kind::Int { min: 1, max: i32::MAX as i64 }, "1", Some("min.insync.replicas"),
        Effect::Enforced, "Replicas that must acknowledge acks=all: above 1, one node answers NOT_ENOUGH_REPLICAS"),
    def("preallocate", Kind::Boolean, "false", Some("log.preallocate"),
        Effect::NoEffect("segments grow as they are written"), "Preallocate segment files"),
    def("remote.log.copy.disable", Kind::Boolean, "false", None,
        Effect::NoEffect(TIERED_ONLY), "Stop copying segments to tiered storage"),
    def("remote.log.delete.on.disable", Kind::Boolean, "false", None,
        Effect::NoEffect(TIERED_ONLY), "Delete tiered segments when tiering is disabled"),
    def("remote.storage.enable", Kind::Boolean, "false", None,
        Effect::DefaultOnly("tiered storage is not supported"), "Tier old segments to remote storage"),
    def("retention.bytes", Kind::Long { min: -1 }, "-1", Some("log.retention.bytes"),
        Effect::Enforced, "Largest size of a partition before old segments are deleted; -1 unlimited"),
    def("retention.ms", Kind::Long { min: -1 }, "604800000", Some("log.retention.ms"),
        Effect::Enforced, "How long segments are kept; -1 forever"),
    def("segment.bytes", Kind::Int { min: 100, max: i32::MAX as i64 }, "1073741824", Some("log.segment.bytes"),
        Effect::Enforced, "Size at which the active segment rolls"),
    def("segment.index.bytes", Kind::Int { min: 4, max: i32::MAX as i64 }, "10485760", Some("log.index.size.max.bytes"),
        Effect::NoEffect("herald's indexes are sparse and grow as needed, never preallocated"), "Size of a segment's preallocated index"),
    def("segment.jitter.ms", Kind::Long { min: 0 }, "0", Some("log.roll.jitter.ms"),
        Effect::NoEffect("spreads segment rolls across a cluster's partitions; one node rolls each partition on its own schedule"), "Random jitter subtracted from segment.ms"),
    def("segment.ms", Kind::Long { min: 1 }, "604800000", Some("log.roll.ms"),
        Effect::Enforced, "Age at which the active segment rolls"),
    def("unclean.leader.election.enable", Kind::Boolean, "false", Some("unclean.leader.election.enable"),
        Effect::NoEffect(REPLICATION_ONLY), "Allow an out-of-sync replica to become leader"),
];

/// The definition of `name`, if Kafka defines it.
pub fn find(name: &str) -> Option<&'static ConfigDef> {
    CONFIGS.iter().find(|c| c.name == name)
}
