//! The producer: publish events to Kafka, awaiting the broker's ack or never blocking.
//!
//! [`Producer::deliver`] awaits the broker's acknowledgement and returns the [`Delivery`]
//! (partition, offset). [`Producer::deliver_async`] is DeliveryBoy's `deliver_async`: it copies the
//! event into librdkafka's bounded buffer and returns at once, never waiting on the network; when
//! the buffer is full it fails with [`Error::BufferFull`] instead of blocking or dropping. Messages
//! that librdkafka finally gives up on are counted (`herald_producer_failed_total`) and handed to
//! the `on_delivery_failure` handler. [`Producer::flush`], [`Producer::close`] and drop deliver what
//! is buffered.
//!
//! Every message is sent with `acks=all` and `enable.idempotence=true` (see [`ProducerConfig`]).
//! A broker outage longer than `message.timeout.ms` loses `deliver_async` messages (reported to the
//! handler); use the [outbox](crate::outbox) when an event must never be lost.
//!
//! ```no_run
//! # async fn demo() -> herald::Result<()> {
//! use herald::envelope::Event;
//! use herald::producer::{Producer, ProducerConfig};
//!
//! let producer = Producer::new(ProducerConfig::new("127.0.0.1:9092").source("users-service"))?;
//! let event = Event::new("user_created", &serde_json::json!({"id": 7}))?.key(7);
//! let delivery = producer.deliver("user_activity", &event).await?;
//! println!("stored at partition {} offset {}", delivery.partition, delivery.offset);
//! producer.deliver_async("user_activity", &event)?; // returns at once
//! producer.close().await?;
//! # Ok(()) }
//! ```

mod config;
mod delivery;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer as _, ThreadedProducer};
use rdkafka::util::Timeout;
use tokio::sync::oneshot;

pub use config::{
    DeliveryFailureHandler, ProducerConfig, BUFFER_CAPACITY_DEFAULT, BUFFER_CAPACITY_MAX,
    CLOSE_TIMEOUT_MS_DEFAULT, LINGER_MS_DEFAULT, MESSAGE_TIMEOUT_MS_DEFAULT,
};
pub use delivery::{
    Delivery, DeliveryFailure, ProducerStats, BUFFER_FULL_TOTAL, DELIVERED_TOTAL, FAILED_TOTAL,
};

use crate::envelope::{EncodedEvent, Event};
use crate::error::{Error, Result};
use delivery::{Counters, DeliveryContext, Pending};

/// How long `deliver` sleeps before trying again when the buffer is full.
const BUFFER_FULL_BACKOFF_MS: u64 = 5;

/// A Kafka producer for herald events. Cheap to clone: clones share one librdkafka client.
///
/// Dropping the last clone delivers what is still buffered first, blocking the dropping thread
/// for at most the close timeout; in async code prefer [`Producer::close`], which waits without
/// blocking a runtime thread.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

struct Inner {
    producer: ThreadedProducer<DeliveryContext>,
    counters: Arc<Counters>,
    source: String,
    capacity: usize,
    close_timeout: Duration,
    closed: AtomicBool,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("source", &self.inner.source)
            .field("capacity", &self.inner.capacity)
            .field("buffered", &self.buffered())
            .finish()
    }
}

impl Producer {
    /// Creates the producer. Does not contact the brokers: that happens in the background.
    pub fn new(config: ProducerConfig) -> Result<Self> {
        let client_config = config.client_config()?;
        let counters = Arc::new(Counters::default());
        let context = DeliveryContext {
            counters: Arc::clone(&counters),
            on_failure: config.failure_handler(),
        };
        let producer = client_config
            .create_with_context(context)
            .map_err(|source| Error::kafka("create producer", source))?;
        Ok(Self {
            inner: Arc::new(Inner {
                producer,
                counters,
                source: config.default_source().to_owned(),
                capacity: config.capacity(),
                close_timeout: config.close_timeout_duration(),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// Publishes `event` to `topic` and waits for the broker's acknowledgement (`acks=all`).
    ///
    /// While the buffer is full it waits for room. Fails with [`Error::Delivery`] when librdkafka
    /// gives up (after `message.timeout.ms`).
    pub async fn deliver(&self, topic: &str, event: &Event) -> Result<Delivery> {
        let encoded = event.encode(&self.inner.source);
        self.deliver_encoded(topic, &encoded).await
    }

    /// Like [`Producer::deliver`], for an event already encoded (as the outbox relay stores them).
    pub async fn deliver_encoded(&self, topic: &str, encoded: &EncodedEvent) -> Result<Delivery> {
        let (reply, delivered) = oneshot::channel();
        let mut pending = Box::new(Pending { reply: Some(reply) });
        loop {
            match self.enqueue(topic, encoded, Value::Payload, pending) {
                Ok(()) => break,
                Err((Error::BufferFull { .. }, returned)) => {
                    pending = returned;
                    tokio::time::sleep(Duration::from_millis(BUFFER_FULL_BACKOFF_MS)).await;
                }
                Err((error, _)) => return Err(error),
            }
        }
        delivered.await.map_err(|_| Error::Shutdown {
            component: "producer",
        })?
    }

    /// Hands an encoded event to librdkafka now, in call order, and returns a future of the broker's
    /// acknowledgement. Successive calls for one key are delivered in call order (idempotence);
    /// the outbox relay enqueues a whole batch this way before awaiting any of it.
    ///
    /// Fails at once with [`Error::BufferFull`] when the buffer is full.
    pub fn enqueue_encoded(&self, topic: &str, encoded: &EncodedEvent) -> Result<PendingDelivery> {
        let (reply, delivered) = oneshot::channel();
        let pending = Box::new(Pending { reply: Some(reply) });
        self.enqueue(topic, encoded, Value::Payload, pending)
            .map_err(|(error, _)| error)?;
        Ok(PendingDelivery { delivered })
    }

    /// Like [`Producer::enqueue_encoded`], with a null value (a tombstone: on a compacted topic it
    /// deletes `encoded`'s key); `encoded`'s payload is not sent, its key and headers are.
    pub fn enqueue_tombstone(
        &self,
        topic: &str,
        encoded: &EncodedEvent,
    ) -> Result<PendingDelivery> {
        let (reply, delivered) = oneshot::channel();
        let pending = Box::new(Pending { reply: Some(reply) });
        self.enqueue(topic, encoded, Value::Null, pending)
            .map_err(|(error, _)| error)?;
        Ok(PendingDelivery { delivered })
    }

    /// Copies `event` into the producer's bounded buffer and returns at once; librdkafka delivers it
    /// in the background. Never blocks and never waits on the network.
    ///
    /// Fails with [`Error::BufferFull`] when the buffer already holds its capacity (nothing is
    /// enqueued then). A later delivery failure goes to the `on_delivery_failure` handler and the
    /// `herald_producer_failed_total` counter.
    pub fn deliver_async(&self, topic: &str, event: &Event) -> Result<()> {
        let encoded = event.encode(&self.inner.source);
        self.deliver_encoded_async(topic, &encoded)
    }

    /// Like [`Producer::deliver_async`], for an event already encoded.
    pub fn deliver_encoded_async(&self, topic: &str, encoded: &EncodedEvent) -> Result<()> {
        let pending = Box::new(Pending { reply: None });
        self.enqueue(topic, encoded, Value::Payload, pending)
            .map_err(|(error, _)| {
                if matches!(error, Error::BufferFull { .. }) {
                    self.inner.counters.count_buffer_full(topic);
                }
                error
            })
    }

    /// Hands one message to librdkafka; on failure returns the opaque so the caller may retry.
    #[allow(clippy::result_large_err)]
    fn enqueue(
        &self,
        topic: &str,
        encoded: &EncodedEvent,
        value: Value,
        pending: Box<Pending>,
    ) -> std::result::Result<(), (Error, Box<Pending>)> {
        if self.inner.closed.load(Ordering::Acquire) {
            let error = Error::Shutdown {
                component: "producer",
            };
            return Err((error, pending));
        }
        let mut record: BaseRecord<'_, [u8], [u8], Box<Pending>> =
            BaseRecord::with_opaque_to(topic, pending).headers(encoded.kafka_headers());
        if value == Value::Payload {
            record = record.payload(encoded.payload.as_slice());
        }
        if let Some(key) = &encoded.key {
            record = record.key(key.as_slice());
        }
        self.inner.producer.send(record).map_err(|(error, record)| {
            let error = match error {
                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => Error::BufferFull {
                    capacity: self.inner.capacity,
                },
                other => Error::kafka("produce", other),
            };
            (error, record.delivery_opaque)
        })
    }

    /// Waits until every buffered message is delivered (or failed), at most `timeout`.
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.flush(timeout))
            .await
            .map_err(|_| Error::Shutdown {
                component: "producer flush",
            })?
    }

    /// Stops accepting events (later calls fail with [`Error::Shutdown`]) and waits, at most the
    /// configured close timeout, for the buffered ones to be delivered.
    pub async fn close(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::Release);
        self.flush(self.inner.close_timeout).await
    }

    /// Messages buffered or in flight, not yet acknowledged nor failed, plus librdkafka's pending
    /// delivery reports and client events: an upper bound on the messages, exact when idle.
    pub fn buffered(&self) -> usize {
        usize::try_from(self.inner.producer.in_flight_count()).unwrap_or(0)
    }

    /// How many messages the buffer holds.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Outcome counts since the producer was created.
    pub fn stats(&self) -> ProducerStats {
        self.inner.counters.snapshot()
    }
}

/// The broker's acknowledgement of one enqueued event, still to come (see
/// [`Producer::enqueue_encoded`]). Dropping it does not cancel the delivery.
#[derive(Debug)]
pub struct PendingDelivery {
    delivered: oneshot::Receiver<Result<Delivery>>,
}

impl Future for PendingDelivery {
    type Output = Result<Delivery>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.delivered).poll(cx).map(|outcome| {
            outcome.unwrap_or(Err(Error::Shutdown {
                component: "producer",
            }))
        })
    }
}

impl Inner {
    fn flush(&self, timeout: Duration) -> Result<()> {
        self.producer
            .flush(Timeout::After(timeout))
            .map_err(|source| match source.rdkafka_error_code() {
                Some(RDKafkaErrorCode::OperationTimedOut) => Error::Timeout {
                    operation: "producer flush",
                    timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                },
                _ => Error::kafka("flush", source),
            })
    }
}

impl Drop for Inner {
    /// Delivers what is buffered (at most the close timeout) before librdkafka purges it.
    fn drop(&mut self) {
        if self.producer.in_flight_count() == 0 {
            return;
        }
        let started = Instant::now();
        if let Err(error) = self.flush(self.close_timeout) {
            tracing::warn!(
                %error,
                undelivered = self.producer.in_flight_count(),
                waited_ms = started.elapsed().as_millis(),
                "producer dropped with undelivered events"
            );
        }
    }
}

/// Whether a record carries its event's payload or a null value (a tombstone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    Payload,
    Null,
}
