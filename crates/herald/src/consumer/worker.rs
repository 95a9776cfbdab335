//! The partition worker: one task per assigned partition, processing its records strictly in order.
//!
//! It decodes each record (an undecodable one is dead-lettered at once), calls the handler (batch or
//! single), retries failures with backoff, dead-letters after the last attempt, and then advances the
//! partition's progress, which is what the runner commits. While it waits for a retry it stops reading
//! its bounded queue; the queue fills and the runner pauses just this partition. With retry topics it
//! publishes a failed message to the next retry topic instead and moves on; a retry partition's worker
//! waits until each record is due.
//! Not here: polling Kafka and committing (the runner does both).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::context::PartitionProgress;
use super::{Consumer, ConsumerConfig, Message, Record};
use crate::envelope::ReceivedEvent;
use crate::metrics::ConsumerCounters;
use crate::middleware::dead_letter::{dead_letter_headers, DeadLetterKind, DeadLetterPublisher};
use crate::middleware::retry_topic::{self, Origin, RetryTopics};

/// What every worker of one consumer shares.
pub(crate) struct WorkerShared {
    pub consumer: Arc<dyn Consumer>,
    pub config: ConsumerConfig,
    pub dead_letters: DeadLetterPublisher,
    /// The retry topics when the consumer retries through them; `None` pauses the partition.
    pub retry_topics: Option<RetryTopics>,
    /// Bounds the partitions processed at the same time (`concurrency`).
    pub permits: Semaphore,
    /// Signalled when a worker took a chunk from its queue: the poll loop refills queues.
    pub room: Notify,
    pub shutdown: CancellationToken,
    pub group: Arc<str>,
    pub name: String,
}

/// One partition's worker.
pub(crate) struct PartitionWorker {
    pub shared: Arc<WorkerShared>,
    /// Chunks of records from the poll loop, in partition order.
    pub records: mpsc::Receiver<Vec<Record>>,
    pub progress: Arc<PartitionProgress>,
    /// Records received but not yet taken into a batch, in order.
    pub pending: VecDeque<Record>,
    /// The buffers of the last batch, emptied and kept so that each batch does not allocate (and
    /// free) room for thousands of records and messages again.
    pub spare_records: Vec<Record>,
    pub spare_messages: Vec<Message>,
    pub counters: ConsumerCounters,
    /// The previous worker of the same partition (before a revoke and reassignment): it must finish
    /// before this one starts, or the two could process the same records concurrently.
    pub previous: Option<JoinHandle<()>>,
}

/// Why processing of a batch stopped early.
enum Stopped {
    /// Shutdown or revocation: leave the rest uncommitted for redelivery.
    Interrupted,
}

/// A record ready for processing, or one that goes straight to the dead-letter topic.
enum Decoded {
    Event(Message),
    Poison(Record, String),
}

impl PartitionWorker {
    /// Runs until the queue closes, the partition is revoked, or shutdown.
    pub async fn run(mut self) {
        if let Some(previous) = self.previous.take() {
            let _ = previous.await;
        }
        while let Some(batch) = self.next_batch().await {
            if self.is_stopping() {
                break;
            }
            if let Err(Stopped::Interrupted) = self.handle(batch).await {
                break;
            }
        }
    }

    fn is_stopping(&self) -> bool {
        self.shared.shutdown.is_cancelled() || self.progress.revoked.load(Ordering::Acquire)
    }

    /// Waits for a record, then gathers up to `batch_size` within `max_wait`.
    async fn next_batch(&mut self) -> Option<Vec<Record>> {
        if self.pending.is_empty() {
            let chunk = tokio::select! {
                chunk = self.records.recv() => chunk?,
                _ = self.shared.shutdown.cancelled() => return None,
            };
            self.take(chunk);
        }
        let batch_size = self.shared.config.batch_size;
        if self.pending.len() < batch_size {
            let deadline = tokio::time::sleep(self.shared.config.max_wait());
            tokio::pin!(deadline);
            'fill: loop {
                // Take what is already queued without waiting.
                while self.pending.len() < batch_size {
                    match self.records.try_recv() {
                        Ok(chunk) => self.take(chunk),
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => break 'fill,
                    }
                }
                if self.pending.len() >= batch_size {
                    break;
                }
                tokio::select! {
                    chunk = self.records.recv() => match chunk {
                        Some(chunk) => self.take(chunk),
                        None => break,
                    },
                    _ = &mut deadline => break,
                }
                if self.pending.len() < batch_size {
                    // Let the queue fill for a moment rather than waking up for every chunk.
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(BATCH_FILL_PAUSE_MS)) => {}
                        _ = &mut deadline => break,
                    }
                }
            }
        }
        let take = self.pending.len().min(batch_size);
        let mut batch = std::mem::take(&mut self.spare_records);
        batch.extend(self.pending.drain(..take));
        Some(batch)
    }

    /// Moves a chunk from the queue into `pending` and tells the poll loop there is room again.
    fn take(&mut self, chunk: Vec<Record>) {
        self.pending.extend(chunk);
        self.shared.room.notify_one();
    }

    /// Processes a batch: runs of decodable events go to the handler, poison records to the DLQ.
    async fn handle(&mut self, mut batch: Vec<Record>) -> Result<(), Stopped> {
        let mut events = std::mem::take(&mut self.spare_messages);
        events.reserve(batch.len());
        let mut result = Ok(());
        for record in batch.drain(..) {
            match self.decode(record) {
                Decoded::Event(message) => events.push(message),
                Decoded::Poison(record, reason) => {
                    result = self.process_events(&events).await;
                    events.clear();
                    if result.is_ok() {
                        let kind = DeadLetterKind::Decode;
                        result = self.dead_letter(&record, &kind, &reason).await;
                    }
                    if result.is_err() {
                        break;
                    }
                }
            }
        }
        if result.is_ok() {
            result = self.process_events(&events).await;
        }
        events.clear();
        batch.clear();
        self.spare_messages = events;
        self.spare_records = batch;
        result
    }

    fn decode(&self, record: Record) -> Decoded {
        let decoded = ReceivedEvent::decode_headers(
            record.key.as_deref(),
            record.payload.as_deref(),
            record.headers.iter(),
        );
        match decoded {
            Ok(event) => Decoded::Event(Message {
                event,
                record,
                consumer_group: self.shared.group.clone(),
            }),
            Err(error) => {
                let reason = error.to_string();
                Decoded::Poison(record, reason)
            }
        }
    }

    /// Processes events in order: as one batch when there are several, falling back to one by one
    /// (each with the full retry policy) if the batch fails.
    async fn process_events(&mut self, events: &[Message]) -> Result<(), Stopped> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let last_offset = last.offset();
        // A retry partition's records each wait until due, so they are processed one by one.
        if events.len() > 1 && self.retry_level(&last.record).is_none() {
            let span = tracing::info_span!(
                "herald.process_batch",
                group = %self.shared.group,
                topic = %last.topic(),
                partition = last.partition(),
                first_offset = events[0].offset(),
                last_offset,
                size = events.len(),
            );
            let result = {
                let _permit = self.shared.permits.acquire().await;
                self.shared
                    .consumer
                    .process_batch(events)
                    .instrument(span)
                    .await
            };
            match result {
                Ok(()) => {
                    self.counters.processed.increment(events.len() as u64);
                    self.progress.advance(last_offset + 1);
                    return Ok(());
                }
                Err(error) => {
                    self.counters.failed.increment(1);
                    tracing::warn!(group = %self.shared.group, %error, "batch failed; processing its messages one by one");
                }
            }
        }
        for message in events {
            if self.is_stopping() {
                return Err(Stopped::Interrupted);
            }
            self.process_one(message).await?;
            self.progress.advance(message.offset() + 1);
        }
        Ok(())
    }

    /// One message with retries; dead-lettered after the last failed attempt. With retry topics a
    /// failure publishes it to the next retry topic instead of waiting, and a message from a retry
    /// topic first waits until it is due.
    async fn process_one(&mut self, message: &Message) -> Result<(), Stopped> {
        let policy = self.shared.config.retry.clone();
        let span = self.span(message);
        // Attempts made before this delivery (a retry topic's level), so the count spans topics.
        let mut failures = self.retry_level(&message.record).unwrap_or(0);
        if failures > 0 {
            let now_ms = chrono::Utc::now().timestamp_millis();
            self.wait(retry_topic::delay_until_due(&message.record, now_ms))
                .await?;
        }
        loop {
            let result = {
                let _permit = self.shared.permits.acquire().await;
                self.shared
                    .consumer
                    .process(message)
                    .instrument(span.clone())
                    .await
            };
            let error = match result {
                Ok(()) => {
                    self.counters.processed.increment(1);
                    return Ok(());
                }
                Err(error) => error,
            };
            failures += 1;
            self.counters.failed.increment(1);
            if !policy.should_retry(failures) {
                tracing::error!(parent: &span, attempts = failures, %error, "giving up; dead-lettering");
                let kind = DeadLetterKind::Processing { attempts: failures };
                return self
                    .dead_letter(&message.record, &kind, &error.to_string())
                    .await;
            }
            let wait = policy.backoff(failures);
            self.counters.retried.increment(1);
            if self.shared.retry_topics.is_some() {
                tracing::warn!(parent: &span, attempt = failures, %error, wait_ms = wait.as_millis() as u64, "handler failed; retrying through a retry topic");
                return self
                    .retry_later(&message.record, failures, wait, &error.to_string())
                    .await;
            }
            tracing::warn!(parent: &span, attempt = failures, %error, wait_ms = wait.as_millis() as u64, "handler failed; retrying");
            self.wait(wait).await?;
        }
    }

    /// The span of one message's processing, joined to the producer's trace when it sent one.
    fn span(&self, message: &Message) -> tracing::Span {
        let span = tracing::info_span!(
            "herald.process",
            consumer = %self.shared.name,
            group = %self.shared.group,
            topic = %message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            event_id = %message.event.id,
            event_type = %message.event.event_type,
            traceparent = tracing::field::Empty,
        );
        // W3C trace context from the producer, so the handler's span can be joined to its trace.
        if let Some(traceparent) = message
            .event
            .header("traceparent")
            .and_then(|v| std::str::from_utf8(v).ok())
        {
            span.record("traceparent", traceparent);
        }
        span
    }

    /// The retry level of `record`'s topic when this consumer uses retry topics and it is one.
    fn retry_level(&self, record: &Record) -> Option<u32> {
        self.shared.retry_topics.as_ref()?.level(&record.topic)
    }

    /// Publishes a failed record to the retry topic for `failures` attempts, due after `wait`; the
    /// partition then moves on (its offset is committed once the retry record is acknowledged).
    async fn retry_later(
        &self,
        record: &Record,
        failures: u32,
        wait: Duration,
        reason: &str,
    ) -> Result<(), Stopped> {
        let publisher = &self.shared.dead_letters;
        let topic = retry_topic::retry_topic(Origin::of(record).topic, failures);
        let kind = DeadLetterKind::Processing { attempts: failures };
        let mut headers = dead_letter_headers(record, &kind, reason, publisher.source());
        let due_ms = chrono::Utc::now().timestamp_millis() + wait.as_millis() as i64;
        headers.push((
            retry_topic::HEADER_NOT_BEFORE.to_string(),
            due_ms.to_string().into_bytes(),
        ));
        publisher
            .publish_with_headers(&topic, record, &headers, &self.shared.shutdown)
            .await
            .map_err(|_| Stopped::Interrupted)
    }

    /// Sleeps for a retry backoff unless shutdown or revocation comes first.
    async fn wait(&self, wait: Duration) -> Result<(), Stopped> {
        let deadline = tokio::time::Instant::now() + wait;
        // Revocation is a flag, not a future: re-check it at a short period while sleeping.
        let tick = Duration::from_millis(REVOKE_CHECK_MS);
        while tokio::time::Instant::now() < deadline {
            if self.is_stopping() {
                return Err(Stopped::Interrupted);
            }
            let until = deadline.min(tokio::time::Instant::now() + tick);
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = self.shared.shutdown.cancelled() => return Err(Stopped::Interrupted),
            }
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        record: &Record,
        kind: &DeadLetterKind,
        reason: &str,
    ) -> Result<(), Stopped> {
        let topic = self
            .shared
            .config
            .dead_letter_topic_for(Origin::of(record).topic);
        self.shared
            .dead_letters
            .publish(&topic, record, kind, reason, &self.shared.shutdown)
            .await
            .map_err(|_| Stopped::Interrupted)?;
        tracing::warn!(
            group = %self.shared.group,
            topic = %record.topic,
            partition = record.partition,
            offset = record.offset,
            dead_letter_topic = %topic,
            reason,
            "dead-lettered"
        );
        self.counters.dead_lettered.increment(1);
        self.progress.advance(record.offset + 1);
        Ok(())
    }
}

/// While filling a batch, how long a worker lets its queue fill before taking what arrived.
const BATCH_FILL_PAUSE_MS: u64 = 1;
/// How often a worker waiting for a retry checks whether its partition was revoked.
const REVOKE_CHECK_MS: u64 = 100;
