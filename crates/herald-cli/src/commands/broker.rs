//! `herald broker`: runs herald-broker in the foreground until SIGINT or SIGTERM.
//!
//! Flag names are a contract (scripts depend on them); each also reads a `HERALD_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use herald_broker::{Broker, BrokerConfig, FlushPolicy};

/// Flags of `herald broker`.
#[derive(Debug, clap::Args)]
pub struct BrokerArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "HERALD_LISTEN", default_value = "127.0.0.1:9092")]
    listen: SocketAddr,
    /// Directory for the partitions' logs and the broker's metadata.
    #[arg(long, env = "HERALD_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// host:port that clients are told to connect to [default: the listen address].
    #[arg(long, env = "HERALD_ADVERTISED_ADDRESS")]
    advertised_address: Option<String>,
    /// When writes are fsynced: always (acks wait for fsync), interval:MS, or never.
    #[arg(long, env = "HERALD_FLUSH", default_value = "always")]
    flush: FlushPolicy,
    /// Create topics on first use by a producer or a metadata request.
    #[arg(long, env = "HERALD_AUTO_CREATE_TOPICS", default_value = "true", action = clap::ArgAction::Set)]
    auto_create_topics: bool,
    /// Partitions of auto-created topics.
    #[arg(long, env = "HERALD_DEFAULT_PARTITIONS", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    default_partitions: i32,
    /// Partitions of the internal __consumer_offsets topic when it is first created (Kafka's
    /// offsets.topic.num.partitions); an existing topic keeps its count.
    #[arg(long, env = "HERALD_OFFSETS_TOPIC_PARTITIONS", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=1000))]
    offsets_topic_partitions: i32,
    /// Default retention.ms of new topics; -1 keeps data forever [default: 7 days].
    #[arg(long, env = "HERALD_RETENTION_MS", allow_negative_numbers = true)]
    retention_ms: Option<i64>,
    /// Default retention.bytes per partition; -1 is unlimited [default: unlimited].
    #[arg(long, env = "HERALD_RETENTION_BYTES", allow_negative_numbers = true)]
    retention_bytes: Option<i64>,
    /// How often retention, group expiry and the log cleaner look for work, in milliseconds
    /// (Kafka's log.retention.check.interval.ms and log.cleaner.backoff.ms) [default: 30000].
    #[arg(long, env = "HERALD_RETENTION_CHECK_INTERVAL_MS", value_parser = clap::value_parser!(u64).range(10..))]
    retention_check_interval_ms: Option<u64>,
    /// Default segment.bytes of new topics [default: 1 GiB].
    #[arg(long, env = "HERALD_SEGMENT_BYTES", value_parser = clap::value_parser!(u64).range(1024..))]
    segment_bytes: Option<u64>,
    /// PEM certificate chain: serve TLS on the listener (with --tls-key).
    #[arg(long, env = "HERALD_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "HERALD_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Users file: require SASL (PLAIN, SCRAM-SHA-256/512) logins from every client.
    #[arg(long, env = "HERALD_SASL_USERS", value_name = "FILE")]
    sasl_users: Option<PathBuf>,
    /// ACL file: allow only what its rules grant to each principal (deny by default).
    #[arg(long, env = "HERALD_ACL", value_name = "FILE")]
    acl: Option<PathBuf>,
    /// Serve Prometheus metrics (`/metrics`) and `/health`, `/ready` over HTTP on HOST:PORT.
    #[arg(long, env = "HERALD_METRICS_LISTEN", value_name = "HOST:PORT")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Run the log cleaner for compacted topics (Kafka's log.cleaner.enable).
    #[arg(long, env = "HERALD_LOG_CLEANER_ENABLE", default_value = "true", action = clap::ArgAction::Set)]
    log_cleaner_enable: bool,
    /// Log cleaner threads (log.cleaner.threads); herald runs one and refuses other values.
    #[arg(long, env = "HERALD_LOG_CLEANER_THREADS", default_value_t = 1)]
    log_cleaner_threads: u32,
    /// Memory of the cleaner's key map in bytes, at least 1 MiB (log.cleaner.dedupe.buffer.size)
    /// [default: 128 MiB].
    #[arg(
        long,
        env = "HERALD_LOG_CLEANER_DEDUPE_BUFFER_SIZE",
        value_name = "BYTES"
    )]
    log_cleaner_dedupe_buffer_size: Option<u64>,
    /// Cleaner I/O limit, read plus write (log.cleaner.io.max.bytes.per.second) [default: unlimited].
    #[arg(
        long,
        env = "HERALD_LOG_CLEANER_IO_MAX_BYTES_PER_SECOND",
        value_name = "BYTES"
    )]
    log_cleaner_io_max_bytes_per_second: Option<f64>,
    /// Sleep between cleaner passes when no log is cleanable (log.cleaner.backoff.ms) [default: 15000].
    #[arg(long, env = "HERALD_LOG_CLEANER_BACKOFF_MS", value_name = "MS")]
    log_cleaner_backoff_ms: Option<u64>,
    /// Print a users-file line for USER:MECHANISM (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with the
    /// password read from stdin, and exit without starting the broker.
    #[arg(long, value_name = "USER:MECHANISM")]
    hash_password: Option<String>,
}

impl BrokerArgs {
    /// The broker configuration these flags describe.
    fn config(&self) -> BrokerConfig {
        let defaults = BrokerConfig::default();
        BrokerConfig {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            advertised_address: self.advertised_address.clone(),
            flush: self.flush,
            auto_create_topics: self.auto_create_topics,
            default_partitions: self.default_partitions,
            offsets_topic_partitions: self.offsets_topic_partitions,
            retention_ms: match self.retention_ms {
                Some(ms) if ms < 0 => None,
                Some(ms) => Some(ms as u64),
                None => defaults.retention_ms,
            },
            retention_bytes: match self.retention_bytes {
                Some(bytes) if bytes < 0 => None,
                Some(bytes) => Some(bytes as u64),
                None => defaults.retention_bytes,
            },
            segment_bytes: self.segment_bytes.unwrap_or(defaults.segment_bytes),
            retention_check_interval: self
                .retention_check_interval_ms
                .map_or(defaults.retention_check_interval, Duration::from_millis),
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert_path), Some(key_path)) => Some(herald_broker::TlsConfig {
                    cert_path: cert_path.clone(),
                    key_path: key_path.clone(),
                }),
                _ => None,
            },
            sasl_users: self.sasl_users.clone(),
            acl: self.acl.clone(),
            metrics_listen: self.metrics_listen,
            cleaner: herald_broker::CleanerSettings {
                enabled: self.log_cleaner_enable,
                threads: self.log_cleaner_threads,
                dedupe_buffer_bytes: self
                    .log_cleaner_dedupe_buffer_size
                    .unwrap_or(defaults.cleaner.dedupe_buffer_bytes),
                io_max_bytes_per_second: self.log_cleaner_io_max_bytes_per_second,
                backoff: self
                    .log_cleaner_backoff_ms
                    .map_or(defaults.cleaner.backoff, std::time::Duration::from_millis),
            },
            ..defaults
        }
    }
}

/// Starts the broker, waits for SIGINT/SIGTERM, then shuts down cleanly (in-flight requests finish and
/// every partition is fsynced) and returns.
pub async fn run(args: BrokerArgs) -> anyhow::Result<()> {
    if let Some(user_mechanism) = &args.hash_password {
        return hash_password(user_mechanism);
    }
    let config = args.config();
    tracing::info!(
        listen = %config.listen,
        data_dir = %config.data_dir.display(),
        flush = %config.flush,
        "starting herald-broker"
    );
    let broker = Broker::start(config)
        .await
        .context("starting herald-broker")?;
    let signal = crate::signal::shutdown_requested().await?;
    tracing::info!(signal, "shutting down");
    broker
        .shutdown()
        .await
        .context("shutting down herald-broker")?;
    tracing::info!("stopped");
    Ok(())
}

/// `--hash-password USER:MECHANISM`: prints a users-file line; the password comes from stdin so that
/// it stays out of the shell history and the process list.
fn hash_password(user_mechanism: &str) -> anyhow::Result<()> {
    use herald_broker::auth::users::{credential_line, Mechanism};
    let (user, mechanism) = user_mechanism
        .split_once(':')
        .context("--hash-password expects USER:MECHANISM")?;
    let mechanism = Mechanism::from_name(mechanism).with_context(|| {
        format!("unknown mechanism {mechanism:?} (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")
    })?;
    anyhow::ensure!(
        !user.is_empty() && !user.contains(':'),
        "invalid user name {user:?}"
    );
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("reading the password from stdin")?;
    let password = password.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!password.is_empty(), "empty password on stdin");
    println!("{}", credential_line(user, mechanism, password));
    Ok(())
}
