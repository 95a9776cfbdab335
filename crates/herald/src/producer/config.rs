//! Producer configuration: the brokers, herald's explicit delivery guarantees, and extra librdkafka
//! settings.
//!
//! [`ProducerConfig`] is a builder; [`ProducerConfig::client_config`] turns it into the rdkafka
//! `ClientConfig`. This module does not create clients.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;

use super::delivery::DeliveryFailure;
pub use super::delivery::DeliveryFailureHandler;
use crate::envelope::default_source;
use crate::error::{Error, Result};

/// Messages `deliver_async` may buffer (waiting or in flight) before it reports `BufferFull`:
/// librdkafka's own `queue.buffering.max.messages` default.
pub const BUFFER_CAPACITY_DEFAULT: usize = 100_000;
/// How long librdkafka keeps retrying a message before reporting it failed (its default, 5 min).
pub const MESSAGE_TIMEOUT_MS_DEFAULT: u64 = 300_000;
/// How long `close` and drop wait for buffered messages to be delivered.
pub const CLOSE_TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// How long librdkafka waits to fill a batch before sending it (its default, 5 ms).
pub const LINGER_MS_DEFAULT: u64 = 5;
/// Largest buffer capacity librdkafka accepts for `queue.buffering.max.messages`.
pub const BUFFER_CAPACITY_MAX: usize = 2_147_483_647;

/// How to build a [`Producer`](super::Producer).
///
/// ```
/// use std::time::Duration;
/// use herald::producer::ProducerConfig;
///
/// let config = ProducerConfig::new("127.0.0.1:9092")
///     .source("users-service")
///     .buffer_capacity(10_000)
///     .message_timeout(Duration::from_secs(60))
///     .set("compression.type", "zstd")
///     .on_delivery_failure(|failure| eprintln!("lost {:?}: {}", failure.event_id, failure.error));
/// assert_eq!(config.client_config().unwrap().get("acks"), Some("all"));
/// ```
#[derive(Clone)]
pub struct ProducerConfig {
    bootstrap_servers: String,
    source: String,
    buffer_capacity: usize,
    message_timeout: Duration,
    close_timeout: Duration,
    linger: Duration,
    settings: BTreeMap<String, String>,
    on_delivery_failure: Option<DeliveryFailureHandler>,
}

impl fmt::Debug for ProducerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("source", &self.source)
            .field("buffer_capacity", &self.buffer_capacity)
            .field("message_timeout", &self.message_timeout)
            .field("close_timeout", &self.close_timeout)
            .field("linger", &self.linger)
            .field("settings", &self.settings)
            .field("on_delivery_failure", &self.on_delivery_failure.is_some())
            .finish()
    }
}

impl ProducerConfig {
    /// A config for `bootstrap_servers` (`host:port,host:port`) with herald's defaults.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            source: default_source().to_owned(),
            buffer_capacity: BUFFER_CAPACITY_DEFAULT,
            message_timeout: Duration::from_millis(MESSAGE_TIMEOUT_MS_DEFAULT),
            close_timeout: Duration::from_millis(CLOSE_TIMEOUT_MS_DEFAULT),
            linger: Duration::from_millis(LINGER_MS_DEFAULT),
            settings: BTreeMap::new(),
            on_delivery_failure: None,
        }
    }

    /// The `ce_source` of events that do not set one: this service's name.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// How many messages may wait in the buffer (or be in flight) at once; `deliver_async` reports
    /// `BufferFull` beyond it. Between 1 and [`BUFFER_CAPACITY_MAX`].
    pub fn buffer_capacity(mut self, messages: usize) -> Self {
        self.buffer_capacity = messages;
        self
    }

    /// How long librdkafka retries a message (reconnecting, waiting for the broker) before it
    /// reports it failed (`message.timeout.ms`). `Duration::ZERO` retries forever.
    pub fn message_timeout(mut self, timeout: Duration) -> Self {
        self.message_timeout = timeout;
        self
    }

    /// How long [`Producer::close`](super::Producer::close) and drop wait for the buffer to drain.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// How long to wait to fill a batch before sending it (`linger.ms`).
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Any other librdkafka setting (security, compression, ...); applied last, so it wins.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.insert(key.into(), value.into());
        self
    }

    /// Several librdkafka settings at once (e.g. the security settings of a cluster); applied
    /// last, so they win.
    pub fn settings<K, V>(mut self, settings: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.settings
            .extend(settings.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Called for every `deliver_async` message that failed after librdkafka's retries. Runs on
    /// librdkafka's delivery thread: keep it short and never block in it.
    pub fn on_delivery_failure(
        mut self,
        handler: impl Fn(&DeliveryFailure) + Send + Sync + 'static,
    ) -> Self {
        self.on_delivery_failure = Some(Arc::new(handler));
        self
    }

    /// The configured bootstrap servers.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// The configured default `ce_source`.
    pub fn default_source(&self) -> &str {
        &self.source
    }

    /// The configured buffer capacity, in messages.
    pub fn capacity(&self) -> usize {
        self.buffer_capacity
    }

    /// The configured close timeout.
    pub fn close_timeout_duration(&self) -> Duration {
        self.close_timeout
    }

    pub(crate) fn failure_handler(&self) -> Option<DeliveryFailureHandler> {
        self.on_delivery_failure.clone()
    }

    /// The rdkafka client configuration, after validating the values.
    pub fn client_config(&self) -> Result<ClientConfig> {
        if self.bootstrap_servers.trim().is_empty() {
            return Err(Error::config("bootstrap.servers", "is empty"));
        }
        if self.buffer_capacity == 0 || self.buffer_capacity > BUFFER_CAPACITY_MAX {
            return Err(Error::config(
                "buffer_capacity",
                format!(
                    "{} is outside 1..={BUFFER_CAPACITY_MAX}",
                    self.buffer_capacity
                ),
            ));
        }
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            // Wait for every in-sync replica, so an acknowledged event survives a broker loss.
            .set("acks", "all")
            // Retries never duplicate nor reorder: the broker drops resent batches by sequence number,
            // which keeps one entity's events in order even across reconnects.
            .set("enable.idempotence", "true")
            // The bounded buffer: when it is full, produce fails at once with QUEUE_FULL (mapped to
            // BufferFull); librdkafka never blocks the caller nor drops a message silently.
            .set(
                "queue.buffering.max.messages",
                self.buffer_capacity.to_string(),
            )
            // How long a message may wait for the broker (outage included) before it is reported failed.
            .set(
                "message.timeout.ms",
                self.message_timeout.as_millis().to_string(),
            )
            .set("linger.ms", self.linger.as_millis().to_string());
        for (key, value) in &self.settings {
            config.set(key, value);
        }
        Ok(config)
    }
}
