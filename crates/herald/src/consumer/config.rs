//! Consumer configuration: a plain struct with defaults, loadable from a TOML file and overridden by
//! `HERALD_*` environment variables (in that order: defaults < file < environment).
//!
//! This module only holds and parses settings; it turns them into librdkafka properties in
//! [`ConsumerConfig::client_config`], where each property that matters for correctness says why.
//!
//! | setting | env | default |
//! |---|---|---|
//! | `brokers` | `HERALD_BROKERS` | `localhost:9092` |
//! | `group_id` | `HERALD_GROUP_ID` | the consumer's name |
//! | `instance_id` | `HERALD_INSTANCE_ID` | none (dynamic membership) |
//! | `start_from_beginning` | `HERALD_START_FROM_BEGINNING` | `true` |
//! | `batch_size` | `HERALD_BATCH_SIZE` | `1` |
//! | `max_wait_ms` | `HERALD_MAX_WAIT_MS` | `100` |
//! | `concurrency` | `HERALD_CONCURRENCY` | `8` |
//! | `session_timeout_ms` | `HERALD_SESSION_TIMEOUT_MS` | `30000` |
//! | `heartbeat_interval_ms` | `HERALD_HEARTBEAT_INTERVAL_MS` | `3000` |
//! | `max_poll_interval_ms` | `HERALD_MAX_POLL_INTERVAL_MS` | `300000` |
//! | `commit_interval_ms` | `HERALD_COMMIT_INTERVAL_MS` | `1000` |
//! | `retry.max_attempts` | `HERALD_RETRY_MAX_ATTEMPTS` | `5` |
//! | `retry.initial_backoff_ms` | `HERALD_RETRY_INITIAL_BACKOFF_MS` | `200` |
//! | `retry.max_backoff_ms` | `HERALD_RETRY_MAX_BACKOFF_MS` | `30000` |
//! | `retry.multiplier` | `HERALD_RETRY_MULTIPLIER` | `2.0` |
//! | `retry_strategy` | `HERALD_RETRY_STRATEGY` | `pause` (or `topics`: retry topics) |
//! | `dead_letter_topic` | `HERALD_DEAD_LETTER_TOPIC` | `<topic>.dlq` |
//! | `metrics_listen` | `HERALD_METRICS_LISTEN` | none (no exporter) |
//! | `kafka` (table) | — | extra librdkafka properties (security, tuning) |

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rdkafka::ClientConfig;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::middleware::retry::RetryPolicy;

/// Largest accepted `batch_size`: a batch lives in memory and in one database transaction.
pub const BATCH_SIZE_MAX: usize = 100_000;
/// Largest accepted `concurrency` (partitions processed at the same time per consumer).
pub const CONCURRENCY_MAX: usize = 1_024;
/// Longest accepted `instance_id` (Kafka's limit for `group.instance.id` is 249 characters).
pub const INSTANCE_ID_BYTES_MAX: usize = 249;

/// Everything a consumer runner needs. Build it in code, or with [`ConsumerConfig::load`].
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerConfig {
    /// `host:port,...` of the bootstrap brokers.
    pub brokers: String,
    /// Consumer group id; `None` uses the consumer's [`name`](crate::consumer::Consumer::name).
    pub group_id: Option<String>,
    /// Kafka `group.instance.id`: a stable name for this instance (unique within the group, e.g.
    /// [`host_instance_name`]) makes it a static member, so an instance restarted within
    /// `session_timeout_ms` takes its partitions back without a rebalance of the other members.
    /// The cost: a static member does not leave the group when it stops, so its partitions wait for
    /// the session timeout before moving to another member. `None`: dynamic membership.
    pub instance_id: Option<String>,
    /// Where a group with no committed offset starts: the beginning of each partition (`true`,
    /// `auto.offset.reset=earliest`, what a new service rebuilding its table wants) or its end.
    pub start_from_beginning: bool,
    /// Messages handed to `process_batch` at once; `1` calls `process` per message.
    pub batch_size: usize,
    /// How long a partition waits to fill a batch before processing what it has, in milliseconds.
    pub max_wait_ms: u64,
    /// Partitions processed at the same time (order within each partition is always kept).
    pub concurrency: usize,
    /// Kafka `session.timeout.ms`: a member silent this long is evicted from the group.
    pub session_timeout_ms: u64,
    /// Kafka `heartbeat.interval.ms`.
    pub heartbeat_interval_ms: u64,
    /// Kafka `max.poll.interval.ms`.
    pub max_poll_interval_ms: u64,
    /// How often processed offsets are committed, in milliseconds (also on revoke and shutdown).
    pub commit_interval_ms: u64,
    /// Whether to commit offsets at all. Only tests turn this off, to simulate a process killed
    /// between its database commit and its offset commit.
    pub commit_offsets: bool,
    /// How failed messages are retried before they are dead-lettered.
    pub retry: RetryPolicy,
    /// Where a failing message waits between attempts: in place, holding its partition (`pause`,
    /// the default), or in `<topic>.retry.<n>` topics while its partition moves on (`topics`; per-key
    /// order is then not kept for retried messages). A consumer can choose its own with
    /// [`Consumer::retry_strategy`](crate::consumer::Consumer::retry_strategy).
    pub retry_strategy: RetryStrategy,
    /// Dead-letter topic; `None` means `<original topic>.dlq`.
    pub dead_letter_topic: Option<String>,
    /// Serve Prometheus metrics on this address (`GET /metrics`). This installs herald's Prometheus
    /// recorder as the process's `metrics` recorder, so leave it unset if the application installs
    /// its own (herald's metrics then go to that one).
    pub metrics_listen: Option<SocketAddr>,
    /// `client.id` reported to the brokers.
    pub client_id: String,
    /// Extra librdkafka properties (e.g. `security.protocol`, `sasl.mechanism`); they override herald's.
    pub kafka: BTreeMap<String, String>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            brokers: "localhost:9092".to_string(),
            group_id: None,
            instance_id: None,
            start_from_beginning: true,
            batch_size: 1,
            max_wait_ms: 100,
            concurrency: 8,
            session_timeout_ms: 30_000,
            heartbeat_interval_ms: 3_000,
            max_poll_interval_ms: 300_000,
            commit_interval_ms: 1_000,
            commit_offsets: true,
            retry: RetryPolicy::default(),
            retry_strategy: RetryStrategy::Pause,
            dead_letter_topic: None,
            metrics_listen: None,
            client_id: "herald-consumer".to_string(),
            kafka: BTreeMap::new(),
        }
    }
}

impl ConsumerConfig {
    /// Defaults, then the TOML file at `path` (if given), then `HERALD_*` environment variables.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let config = match path {
            Some(path) => Self::from_toml_file(path)?,
            None => Self::default(),
        };
        config.with_env(|key| std::env::var(key).ok())
    }

    /// Parses a TOML file; missing keys keep their defaults.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(path.display().to_string(), e.to_string()))?;
        Self::from_toml_str(&text)
    }

    /// Parses TOML text; missing keys keep their defaults.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let config: Self =
            toml::from_str(text).map_err(|e| Error::config("toml", e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Applies `HERALD_*` overrides read through `var` (the environment, or a map in tests).
    pub fn with_env(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        if let Some(v) = var("HERALD_BROKERS") {
            self.brokers = v;
        }
        if let Some(v) = var("HERALD_GROUP_ID") {
            self.group_id = Some(v);
        }
        if let Some(v) = var("HERALD_INSTANCE_ID") {
            self.instance_id = Some(v).filter(|v| !v.trim().is_empty());
        }
        if let Some(v) = var("HERALD_DEAD_LETTER_TOPIC") {
            self.dead_letter_topic = Some(v);
        }
        set(
            &var,
            "HERALD_START_FROM_BEGINNING",
            &mut self.start_from_beginning,
        )?;
        set(&var, "HERALD_BATCH_SIZE", &mut self.batch_size)?;
        set(&var, "HERALD_MAX_WAIT_MS", &mut self.max_wait_ms)?;
        set(&var, "HERALD_CONCURRENCY", &mut self.concurrency)?;
        set(
            &var,
            "HERALD_SESSION_TIMEOUT_MS",
            &mut self.session_timeout_ms,
        )?;
        set(
            &var,
            "HERALD_HEARTBEAT_INTERVAL_MS",
            &mut self.heartbeat_interval_ms,
        )?;
        set(
            &var,
            "HERALD_MAX_POLL_INTERVAL_MS",
            &mut self.max_poll_interval_ms,
        )?;
        set(
            &var,
            "HERALD_COMMIT_INTERVAL_MS",
            &mut self.commit_interval_ms,
        )?;
        set(
            &var,
            "HERALD_RETRY_MAX_ATTEMPTS",
            &mut self.retry.max_attempts,
        )?;
        set(
            &var,
            "HERALD_RETRY_INITIAL_BACKOFF_MS",
            &mut self.retry.initial_backoff_ms,
        )?;
        set(
            &var,
            "HERALD_RETRY_MAX_BACKOFF_MS",
            &mut self.retry.max_backoff_ms,
        )?;
        set(&var, "HERALD_RETRY_MULTIPLIER", &mut self.retry.multiplier)?;
        set(&var, "HERALD_RETRY_STRATEGY", &mut self.retry_strategy)?;
        if let Some(v) = var("HERALD_METRICS_LISTEN") {
            let address = v
                .parse()
                .map_err(|e| Error::config("HERALD_METRICS_LISTEN", format!("{v:?}: {e}")))?;
            self.metrics_listen = Some(address);
        }
        self.validate()?;
        Ok(self)
    }

    /// Checks ranges that librdkafka would otherwise reject late or that make no sense.
    pub fn validate(&self) -> Result<()> {
        if self.brokers.trim().is_empty() {
            return Err(Error::config("brokers", "empty"));
        }
        if self.batch_size == 0 || self.batch_size > BATCH_SIZE_MAX {
            return Err(Error::config(
                "batch_size",
                format!("must be 1..={BATCH_SIZE_MAX}"),
            ));
        }
        if self.concurrency == 0 || self.concurrency > CONCURRENCY_MAX {
            return Err(Error::config(
                "concurrency",
                format!("must be 1..={CONCURRENCY_MAX}"),
            ));
        }
        if self.heartbeat_interval_ms >= self.session_timeout_ms {
            return Err(Error::config(
                "heartbeat_interval_ms",
                "must be below session_timeout_ms",
            ));
        }
        if self
            .instance_id
            .as_ref()
            .is_some_and(|id| id.trim().is_empty() || id.len() > INSTANCE_ID_BYTES_MAX)
        {
            return Err(Error::config(
                "instance_id",
                format!("must be 1..={INSTANCE_ID_BYTES_MAX} bytes"),
            ));
        }
        if self.commit_interval_ms == 0 {
            return Err(Error::config("commit_interval_ms", "must be > 0"));
        }
        self.retry.validate()
    }

    /// The max wait as a [`Duration`].
    pub fn max_wait(&self) -> Duration {
        Duration::from_millis(self.max_wait_ms)
    }

    /// The dead-letter topic for messages from `topic`.
    pub fn dead_letter_topic_for(&self, topic: &str) -> String {
        match &self.dead_letter_topic {
            Some(dlq) => dlq.clone(),
            None => format!("{topic}.dlq"),
        }
    }

    /// librdkafka properties of the group consumer for `group_id`.
    pub fn client_config(&self, group_id: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", group_id)
            .set("client.id", &self.client_id)
            // Offsets are committed by herald, and only for messages whose processing succeeded
            // (or that were dead-lettered). librdkafka's auto-commit would commit whatever was
            // handed to the application, so a crash mid-processing would silently skip messages.
            .set("enable.auto.commit", "false")
            // Nothing is stored implicitly either: the only offsets that can ever be committed are
            // the ones herald passes explicitly after success.
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.offset.reset",
                if self.start_from_beginning {
                    "earliest"
                } else {
                    "latest"
                },
            )
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                self.heartbeat_interval_ms.to_string(),
            )
            .set(
                "max.poll.interval.ms",
                self.max_poll_interval_ms.to_string(),
            )
            .set("enable.partition.eof", "false")
            // Per-partition consumer lag for the herald_consumer_lag gauge comes from these stats.
            .set("statistics.interval.ms", "5000");
        if let Some(instance_id) = &self.instance_id {
            // Static membership (KIP-345): a restart within the session timeout gets the same
            // partitions back at once instead of waiting for the old member to time out and then
            // rebalancing everyone.
            config.set("group.instance.id", instance_id);
        }
        for (key, value) in &self.kafka {
            config.set(key, value);
        }
        config
    }
}

/// A stable instance name for [`ConsumerConfig::instance_id`]: this host's name (stable across
/// restarts of a process, and per replica in a Kubernetes StatefulSet). Two instances of one group on
/// one host need names of their own.
pub fn host_instance_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Parses `var(key)` into `target` when set.
fn set<T: std::str::FromStr>(
    var: &impl Fn(&str) -> Option<String>,
    key: &str,
    target: &mut T,
) -> Result<()>
where
    T::Err: std::fmt::Display,
{
    if let Some(text) = var(key) {
        *target = text
            .trim()
            .parse()
            .map_err(|e| Error::config(key, format!("{text:?}: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn toml_overrides_defaults_and_env_overrides_toml() {
        // Proves the layering defaults < TOML < HERALD_* and that untouched keys keep defaults.
        let config = ConsumerConfig::from_toml_str(
            r#"
            brokers = "k1:9092,k2:9092"
            group_id = "users"
            batch_size = 500
            [retry]
            max_attempts = 3
            [kafka]
            "security.protocol" = "SASL_SSL"
            "#,
        )
        .unwrap();
        assert_eq!(config.brokers, "k1:9092,k2:9092");
        assert_eq!(config.batch_size, 500);
        assert_eq!(config.retry.max_attempts, 3);
        assert_eq!(config.concurrency, 8);
        let env: HashMap<&str, &str> =
            [("HERALD_BATCH_SIZE", "10"), ("HERALD_GROUP_ID", "g2")].into();
        let config = config
            .with_env(|k| env.get(k).map(|v| v.to_string()))
            .unwrap();
        assert_eq!(config.batch_size, 10);
        assert_eq!(config.group_id.as_deref(), Some("g2"));
        let client = config.client_config("g2");
        assert_eq!(client.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(client.get("enable.auto.commit"), Some("false"));
        assert_eq!(client.get("auto.offset.reset"), Some("earliest"));
    }

    #[test]
    fn invalid_values_are_rejected_with_their_key() {
        // Proves bad env values and unknown TOML keys are errors naming the setting, not panics.
        let err = ConsumerConfig::default()
            .with_env(|k| (k == "HERALD_CONCURRENCY").then(|| "many".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("HERALD_CONCURRENCY"), "{err}");
        assert!(ConsumerConfig::from_toml_str("batchsize = 3").is_err());
        assert!(ConsumerConfig::from_toml_str("batch_size = 0").is_err());
    }

    #[test]
    fn dead_letter_topic_defaults_to_topic_dot_dlq() {
        // Proves the default dead-letter naming and that an explicit topic wins.
        let mut config = ConsumerConfig::default();
        assert_eq!(
            config.dead_letter_topic_for("user_activity"),
            "user_activity.dlq"
        );
        config.dead_letter_topic = Some("poison".into());
        assert_eq!(config.dead_letter_topic_for("user_activity"), "poison");
    }

    #[test]
    fn instance_id_turns_on_static_membership() {
        // Proves group.instance.id is set only with an instance id, from the config or the env, and
        // that an empty HERALD_INSTANCE_ID means dynamic membership.
        let config = ConsumerConfig::default();
        assert_eq!(config.client_config("g").get("group.instance.id"), None);
        let config = config
            .with_env(|k| (k == "HERALD_INSTANCE_ID").then(|| "directory-1".to_string()))
            .unwrap();
        assert_eq!(
            config.client_config("g").get("group.instance.id"),
            Some("directory-1")
        );
        let config = config
            .with_env(|k| (k == "HERALD_INSTANCE_ID").then(String::new))
            .unwrap();
        assert_eq!(config.instance_id, None);
        assert!(ConsumerConfig::from_toml_str("instance_id = \"\"").is_err());
        assert!(!host_instance_name().is_empty());
    }
}

/// How a consumer retries a failing message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetryStrategy {
    /// Wait and try again in place: the partition waits (every order is kept). The default.
    #[default]
    Pause,
    /// Publish to `<topic>.retry.<n>` and move on; redelivered after the delay (per-key order is
    /// not kept for retried messages).
    Topics,
}

impl std::str::FromStr for RetryStrategy {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        match text.trim() {
            "pause" => Ok(RetryStrategy::Pause),
            "topics" => Ok(RetryStrategy::Topics),
            other => Err(format!("{other:?} is neither \"pause\" nor \"topics\"")),
        }
    }
}
