//! The runner: joins the group, polls Kafka, hands records to partition workers, commits progress.
//!
//! One poll loop per consumer. It never blocks on a worker: a record goes into its partition's
//! overflow, and after each round of polling the overflow moves into the partition's bounded queue in
//! chunks (one channel send and at most one wake-up per chunk, not per record); when that queue is full (the worker is slow, or waiting to retry) records wait in the
//! partition's overflow, and once the overflow reaches a high-water mark the partition alone is paused
//! in librdkafka, to be resumed when the worker has drained it to a low-water mark (the gap keeps the
//! worker busy while fetching restarts). So other partitions keep flowing and the member keeps
//! polling (librdkafka heartbeats from its own thread), and memory stays bounded.
//! Offsets are committed every `commit_interval_ms`, when partitions are revoked, and at shutdown —
//! always the offset after the last message that was processed or dead-lettered.
//!
//! Shutdown (token or signal): stop fetching, let each worker finish its in-flight batch, commit, call
//! `on_stop`, and close the consumer, which leaves the group so partitions move on at once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message as _};
use rdkafka::TopicPartitionList;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::context::{HeraldContext, PartitionProgress, RebalanceEvent};
use super::worker::{PartitionWorker, WorkerShared};
use super::{Consumer, ConsumerConfig, Record, TopicPartition};
use crate::error::{Error, Result};
use crate::metrics::ConsumerCounters;
use crate::middleware::dead_letter::{DeadLetterPublisher, DeadLetterSource};
use crate::middleware::retry_topic::RetryTopics;

/// How often the loop wakes without messages: drains overflows, resumes partitions, commits.
const TICK_MS: u64 = 10;
/// Overflow records of one partition at which it is paused, at least (else `8 * batch_size`).
const OVERFLOW_PAUSE_RECORDS_MIN: usize = 4_096;
/// Overflow records of one partition at which it is paused, at most.
const OVERFLOW_PAUSE_RECORDS_MAX: usize = 100_000;
/// Records queued per partition ahead of its worker, at least.
const PARTITION_QUEUE_RECORDS_MIN: usize = 64;
/// Records queued per partition ahead of its worker, at most.
const PARTITION_QUEUE_RECORDS_MAX: usize = 20_000;
/// Chunks a partition's queue holds; a chunk holds at most a quarter of the queue's records, so at
/// most twice the queue's records wait in it (fewer when polling rounds are small).
const PARTITION_QUEUE_CHUNKS: usize = 8;
/// Records taken from librdkafka's queue in one round of the poll loop, at most.
const POLL_DRAIN_RECORDS_MAX: usize = 1_024;
/// Bytes reserved per header name and value when a record is copied (herald's `ce_*` headers).
const HEADER_NAME_BYTES_TYPICAL: usize = 16;
const HEADER_VALUE_BYTES_TYPICAL: usize = 48;
/// Pause after a poll error before polling again.
const POLL_ERROR_BACKOFF_MS: u64 = 100;

type KafkaConsumer = StreamConsumer<HeraldContext>;

/// Runs one or more [`Consumer`]s in this process until shutdown.
pub struct Runner {
    config: ConsumerConfig,
    consumers: Vec<Arc<dyn Consumer>>,
}

impl Runner {
    /// A runner with `config` and no consumers yet.
    pub fn new(config: ConsumerConfig) -> Self {
        Runner {
            config,
            consumers: Vec::new(),
        }
    }

    /// Adds a consumer; each gets its own Kafka consumer and group membership.
    pub fn consumer(mut self, consumer: impl Consumer) -> Self {
        self.consumers.push(Arc::new(consumer));
        self
    }

    /// Runs every consumer until `shutdown` is cancelled (or one fails to start; then the others stop
    /// too and the first error is returned).
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        self.config.validate()?;
        if self.consumers.is_empty() {
            return Err(Error::config(
                "consumers",
                "no consumer added to the runner",
            ));
        }
        let stop = shutdown.child_token();
        let metrics = async {
            let result = serve_metrics(self.config.metrics_listen, stop.clone()).await;
            if result.is_err() {
                stop.cancel(); // a configured exporter that cannot run is a startup failure
            }
            result
        };
        let runs = self.consumers.iter().map(|consumer| {
            let stop = stop.clone();
            let config = self.config.clone();
            async move {
                let result = run_consumer(consumer.clone(), config, stop.clone()).await;
                if result.is_err() {
                    stop.cancel();
                }
                result
            }
        });
        let all = async {
            let results = futures::future::join_all(runs).await;
            stop.cancel();
            results
        };
        let (results, metrics) = tokio::join!(all, metrics);
        results.into_iter().collect::<Result<Vec<()>>>()?;
        metrics
    }

    /// Runs until SIGINT or SIGTERM.
    pub async fn run_until_signal(self) -> Result<()> {
        let token = CancellationToken::new();
        let run = async {
            let result = self.run(token.clone()).await;
            token.cancel();
            result
        };
        let (result, ()) = tokio::join!(run, super::shutdown_on_signal(token.clone()));
        result
    }
}

/// Serves Prometheus metrics when an address is configured.
async fn serve_metrics(
    listen: Option<std::net::SocketAddr>,
    stop: CancellationToken,
) -> Result<()> {
    let Some(address) = listen else { return Ok(()) };
    let handle = crate::metrics::install_prometheus()?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| Error::config("metrics_listen", format!("bind {address}: {e}")))?;
    crate::metrics::serve_prometheus(listener, handle, stop).await
}

/// A partition's worker as the poll loop sees it.
struct WorkerSlot {
    records: mpsc::Sender<Vec<Record>>,
    /// Records that did not fit in the queue yet, in order.
    overflow: VecDeque<Record>,
    /// Whether this loop paused the partition (overflow reached the high-water mark).
    paused: bool,
    progress: Arc<PartitionProgress>,
    task: JoinHandle<()>,
}

/// The poll loop of one consumer.
struct PollLoop {
    kafka: Arc<KafkaConsumer>,
    shared: Arc<WorkerShared>,
    slots: HashMap<TopicPartition, WorkerSlot>,
    /// Workers of revoked partitions that may still be finishing their in-flight batch.
    retiring: HashMap<TopicPartition, JoinHandle<()>>,
    /// Records sent to a worker in one chunk, at most.
    chunk_records: usize,
    /// The partition of the last dispatched record.
    last_key: Option<TopicPartition>,
    /// Topic names, shared by the records instead of copied into each.
    topics: TopicNames,
    /// Overflow high-water mark: pause at this many records, resume at a quarter of it.
    overflow_pause: usize,
    last_commit: Instant,
}

async fn run_consumer(
    consumer: Arc<dyn Consumer>,
    config: ConsumerConfig,
    stop: CancellationToken,
) -> Result<()> {
    let name = consumer.name();
    let group: Arc<str> = consumer
        .group_id()
        .or_else(|| config.group_id.clone())
        .unwrap_or_else(|| name.clone())
        .into();
    let topics = consumer.subscribes_to();
    if topics.is_empty() {
        return Err(Error::config(
            "subscribes_to",
            format!("consumer {name} subscribes to no topic"),
        ));
    }
    let client_config = config.client_config(&group);
    let context = HeraldContext::new(group.clone(), config.commit_offsets);
    let kafka: KafkaConsumer = client_config
        .create_with_context(context)
        .map_err(|e| Error::kafka("create consumer", e))?;
    let dead_letters = DeadLetterPublisher::new(
        &client_config,
        DeadLetterSource {
            consumer: name.clone(),
            consumer_group: group.to_string(),
        },
    )?;
    consumer
        .on_start()
        .await
        .map_err(|e| Error::config("on_start", format!("consumer {name}: {e}")))?;
    let strategy = consumer.retry_strategy().unwrap_or(config.retry_strategy);
    let retry_topics =
        RetryTopics::for_strategy(strategy, &topics, config.retry.max_attempts, &client_config)
            .await?;
    let mut subscription: Vec<&str> = topics.iter().map(String::as_str).collect();
    let retry_names = retry_topics
        .as_ref()
        .map(RetryTopics::names)
        .unwrap_or_default();
    subscription.extend(retry_names.iter().map(String::as_str));
    kafka
        .subscribe(&subscription)
        .map_err(|e| Error::kafka("subscribe", e))?;
    tracing::info!(consumer = %name, %group, ?topics, ?retry_names, "consumer started");
    let poll_batch_size = config.batch_size;
    let queue_records =
        (config.batch_size * 2).clamp(PARTITION_QUEUE_RECORDS_MIN, PARTITION_QUEUE_RECORDS_MAX);
    let shared = Arc::new(WorkerShared {
        permits: Semaphore::new(config.concurrency),
        room: Notify::new(),
        consumer,
        config,
        dead_letters,
        retry_topics,
        shutdown: stop.clone(),
        group,
        name,
    });
    let mut poll = PollLoop {
        kafka: Arc::new(kafka),
        shared,
        slots: HashMap::new(),
        retiring: HashMap::new(),
        chunk_records: (queue_records / 4).max(1),
        last_key: None,
        topics: TopicNames::default(),
        overflow_pause: (poll_batch_size * 8)
            .clamp(OVERFLOW_PAUSE_RECORDS_MIN, OVERFLOW_PAUSE_RECORDS_MAX),
        last_commit: Instant::now(),
    };
    poll.run(&stop).await;
    poll.finish().await
}

impl PollLoop {
    async fn run(&mut self, stop: &CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_millis(TICK_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let kafka = self.kafka.clone();
        let shared = self.shared.clone();
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = tick.tick() => {
                    self.handle_rebalances().await;
                    self.housekeeping();
                }
                // A worker took a chunk: refill its queue now, not at the next tick, so that a
                // worker never idles while its records wait in the overflow (paused partitions
                // send nothing that would wake the loop otherwise).
                _ = shared.room.notified() => self.refill(),
                received = kafka.recv() => {
                    let mut received = Some(received.map(|message| self.topics.record(&message)));
                    // Take what librdkafka already has queued without going back through select!
                    // (each round re-arms the tick and the stop future); bounded so the tick runs.
                    for drained in 0..POLL_DRAIN_RECORDS_MAX {
                        if drained > 0 {
                            // Fetch before dispatching, never after the last round: a record taken
                            // from librdkafka must always be dispatched.
                            received = kafka.recv().now_or_never().map(|r| r.map(|message| self.topics.record(&message)));
                        }
                        let Some(record) = received.take() else { break };
                        self.handle_rebalances().await;
                        match record {
                            Ok(record) => self.dispatch(record),
                            Err(error) => {
                                tracing::warn!(group = %self.shared.group, %error, "poll error");
                                self.flush();
                                tokio::select! {
                                    _ = tokio::time::sleep(Duration::from_millis(POLL_ERROR_BACKOFF_MS)) => {}
                                    _ = stop.cancelled() => return,
                                }
                                break;
                            }
                        }
                    }
                    // One send per partition and round rather than one per record.
                    self.flush();
                }
            }
        }
    }

    /// Queues a record in its partition's overflow, starting a worker if needed; never waits.
    /// [`flush`](PollLoop::flush) hands the overflow to the worker.
    fn dispatch(&mut self, record: Record) {
        // Records arrive in runs from one partition: reuse the key of the previous one.
        let same = self
            .last_key
            .as_ref()
            .is_some_and(|tp| tp.partition == record.partition && *tp.topic == *record.topic);
        if !same {
            self.last_key = Some(TopicPartition {
                topic: record.topic.to_string(),
                partition: record.partition,
            });
        }
        let Some(tp) = self.last_key.take() else {
            return;
        };
        // One hash lookup per record in the usual case: the slot exists and is usable.
        let record = match self.slots.get_mut(&tp) {
            Some(slot)
                if !slot
                    .progress
                    .revoked
                    .load(std::sync::atomic::Ordering::Acquire) =>
            {
                slot.overflow.push_back(record);
                None
            }
            _ => Some(record),
        };
        if let Some(record) = record {
            self.retire(&tp);
            let mut slot = self.start_worker(&tp);
            slot.overflow.push_back(record);
            self.slots.insert(tp.clone(), slot);
        }
        self.last_key = Some(tp);
    }

    /// Moves each partition's overflow into its worker's queue while there is room, and pauses a
    /// partition whose overflow reached the high-water mark.
    fn flush(&mut self) {
        for (tp, slot) in &mut self.slots {
            if slot.overflow.is_empty() {
                continue;
            }
            drain(slot, self.chunk_records);
            if !slot.paused && slot.overflow.len() >= self.overflow_pause {
                // Stop fetching this partition only; records already fetched wait in the overflow.
                match self.kafka.pause(&single(tp)) {
                    Ok(()) => {
                        slot.paused = true;
                        tracing::debug!(topic = %tp.topic, partition = tp.partition, overflow = slot.overflow.len(), "partition paused");
                    }
                    Err(error) => {
                        tracing::warn!(%error, topic = %tp.topic, partition = tp.partition, "pause failed")
                    }
                }
            }
        }
    }

    fn start_worker(&mut self, tp: &TopicPartition) -> WorkerSlot {
        let (sender, receiver) = mpsc::channel(PARTITION_QUEUE_CHUNKS);
        let progress = self.kafka.context().progress(tp);
        let worker = PartitionWorker {
            shared: self.shared.clone(),
            records: receiver,
            progress: progress.clone(),
            pending: VecDeque::new(),
            spare_records: Vec::new(),
            spare_messages: Vec::new(),
            counters: ConsumerCounters::new(&self.shared.group, &tp.topic),
            previous: self.retiring.remove(tp),
        };
        WorkerSlot {
            records: sender,
            overflow: VecDeque::new(),
            paused: false,
            progress,
            task: tokio::spawn(worker.run()),
        }
    }

    /// Closes a partition's worker queue; the worker finishes its in-flight batch and exits.
    fn retire(&mut self, tp: &TopicPartition) {
        if let Some(slot) = self.slots.remove(tp) {
            drop(slot.records);
            self.retiring.insert(tp.clone(), slot.task);
        }
    }

    async fn handle_rebalances(&mut self) {
        for event in self.kafka.context().take_events() {
            match event {
                RebalanceEvent::Assigned(partitions) => {
                    // A partition paused before it was revoked must not stay paused when it returns.
                    let mut list = TopicPartitionList::new();
                    for tp in &partitions {
                        list.add_partition(&tp.topic, tp.partition);
                    }
                    let _ = self.kafka.resume(&list);
                    tracing::info!(group = %self.shared.group, ?partitions, "partitions assigned");
                    self.shared
                        .consumer
                        .on_partitions_assigned(&partitions)
                        .await;
                }
                RebalanceEvent::Revoked(partitions) => {
                    for tp in &partitions {
                        self.retire(tp);
                    }
                    tracing::info!(group = %self.shared.group, ?partitions, "partitions revoked");
                    self.shared
                        .consumer
                        .on_partitions_revoked(&partitions)
                        .await;
                }
            }
        }
    }

    /// Moves overflow into queues that have room, resumes drained partitions, commits on schedule.
    fn housekeeping(&mut self) {
        self.refill();
        self.retiring.retain(|_, task| !task.is_finished());
        let interval = Duration::from_millis(self.shared.config.commit_interval_ms);
        if self.shared.config.commit_offsets && self.last_commit.elapsed() >= interval {
            self.last_commit = Instant::now();
            if let Some(offsets) = self.kafka.context().offsets_to_commit() {
                // Async: the commit callback records what the broker confirmed.
                if let Err(error) = self.kafka.commit(&offsets, CommitMode::Async) {
                    tracing::warn!(group = %self.shared.group, %error, "offset commit failed");
                }
            }
        }
    }

    /// Moves overflow into queues that have room and resumes partitions drained to the low-water
    /// mark.
    fn refill(&mut self) {
        for (tp, slot) in &mut self.slots {
            drain(slot, self.chunk_records);
            if slot.paused && slot.overflow.len() <= self.overflow_pause / 4 {
                match self.kafka.resume(&single(tp)) {
                    Ok(()) => {
                        slot.paused = false;
                        tracing::debug!(topic = %tp.topic, partition = tp.partition, "partition resumed");
                    }
                    Err(error) => {
                        tracing::warn!(%error, topic = %tp.topic, partition = tp.partition, "resume failed")
                    }
                }
            }
        }
    }

    /// Stops workers after their in-flight batch, commits, calls `on_stop`, leaves the group.
    async fn finish(mut self) -> Result<()> {
        let tasks: Vec<JoinHandle<()>> = self
            .slots
            .drain()
            .map(|(_, slot)| slot.task)
            .chain(self.retiring.drain().map(|(_, task)| task))
            .collect();
        for task in tasks {
            if let Err(error) = task.await {
                tracing::error!(group = %self.shared.group, %error, "partition worker panicked");
            }
        }
        if self.shared.config.commit_offsets {
            if let Some(offsets) = self.kafka.context().offsets_to_commit() {
                if let Err(error) = self.kafka.commit(&offsets, CommitMode::Sync) {
                    tracing::warn!(group = %self.shared.group, %error, "final offset commit failed");
                }
            }
        }
        self.shared.consumer.on_stop().await;
        self.kafka.unsubscribe();
        let group = self.shared.group.clone();
        let kafka = self.kafka;
        // Closing the consumer leaves the group (LeaveGroup), so its partitions are reassigned now
        // rather than after the session timeout. Closing blocks while librdkafka finishes.
        tokio::task::spawn_blocking(move || drop(kafka))
            .await
            .map_err(|e| Error::config("consumer close", e.to_string()))?;
        tracing::info!(%group, "consumer stopped");
        Ok(())
    }
}

/// Moves overflow records into the worker's queue, in chunks of at most `chunk_records`, while it
/// has room.
fn drain(slot: &mut WorkerSlot, chunk_records: usize) {
    while !slot.overflow.is_empty() {
        match slot.records.try_reserve() {
            Ok(permit) => {
                let take = slot.overflow.len().min(chunk_records);
                permit.send(slot.overflow.drain(..take).collect());
            }
            Err(mpsc::error::TrySendError::Full(())) => return,
            // The worker stopped (shutdown or revocation): the records stay uncommitted and are
            // delivered again later.
            Err(mpsc::error::TrySendError::Closed(())) => {
                slot.overflow.clear();
                return;
            }
        }
    }
}

fn single(tp: &TopicPartition) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    list.add_partition(&tp.topic, tp.partition);
    list
}

/// The topic names records were seen with, each allocated once.
#[derive(Default)]
struct TopicNames {
    /// The last topic seen: records come in runs of one partition.
    last: Option<Arc<str>>,
    all: HashSet<Arc<str>>,
}

impl TopicNames {
    fn intern(&mut self, topic: &str) -> Arc<str> {
        if let Some(last) = self.last.as_ref().filter(|last| ***last == *topic) {
            return last.clone();
        }
        let name = match self.all.get(topic) {
            Some(name) => name.clone(),
            None => {
                // Bounded by the subscription: topics of this consumer and their retry topics.
                let name: Arc<str> = Arc::from(topic);
                self.all.insert(name.clone());
                name
            }
        };
        self.last = Some(name.clone());
        name
    }

    /// Copies an rdkafka message into an owned [`Record`]: three allocations (key, value,
    /// headers), the topic shared.
    fn record(&mut self, message: &BorrowedMessage<'_>) -> Record {
        to_record(self.intern(message.topic()), message)
    }
}

/// Copies an rdkafka message into an owned [`Record`] of `topic`.
fn to_record(topic: Arc<str>, message: &BorrowedMessage<'_>) -> Record {
    let headers = message
        .headers()
        .map(|headers| {
            // Three allocations for all the headers of the record, in one pass over them; headers
            // longer than the typical sizes grow the buffers once or twice.
            let count = headers.count();
            let mut owned = super::Headers::with_capacity(
                count,
                count * HEADER_NAME_BYTES_TYPICAL,
                count * HEADER_VALUE_BYTES_TYPICAL,
            );
            for header in headers.iter() {
                owned.push(header.key, header.value.unwrap_or_default());
            }
            owned
        })
        .unwrap_or_default();
    Record {
        topic,
        partition: message.partition(),
        offset: message.offset(),
        timestamp_ms: message.timestamp().to_millis(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec),
        headers,
    }
}
