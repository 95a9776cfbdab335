//! Broker configuration: what `herald broker`'s flags and `HERALD_*` variables set, with Kafka's defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// When appended data is fsynced, and so when a produce with acks=1/all is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushPolicy {
    /// Answer acks=1/all only after the data is fsynced; one fsync covers every batch that arrived
    /// meanwhile (group commit). The default: an acknowledged write survives `kill -9` and power loss.
    #[default]
    Always,
    /// fsync in the background every interval; acknowledged writes of the last interval can be lost on
    /// power loss (not on a process crash: the page cache keeps them).
    Interval(Duration),
    /// Never fsync explicitly; the OS writes back when it likes.
    Never,
}

impl FromStr for FlushPolicy {
    type Err = String;

    /// Parses `always`, `never` or `interval:MS`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(FlushPolicy::Always),
            "never" => Ok(FlushPolicy::Never),
            other => match other.strip_prefix("interval:") {
                Some(ms) => ms
                    .parse::<u64>()
                    .ok()
                    .filter(|ms| *ms > 0)
                    .map(|ms| FlushPolicy::Interval(Duration::from_millis(ms)))
                    .ok_or_else(|| {
                        format!("invalid flush interval {ms:?}: expected milliseconds > 0")
                    }),
                None => Err(format!(
                    "invalid flush policy {other:?}: expected always, never or interval:MS"
                )),
            },
        }
    }
}

impl std::fmt::Display for FlushPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlushPolicy::Always => f.write_str("always"),
            FlushPolicy::Never => f.write_str("never"),
            FlushPolicy::Interval(d) => write!(f, "interval:{}", d.as_millis()),
        }
    }
}

/// Largest request frame accepted by default (Kafka's `socket.request.max.bytes`).
pub const REQUEST_BYTES_MAX_DEFAULT: usize = 100 * 1024 * 1024;
/// Connections served at once by default; the next `accept` waits for a free permit.
pub const CONNECTIONS_MAX_DEFAULT: usize = 10_000;
/// How long a request frame that has begun may take to arrive whole before its connection is closed
/// (slowloris). Clients give up on a request after their own `request.timeout.ms`, 30 s by default.
pub const REQUEST_READ_TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// How long a connection may sit between requests before it is closed (Kafka's
/// `connections.max.idle.ms`, 10 minutes); idle connections are normal for Kafka clients.
pub const CONNECTIONS_MAX_IDLE_MS_DEFAULT: u64 = 10 * 60 * 1000;

/// Kafka's smallest `log.cleaner.dedupe.buffer.size` per cleaner thread: 1 MiB.
pub const CLEANER_DEDUPE_BUFFER_BYTES_MIN: u64 = 1024 * 1024;

/// The log cleaner's broker-level settings (Kafka's `log.cleaner.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerSettings {
    /// `log.cleaner.enable`: run the cleaner at all. Off, compacted topics are never compacted (and,
    /// as in Kafka, never deleted by time either).
    pub enabled: bool,
    /// `log.cleaner.threads`: herald runs one cleaner thread; any other value is refused at start.
    pub threads: u32,
    /// `log.cleaner.dedupe.buffer.size`: memory of the key map, in bytes (at least 1 MiB per thread).
    pub dedupe_buffer_bytes: u64,
    /// `log.cleaner.io.max.bytes.per.second`: read plus write rate limit; `None` is unlimited.
    pub io_max_bytes_per_second: Option<f64>,
    /// `log.cleaner.backoff.ms`: sleep between passes over the logs when none was cleanable.
    pub backoff: Duration,
}

impl Default for CleanerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            threads: 1,
            dedupe_buffer_bytes: herald_log::cleaner::DEDUPE_BUFFER_BYTES_DEFAULT as u64,
            io_max_bytes_per_second: None,
            backoff: Duration::from_millis(herald_log::cleaner::BACKOFF_MS_DEFAULT),
        }
    }
}

impl CleanerSettings {
    /// Checks the settings as Kafka does at start-up: one thread, a key map of at least 1 MiB per
    /// thread (a smaller one could not hold the keys of one batch of a few thousand records, and a
    /// batch is the unit the cleaner maps), a positive I/O limit.
    pub fn validate(&self) -> Result<(), crate::BrokerError> {
        let invalid =
            |name: &str, value: String, reason: String| crate::BrokerError::InvalidConfig {
                name: name.to_string(),
                value: Some(value),
                reason,
            };
        if self.threads != 1 {
            return Err(invalid(
                "log.cleaner.threads",
                self.threads.to_string(),
                "herald runs exactly one log cleaner thread; only 1 is accepted".into(),
            ));
        }
        let per_thread = self.dedupe_buffer_bytes / u64::from(self.threads.max(1));
        if per_thread < CLEANER_DEDUPE_BUFFER_BYTES_MIN {
            return Err(invalid(
                "log.cleaner.dedupe.buffer.size",
                self.dedupe_buffer_bytes.to_string(),
                format!(
                    "must be at least {CLEANER_DEDUPE_BUFFER_BYTES_MIN} bytes (1 MiB) per cleaner \
                     thread, as in Kafka"
                ),
            ));
        }
        if usize::try_from(self.dedupe_buffer_bytes).is_err() {
            return Err(invalid(
                "log.cleaner.dedupe.buffer.size",
                self.dedupe_buffer_bytes.to_string(),
                "larger than this machine can address".into(),
            ));
        }
        if let Some(rate) = self.io_max_bytes_per_second {
            if !rate.is_finite() || rate < 1.0 {
                return Err(invalid(
                    "log.cleaner.io.max.bytes.per.second",
                    rate.to_string(),
                    "must be at least 1 byte per second".into(),
                ));
            }
        }
        Ok(())
    }

    /// The cleaner configuration these settings give (after `validate`).
    pub fn cleaner_config(
        &self,
        metrics: std::sync::Arc<herald_log::cleaner::CleanerMetrics>,
    ) -> herald_log::CleanerConfig {
        herald_log::CleanerConfig {
            dedupe_buffer_bytes: usize::try_from(self.dedupe_buffer_bytes).unwrap_or(usize::MAX),
            // Rates above u64::MAX bytes/s are unlimited in effect.
            io_bytes_per_second: self
                .io_max_bytes_per_second
                .map(|rate| rate.ceil().min(u64::MAX as f64) as u64),
            backoff_ms: u64::try_from(self.backoff.as_millis()).unwrap_or(u64::MAX),
            crash_hook: None,
            metrics,
        }
    }
}

/// TLS on the listener: a PEM certificate chain and its PEM private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// Everything a broker needs to start.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Address to bind; port 0 picks a free port (see `BrokerHandle::local_addr`).
    pub listen: SocketAddr,
    /// Directory holding every partition's log and the broker's metadata.
    pub data_dir: PathBuf,
    /// `host:port` that Metadata tells clients to connect to; `None` uses the bound address.
    pub advertised_address: Option<String>,
    /// When appends are fsynced.
    pub flush: FlushPolicy,
    /// Create a topic on first Metadata or Produce that names it.
    pub auto_create_topics: bool,
    /// Partitions of an auto-created topic (and of CreateTopics with -1).
    pub default_partitions: i32,
    /// Default `retention.ms` of new topics; `None` keeps data forever.
    pub retention_ms: Option<u64>,
    /// Default `retention.bytes` per partition; `None` is unlimited.
    pub retention_bytes: Option<u64>,
    /// Default `segment.bytes`.
    pub segment_bytes: u64,
    /// Default `max.message.bytes` (largest record batch).
    pub max_message_bytes: u64,
    /// Largest request frame; a larger one closes the connection.
    pub max_request_bytes: usize,
    /// Connections served at once.
    pub max_connections: usize,
    /// A begun request frame must be whole within this, or its connection is closed.
    pub request_read_timeout: Duration,
    /// A connection idle between requests for this long is closed.
    pub connections_max_idle: Duration,
    /// This broker's node id (also the controller and every group's coordinator).
    pub node_id: i32,
    /// How long the first join of an empty group waits for more members (Kafka's
    /// `group.initial.rebalance.delay.ms`, 3 s there; short here for development speed).
    pub group_initial_rebalance_delay: Duration,
    /// Committed offsets of an Empty group are deleted after this long (`offsets.retention.minutes`).
    pub offsets_retention: Duration,
    /// How often retention and group expiry run.
    pub retention_check_interval: Duration,
    /// TLS on the listener; `None` serves plaintext.
    pub tls: Option<TlsConfig>,
    /// The SASL users file (`auth/users.rs` has the format); `Some` requires every client to log in.
    pub sasl_users: Option<PathBuf>,
    /// The ACL file (`auth/acl.rs`); `None` lets every authenticated principal do everything.
    pub acl: Option<PathBuf>,
    /// Where to serve `/metrics`, `/health` and `/ready` over HTTP; `None` serves no endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// The log cleaner's settings (`log.cleaner.*`).
    pub cleaner: CleanerSettings,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9092)),
            data_dir: PathBuf::from("./data"),
            advertised_address: None,
            flush: FlushPolicy::Always,
            auto_create_topics: true,
            default_partitions: 1,
            retention_ms: Some(herald_log::config::SEVEN_DAYS_MS),
            retention_bytes: None,
            segment_bytes: herald_log::config::SEGMENT_BYTES_DEFAULT,
            max_message_bytes: herald_log::config::MAX_MESSAGE_BYTES_DEFAULT,
            max_request_bytes: REQUEST_BYTES_MAX_DEFAULT,
            max_connections: CONNECTIONS_MAX_DEFAULT,
            request_read_timeout: Duration::from_millis(REQUEST_READ_TIMEOUT_MS_DEFAULT),
            connections_max_idle: Duration::from_millis(CONNECTIONS_MAX_IDLE_MS_DEFAULT),
            node_id: 0,
            group_initial_rebalance_delay: Duration::from_millis(100),
            offsets_retention: Duration::from_secs(7 * 24 * 60 * 60),
            retention_check_interval: Duration::from_secs(30),
            tls: None,
            sasl_users: None,
            acl: None,
            metrics_listen: None,
            cleaner: CleanerSettings::default(),
        }
    }
}

impl BrokerConfig {
    /// A config for tests: port 0 on loopback, data in `data_dir`, everything else default.
    pub fn for_tests(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Flush policies parse from the flag syntax and print back to it.
    #[test]
    fn flush_policy_round_trips() {
        for text in ["always", "never", "interval:250"] {
            let policy: FlushPolicy = text.parse().unwrap();
            assert_eq!(policy.to_string(), text);
        }
        assert!("interval:0".parse::<FlushPolicy>().is_err());
        assert!("sometimes".parse::<FlushPolicy>().is_err());
    }

    // Kafka's defaults pass; a second thread, a key map under 1 MiB and a zero I/O limit are refused
    // with the config's name
    #[test]
    fn cleaner_settings_validate() {
        let defaults = CleanerSettings::default();
        defaults.validate().unwrap();
        assert_eq!(defaults.dedupe_buffer_bytes, 128 * 1024 * 1024);
        assert_eq!(defaults.backoff, Duration::from_millis(15_000));
        let refused = |settings: CleanerSettings| settings.validate().unwrap_err().to_string();
        let threads = refused(CleanerSettings {
            threads: 2,
            ..defaults.clone()
        });
        assert!(threads.contains("log.cleaner.threads"), "{threads}");
        let small = refused(CleanerSettings {
            dedupe_buffer_bytes: CLEANER_DEDUPE_BUFFER_BYTES_MIN - 1,
            ..defaults.clone()
        });
        assert!(small.contains("log.cleaner.dedupe.buffer.size"), "{small}");
        CleanerSettings {
            dedupe_buffer_bytes: CLEANER_DEDUPE_BUFFER_BYTES_MIN,
            ..defaults.clone()
        }
        .validate()
        .unwrap();
        let io = refused(CleanerSettings {
            io_max_bytes_per_second: Some(0.0),
            ..defaults.clone()
        });
        assert!(io.contains("log.cleaner.io.max.bytes.per.second"), "{io}");
        let config = CleanerSettings {
            io_max_bytes_per_second: Some(1.5e6),
            ..defaults
        }
        .cleaner_config(Default::default());
        assert_eq!(config.io_bytes_per_second, Some(1_500_000));
        assert_eq!(config.dedupe_buffer_bytes, 128 * 1024 * 1024);
    }
}
