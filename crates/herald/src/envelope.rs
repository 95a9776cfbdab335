//! The event envelope: CloudEvents 1.0 in Kafka binary mode, plus the shapes consumers also accept.
//!
//! Producing: [`Event`] is a typed event (`Event::new("user_created", &user)?.key(user.id)`) that
//! [`Event::encode`] turns into an [`EncodedEvent`]: the Kafka record key (the entity id, so one
//! entity's events share a partition and stay in order), the value (the data as JSON) and the
//! headers `ce_specversion`, `ce_id` (UUIDv7), `ce_source`, `ce_type`, `ce_time` and `content-type`.
//!
//! Consuming: [`ReceivedEvent::decode`] accepts, from raw record parts (so it is testable without a
//! broker) or from any rdkafka [`Message`] via [`ReceivedEvent::from_message`]:
//! - CloudEvents binary mode (the `ce_*` headers above),
//! - CloudEvents structured mode (`content-type: application/cloudevents+json`, or a JSON object with
//!   `specversion`),
//! - the shape Rails services publish with DeliveryBoy, `{"name": ..., "data": {"id": <uuid>, ...}}`,
//!   whose event id is `data.id`.
//!
//! Anything else is an [`Error::Decode`] with a reason fit for a dead-letter topic.
//!
//! This module does no I/O: it knows nothing of producers, consumers or databases.

use std::fmt::Display;
use std::sync::OnceLock;

use chrono::{DateTime, SecondsFormat, Utc};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::error::{Error, Result};

mod data;
mod decode;

pub use data::Data;

/// The CloudEvents version herald writes and reads.
pub const SPEC_VERSION: &str = "1.0";
/// Content type of every event value herald writes.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// Content type of a CloudEvent in structured mode (the whole event is the JSON value).
pub const CONTENT_TYPE_CLOUDEVENTS_JSON: &str = "application/cloudevents+json";

/// Header holding the CloudEvents spec version.
pub const HEADER_SPEC_VERSION: &str = "ce_specversion";
/// Header holding the event id (a UUIDv7 when herald produced it).
pub const HEADER_ID: &str = "ce_id";
/// Header holding the event source (the producing service's name).
pub const HEADER_SOURCE: &str = "ce_source";
/// Header holding the event type, e.g. `user_created`.
pub const HEADER_TYPE: &str = "ce_type";
/// Header holding the event time, RFC 3339.
pub const HEADER_TIME: &str = "ce_time";
/// Header holding the value's content type (CloudEvents' `datacontenttype` in Kafka binary mode).
pub const HEADER_CONTENT_TYPE: &str = "content-type";
/// Prefix of every CloudEvents attribute header in Kafka binary mode.
pub const HEADER_PREFIX_CLOUDEVENTS: &str = "ce_";

/// Environment variable naming the service, used as `ce_source` when none is set explicitly.
pub const SOURCE_ENV: &str = "HERALD_SOURCE";

/// The source used when neither the event nor the producer names one: `$HERALD_SOURCE`, else the
/// executable's file name, else `"herald"`.
pub fn default_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        std::env::var(SOURCE_ENV)
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| {
                std::env::current_exe().ok().and_then(|path| {
                    path.file_stem()
                        .map(|stem| stem.to_string_lossy().into_owned())
                })
            })
            .unwrap_or_else(|| "herald".to_owned())
    })
}

/// An event to publish: a type, JSON data, an optional key, and the CloudEvents attributes.
///
/// ```
/// # fn main() -> herald::Result<()> {
/// use herald::envelope::Event;
///
/// #[derive(serde::Serialize)]
/// struct User { id: u64, email: String }
///
/// let user = User { id: 7, email: "ada@example.com".into() };
/// let event = Event::new("user_created", &user)?.key(user.id).source("users-service");
/// let encoded = event.encode("unused-default");
/// assert_eq!(encoded.key.as_deref(), Some(&b"7"[..]));
/// assert_eq!(encoded.header("ce_type"), Some(&b"user_created"[..]));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    id: Uuid,
    event_type: String,
    source: Option<String>,
    time: DateTime<Utc>,
    key: Option<String>,
    data: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
}

impl Event {
    /// A new event of `event_type` whose data is `data` serialized as JSON, with a fresh UUIDv7 id
    /// and the current time.
    pub fn new<T: Serialize + ?Sized>(event_type: impl Into<String>, data: &T) -> Result<Self> {
        let event_type = event_type.into();
        let data = serde_json::to_vec(data).map_err(|source| Error::Serialize {
            event_type: event_type.clone(),
            source,
        })?;
        Ok(Self {
            id: Uuid::now_v7(),
            event_type,
            source: None,
            time: Utc::now(),
            key: None,
            data,
            headers: Vec::new(),
        })
    }

    /// Sets the record key, normally the entity id: events with the same key go to the same
    /// partition and so are consumed in the order they were produced.
    pub fn key(mut self, key: impl Display) -> Self {
        self.key = Some(key.to_string());
        self
    }

    /// Sets `ce_source`, the producing service; without it the producer's configured source is used.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Replaces the generated event id (for tests and for re-publishing an existing event).
    pub fn id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// Replaces the event time (defaults to when [`Event::new`] ran).
    pub fn time(mut self, time: DateTime<Utc>) -> Self {
        self.time = time;
        self
    }

    /// Adds a header outside the envelope, e.g. W3C `traceparent`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The event id (`ce_id`).
    pub fn event_id(&self) -> Uuid {
        self.id
    }

    /// The event type (`ce_type`).
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The explicitly set source, if any.
    pub fn event_source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The event time (`ce_time`).
    pub fn event_time(&self) -> DateTime<Utc> {
        self.time
    }

    /// The record key, if set.
    pub fn partition_key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The data, serialized as JSON.
    pub fn data_json(&self) -> &[u8] {
        &self.data
    }

    /// Encodes the event as a Kafka record in CloudEvents binary mode; `default_source` becomes
    /// `ce_source` unless [`Event::source`] set one.
    pub fn encode(&self, default_source: &str) -> EncodedEvent {
        let source = self.source.as_deref().unwrap_or(default_source);
        let time = self.time.to_rfc3339_opts(SecondsFormat::Micros, true);
        let mut headers = Vec::with_capacity(6 + self.headers.len());
        headers.push((HEADER_SPEC_VERSION.to_owned(), SPEC_VERSION.into()));
        headers.push((HEADER_ID.to_owned(), self.id.to_string().into_bytes()));
        headers.push((HEADER_SOURCE.to_owned(), source.as_bytes().to_vec()));
        headers.push((HEADER_TYPE.to_owned(), self.event_type.as_bytes().to_vec()));
        headers.push((HEADER_TIME.to_owned(), time.into_bytes()));
        headers.push((HEADER_CONTENT_TYPE.to_owned(), CONTENT_TYPE_JSON.into()));
        headers.extend(self.headers.iter().cloned());
        EncodedEvent {
            key: self.key.as_ref().map(|key| key.as_bytes().to_vec()),
            payload: self.data.clone(),
            headers,
        }
    }
}

/// An event as a Kafka record: key, value and headers, ready for rdkafka (or an outbox row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedEvent {
    /// The record key (the entity id), if any.
    pub key: Option<Vec<u8>>,
    /// The record value: the event data as JSON.
    pub payload: Vec<u8>,
    /// The record headers, CloudEvents attributes first.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl EncodedEvent {
    /// The value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_slice())
    }

    /// The headers as rdkafka wants them for a record.
    pub fn kafka_headers(&self) -> OwnedHeaders {
        self.headers.iter().fold(
            OwnedHeaders::new_with_capacity(self.headers.len()),
            |headers, (key, value)| {
                headers.insert(Header {
                    key,
                    value: Some(value.as_slice()),
                })
            },
        )
    }
}

/// Headers [`ReceivedEvent::decode`] looks up without allocating; more spill into a `Vec`.
const HEADERS_INLINE: usize = 16;

/// Which envelope a received event arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeFormat {
    /// CloudEvents 1.0, Kafka binary mode: attributes in `ce_*` headers, data in the value.
    CloudEventsBinary,
    /// CloudEvents 1.0, structured mode: the whole event is a JSON object in the value.
    CloudEventsStructured,
    /// The Rails/DeliveryBoy shape `{"name": ..., "data": {"id": <uuid>, ...}}`.
    Rails,
}

/// An event decoded from a Kafka record, whichever envelope it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    /// The event id: `ce_id`, or `data.id` for the Rails shape. The inbox deduplicates on it.
    pub id: Uuid,
    /// The event type: `ce_type`, or `name` for the Rails shape.
    pub event_type: String,
    /// `ce_source`; `None` for the Rails shape, which has none.
    pub source: Option<String>,
    /// `ce_time`, when present.
    pub time: Option<DateTime<Utc>>,
    /// The record key.
    pub key: Option<Vec<u8>>,
    /// The event data: JSON, parsed on first use (`data["field"]`), or read typed with
    /// [`data_as`](ReceivedEvent::data_as) straight from the bytes.
    pub data: Data,
    /// Headers that are not part of the envelope (e.g. `traceparent`), in record order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The envelope it arrived in.
    pub format: EnvelopeFormat,
}

impl ReceivedEvent {
    /// Decodes an event from a record's parts. Headers with a null value are ignored.
    pub fn decode<'a>(
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    ) -> Result<Self> {
        // Records carry a handful of headers: look them up from the stack, not a fresh Vec.
        let mut inline = [("", &[][..]); HEADERS_INLINE];
        let mut count = 0;
        let mut spilled: Vec<(&str, &[u8])> = Vec::new();
        for (name, value) in headers {
            let Some(value) = value else { continue };
            match inline.get_mut(count) {
                Some(slot) if spilled.is_empty() => {
                    *slot = (name, value);
                    count += 1;
                }
                _ => {
                    if spilled.is_empty() {
                        spilled.extend_from_slice(&inline[..count]);
                    }
                    spilled.push((name, value));
                }
            }
        }
        let headers = match spilled.is_empty() {
            true => &inline[..count],
            false => spilled.as_slice(),
        };
        decode::decode(key.map(<[u8]>::to_vec), payload, headers.iter().copied())
    }

    /// As [`decode`](ReceivedEvent::decode), from headers that can be walked twice (a consumer
    /// record's), with no copy of the header list.
    pub(crate) fn decode_headers<'a, I>(
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: I,
    ) -> Result<Self>
    where
        I: Iterator<Item = (&'a str, &'a [u8])> + Clone,
    {
        decode::decode(key.map(<[u8]>::to_vec), payload, headers)
    }

    /// Decodes an event from an rdkafka message (borrowed or owned).
    pub fn from_message<M: Message>(message: &M) -> Result<Self> {
        let headers = message.headers();
        let pairs = headers
            .into_iter()
            .flat_map(|headers| headers.iter())
            .map(|header| (header.key, header.value));
        Self::decode(message.key(), message.payload(), pairs)
    }

    /// The data deserialized into `T`.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T> {
        self.data.to().map_err(|source| Error::Serialize {
            event_type: self.event_type.clone(),
            source,
        })
    }

    /// The key as UTF-8 text, if it is.
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|key| std::str::from_utf8(key).ok())
    }

    /// The value of the last non-envelope header called `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_slice())
    }
}
