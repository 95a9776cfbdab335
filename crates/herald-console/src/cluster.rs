//! The console's view of the cluster through rdkafka: metadata, watermarks, groups, committed
//! offsets, topic configs, and the admin writes (create, delete, alter configs, purge) and produce.
//!
//! librdkafka's metadata, watermark, group and committed-offset calls block, so they run on tokio's
//! blocking pool ([`Cluster::blocking`]); admin calls and produce are futures and are awaited. Every
//! call has the configured deadline. Results come back as the console's own plain types.
//!
//! Main type: [`Cluster`]. Not here: reading records ([`crate::cluster::read`]), rendering.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::assignment::Assignment;
use crate::{ConsoleConfig, ConsoleError, Result};
use closer::Closer;

pub mod admin;
mod closer;
pub mod publish;
pub mod read;

/// The consumer group id the console's readers carry; they never join it and never commit.
pub const READER_GROUP_ID: &str = "herald-console";
/// Longest topic name Kafka accepts.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;
/// Most partitions the create form accepts.
pub const TOPIC_PARTITIONS_MAX: i32 = 1_000;

/// librdkafka callbacks: end of partition is normal for the explorer; the rest is logged.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuietContext;

impl ClientContext for QuietContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let end = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !end {
            tracing::debug!(%error, reason, "librdkafka");
        }
    }
}

impl ConsumerContext for QuietContext {}

/// A consumer of the console's.
pub type Reader = BaseConsumer<QuietContext>;

/// One broker as metadata names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerView {
    /// Node id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
}

/// One topic as metadata names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicView {
    /// Its name.
    pub name: String,
    /// Partition ids with their leader.
    pub partitions: Vec<(i32, i32)>,
    /// Internal topics (`__consumer_offsets` and the like) are listed but not counted as users'.
    pub internal: bool,
}

/// The cluster's brokers and topics.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// Brokers.
    pub brokers: Vec<BrokerView>,
    /// Topics, sorted by name.
    pub topics: Vec<TopicView>,
}

impl ClusterView {
    /// Every (topic, partition).
    pub fn partitions(&self, include_internal: bool) -> Vec<(String, i32)> {
        self.topics
            .iter()
            .filter(|t| include_internal || !t.internal)
            .flat_map(|t| t.partitions.iter().map(|(p, _)| (t.name.clone(), *p)))
            .collect()
    }

    /// The topic named `name`.
    pub fn topic(&self, name: &str) -> Option<&TopicView> {
        self.topics.iter().find(|t| t.name == name)
    }
}

/// Log start and log end offsets of each partition.
pub type Offsets = HashMap<(String, i32), (i64, i64)>;

/// A live member of a group.
#[derive(Debug, Clone)]
pub struct MemberView {
    /// Member id.
    pub member_id: String,
    /// `client.id`.
    pub client_id: String,
    /// Host as the broker saw it.
    pub client_host: String,
    /// Partitions it owns.
    pub assignment: Assignment,
}

/// A consumer group.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// Group id.
    pub name: String,
    /// Empty, Stable, PreparingRebalance, ...
    pub state: String,
    /// Live members.
    pub members: Vec<MemberView>,
}

/// One topic config entry.
#[derive(Debug, Clone)]
pub struct ConfigView {
    /// The key.
    pub name: String,
    /// Its value (hidden when sensitive).
    pub value: Option<String>,
    /// Whether it is the default.
    pub is_default: bool,
    /// Whether it can be changed.
    pub is_read_only: bool,
}

/// The rdkafka clients the console shares between requests.
pub struct Cluster {
    brokers: String,
    settings: Vec<(String, String)>,
    base: ClientConfig,
    timeout: Duration,
    pub(crate) admin: AdminClient<DefaultClientContext>,
    reader: Arc<Reader>,
    producer: FutureProducer,
    reads: Arc<tokio::sync::Semaphore>,
    pub(crate) closer: Arc<Closer>,
}

/// Most explorer or dead-letter reads running at once (each holds one consumer).
pub const READS_CONCURRENT_MAX: usize = 4;
impl Cluster {
    /// Creates the clients; they connect lazily, so the brokers need not be up yet.
    pub fn connect(config: &ConsoleConfig) -> Result<Cluster> {
        let mut base = ClientConfig::new();
        base.set("bootstrap.servers", &config.brokers)
            .set("client.id", "herald-console")
            .set(
                "socket.timeout.ms",
                config.request_timeout.as_millis().to_string(),
            )
            .set("log_level", "3");
        for (key, value) in &config.settings {
            base.set(key, value);
        }
        let client = |name: &'static str| {
            move |source: KafkaError| ConsoleError::Client {
                client: name,
                source: Box::new(source),
            }
        };
        let admin = base.create().map_err(client("admin"))?;
        let reader = reader_config(&base, READER_GROUP_ID)
            .create_with_context(QuietContext)
            .map_err(client("consumer"))?;
        let producer = base
            .clone()
            // Republished records must not be lost or duplicated by a retry.
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set(
                "message.timeout.ms",
                config.request_timeout.as_millis().to_string(),
            )
            .create()
            .map_err(client("producer"))?;
        Ok(Cluster {
            brokers: config.brokers.clone(),
            settings: config.settings.clone(),
            base,
            timeout: config.request_timeout,
            admin,
            reader: Arc::new(reader),
            producer,
            reads: Arc::new(tokio::sync::Semaphore::new(READS_CONCURRENT_MAX)),
            closer: Arc::new(Closer::start()),
        })
    }

    /// The bootstrap brokers.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// The deadline of one round trip.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Group administration (offset resets) with the same settings.
    pub fn group_admin(&self) -> herald::admin::Admin {
        herald::admin::Admin::with_config(&self.brokers, self.settings.iter().cloned())
    }

    pub(crate) fn error(&self, operation: impl Into<String>, source: KafkaError) -> ConsoleError {
        ConsoleError::kafka(&self.brokers, operation, None, source)
    }

    pub(crate) fn admin_options(&self) -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(self.timeout))
            .operation_timeout(Some(self.timeout))
    }

    /// Runs `f` with the shared reader on the blocking pool.
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Reader, Duration) -> Result<T> + Send + 'static,
    {
        let reader = self.reader.clone();
        let timeout = self.timeout;
        tokio::task::spawn_blocking(move || f(&reader, timeout))
            .await
            .map_err(ConsoleError::Task)?
    }

    /// Brokers and topics (all of them, or just `topic`).
    pub async fn metadata(&self, topic: Option<&str>) -> Result<ClusterView> {
        let topic = topic.map(str::to_string);
        let brokers = self.brokers.clone();
        self.blocking(move |reader, timeout| {
            let metadata = reader
                .fetch_metadata(topic.as_deref(), timeout)
                .map_err(|e| ConsoleError::kafka(&brokers, "fetch metadata", None, e))?;
            let mut view = ClusterView {
                brokers: metadata
                    .brokers()
                    .iter()
                    .map(|b| BrokerView {
                        id: b.id(),
                        host: b.host().to_string(),
                        port: b.port(),
                    })
                    .collect(),
                topics: metadata
                    .topics()
                    .iter()
                    .filter(|t| t.error().is_none() && !t.partitions().is_empty())
                    .map(|t| TopicView {
                        name: t.name().to_string(),
                        partitions: t
                            .partitions()
                            .iter()
                            .map(|p| (p.id(), p.leader()))
                            .collect(),
                        internal: t.name().starts_with("__"),
                    })
                    .collect(),
            };
            view.topics.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(view)
        })
        .await
    }

    /// Metadata of one topic, or [`ConsoleError::NotFound`].
    pub async fn topic(&self, name: &str) -> Result<TopicView> {
        self.metadata(Some(name))
            .await?
            .topics
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| ConsoleError::NotFound(format!("topic {name:?} does not exist")))
    }

    /// Log start and log end offsets of `partitions`, in two batched ListOffsets rounds.
    pub async fn offsets(&self, partitions: Vec<(String, i32)>) -> Result<Offsets> {
        if partitions.is_empty() {
            return Ok(Offsets::new());
        }
        let brokers = self.brokers.clone();
        self.blocking(move |reader, timeout| {
            let list_at = |position: Offset| -> Result<HashMap<(String, i32), i64>> {
                let mut list = TopicPartitionList::with_capacity(partitions.len());
                for (topic, partition) in &partitions {
                    list.add_partition_offset(topic, *partition, position)
                        .map_err(|e| ConsoleError::kafka(&brokers, "list offsets", None, e))?;
                }
                let answered = reader
                    .offsets_for_times(list, timeout)
                    .map_err(|e| ConsoleError::kafka(&brokers, "list offsets", None, e))?;
                Ok(answered
                    .elements()
                    .iter()
                    .filter_map(|e| match e.offset() {
                        Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
                        _ => None,
                    })
                    .collect())
            };
            let starts = list_at(Offset::Beginning)?;
            let ends = list_at(Offset::End)?;
            Ok(ends
                .into_iter()
                .map(|(key, end)| {
                    let start = starts.get(&key).copied().unwrap_or(0).min(end);
                    (key, (start, end))
                })
                .collect())
        })
        .await
    }

    /// Every consumer group (or just `group`) with its state and members.
    pub async fn groups(&self, group: Option<&str>) -> Result<Vec<GroupView>> {
        let group = group.map(str::to_string);
        let brokers = self.brokers.clone();
        self.blocking(move |reader, timeout| {
            let list = reader
                .fetch_group_list(group.as_deref(), timeout)
                .map_err(|e| ConsoleError::kafka(&brokers, "list groups", None, e))?;
            let mut groups: Vec<GroupView> = list
                .groups()
                .iter()
                .filter(|g| g.name() != READER_GROUP_ID)
                .map(|g| GroupView {
                    name: g.name().to_string(),
                    state: g.state().to_string(),
                    members: g
                        .members()
                        .iter()
                        .map(|m| MemberView {
                            member_id: m.id().to_string(),
                            client_id: m.client_id().to_string(),
                            client_host: m.client_host().to_string(),
                            assignment: m
                                .assignment()
                                .and_then(crate::assignment::decode)
                                .unwrap_or_default(),
                        })
                        .collect(),
                })
                .collect();
            groups.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(groups)
        })
        .await
    }

    /// The offsets `group` has committed on `partitions` (`None`: nothing committed there).
    pub async fn committed(
        &self,
        group: &str,
        partitions: Vec<(String, i32)>,
    ) -> Result<Vec<(String, i32, Option<i64>)>> {
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        let config = reader_config(&self.base, group);
        let (brokers, group) = (self.brokers.clone(), group.to_string());
        let closer = self.closer.clone();
        self.blocking(move |_, timeout| {
            let fail =
                |e| ConsoleError::kafka(&brokers, format!("committed offsets of {group}"), None, e);
            let consumer: Reader = config.create_with_context(QuietContext).map_err(fail)?;
            let mut list = TopicPartitionList::with_capacity(partitions.len());
            for (topic, partition) in &partitions {
                list.add_partition(topic, *partition);
            }
            let committed = consumer.committed_offsets(list, timeout);
            closer.close(consumer);
            let committed = committed.map_err(fail)?;
            Ok(committed
                .elements()
                .iter()
                .map(|e| {
                    let offset = match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    };
                    (e.topic().to_string(), e.partition(), offset)
                })
                .collect())
        })
        .await
    }

    /// The configuration of a consumer for reading records, and a permit bounding how many reads
    /// run at once. The caller creates the consumer on the blocking pool.
    pub(crate) async fn reader(&self) -> Result<(ClientConfig, tokio::sync::OwnedSemaphorePermit)> {
        let permit = self
            .reads
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ConsoleError::Conflict("the console is shutting down".into()))?;
        let mut config = reader_config(&self.base, READER_GROUP_ID);
        config
            .set("enable.partition.eof", "true")
            // The explorer wants what is there now, not to wait for more.
            .set("fetch.wait.max.ms", "50");
        Ok((config, permit))
    }

    /// The shared idempotent producer.
    pub(crate) fn producer(&self) -> &FutureProducer {
        &self.producer
    }
}

/// The configuration of a consumer that never commits, carrying `group` (whose offsets it reads).
fn reader_config(base: &ClientConfig, group: &str) -> ClientConfig {
    let mut config = base.clone();
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    config
}

/// Checks a topic name the way Kafka does: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let legal = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if name.is_empty() || name.len() > TOPIC_NAME_BYTES_MAX || !legal || name == "." || name == ".."
    {
        return Err(ConsoleError::BadRequest(format!(
            "invalid topic name {name:?}: use 1 to {TOPIC_NAME_BYTES_MAX} of letters, digits, '.', '_' and '-'"
        )));
    }
    Ok(())
}
