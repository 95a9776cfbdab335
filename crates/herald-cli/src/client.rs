//! Connection flags shared by every command that talks to a broker (`--brokers`, `-X key=value`,
//! `--timeout`), and the rdkafka clients built from them.
//!
//! Commands never assume herald-broker: these settings are all it takes to point them at a real Kafka
//! cluster, including its security settings (`-X security.protocol=SASL_SSL -X sasl.mechanism=...`).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::admin::AdminClient;
use rdkafka::client::ClientContext;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaErrorCode;

/// The CLI's consumers: a `BaseConsumer` with [`CliContext`].
pub type Reader = BaseConsumer<CliContext>;

/// librdkafka callbacks for the CLI: end-of-partition is a normal event for `--until-end`, not an
/// error to print; everything else is logged as a warning.
#[derive(Debug, Clone, Copy, Default)]
pub struct CliContext;

impl ClientContext for CliContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let end_of_partition = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !end_of_partition {
            tracing::warn!(%error, reason, "librdkafka");
        }
    }
}

impl ConsumerContext for CliContext {}

/// Flags for reaching the brokers.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Bootstrap brokers, host:port[,host:port...].
    #[arg(
        long,
        global = true,
        env = "HERALD_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    pub brokers: String,
    /// A librdkafka setting, key=value (repeatable), e.g. -X security.protocol=SASL_SSL.
    #[arg(short = 'X', global = true, value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub settings: Vec<(String, String)>,
    /// How long to wait for the brokers before giving up, e.g. 10s or 500ms.
    #[arg(long, global = true, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// Parses one `-X key=value`.
fn parse_setting(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected key=value, got {text:?}")),
    }
}

impl ClientArgs {
    /// librdkafka configuration: the brokers, then every `-X` setting (which may override anything).
    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", "herald-cli")
            // Fail fast on an unreachable cluster instead of librdkafka's long default retries.
            .set("socket.timeout.ms", self.timeout.as_millis().to_string())
            .set("log_level", "3");
        for (key, value) in &self.settings {
            config.set(key, value);
        }
        config
    }

    /// An admin client.
    pub fn admin(&self) -> anyhow::Result<AdminClient<DefaultClientContext>> {
        self.config().create().context("creating an admin client")
    }

    /// A consumer that never joins a group and never commits: for metadata, watermarks and reads.
    pub fn reader(&self, group: Option<&str>) -> anyhow::Result<Reader> {
        self.reader_config(group)
            .create_with_context(CliContext)
            .context("creating a consumer")
    }

    /// The configuration of [`ClientArgs::reader`], for callers that add settings. Offsets are
    /// committed only explicitly, for exactly the records the command handled.
    pub fn reader_config(&self, group: Option<&str>) -> ClientConfig {
        let mut config = self.config();
        config
            .set("group.id", group.unwrap_or("herald-cli"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        config
    }

    /// Cluster metadata for one topic or all, with an error naming the brokers when they can't be reached.
    pub fn metadata(&self, consumer: &Reader, topic: Option<&str>) -> anyhow::Result<Metadata> {
        use rdkafka::consumer::Consumer;
        self.retry_transient(|remaining| consumer.fetch_metadata(topic, remaining))
            .with_context(|| {
                format!(
                    "cannot reach brokers at {} within {:?}",
                    self.brokers, self.timeout
                )
            })
    }
}

impl ClientArgs {
    /// Runs `operation` (given the time left) until it succeeds, fails with an error that is not
    /// transient, or `--timeout` has passed. Right after a change (a topic just created, a consumer
    /// that just left its group) or on a busy machine, librdkafka's one-shot calls (watermarks, group
    /// lists, committed offsets) can fail with a timeout, a transport error or a coordinator or leader
    /// not known yet, although the same call a moment later succeeds: a command must not give up
    /// (and print nothing) on those.
    pub fn retry_transient<T>(
        &self,
        mut operation: impl FnMut(Duration) -> KafkaResult<T>,
    ) -> KafkaResult<T> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match operation(remaining.max(RETRY_ATTEMPT_MIN)) {
                Err(error) if is_transient(&error) && Instant::now() + RETRY_BACKOFF < deadline => {
                    tracing::debug!(%error, "transient error; retrying");
                    std::thread::sleep(RETRY_BACKOFF);
                }
                result => return result,
            }
        }
    }
}

/// Pause between attempts of [`ClientArgs::retry_transient`].
const RETRY_BACKOFF: Duration = Duration::from_millis(200);
/// Shortest time one attempt gets, even when the deadline is near.
const RETRY_ATTEMPT_MIN: Duration = Duration::from_millis(500);

/// Whether `error` is one a cluster gives transiently (see [`ClientArgs::retry_transient`]).
fn is_transient(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        error.rdkafka_error_code(),
        Some(
            OperationTimedOut
                | RequestTimedOut
                | BrokerTransportFailure
                | AllBrokersDown
                | Partial
                | CoordinatorLoadInProgress
                | CoordinatorNotAvailable
                | NotCoordinator
                | LeaderNotAvailable
                | NotLeaderForPartition
                | UnknownPartition
                | UnknownTopicOrPartition
                | UnknownTopic
                | WaitingForCoordinator
                | TimedOutQueue
        )
    )
}

/// Fails with a clear message when the metadata names `topic` with an error (e.g. it doesn't exist).
pub fn require_topic(metadata: &Metadata, topic: &str) -> anyhow::Result<()> {
    match metadata.topics().iter().find(|t| t.name() == topic) {
        None => bail!("topic {topic:?} does not exist"),
        Some(t) => match t.error().map(rdkafka::types::RDKafkaErrorCode::from) {
            Some(rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition) => {
                bail!("topic {topic:?} does not exist")
            }
            Some(error) => bail!("topic {topic:?}: {error}"),
            None if t.partitions().is_empty() => bail!("topic {topic:?} does not exist"),
            None => Ok(()),
        },
    }
}
