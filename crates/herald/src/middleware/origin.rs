//! Where a record was first consumed ([`Origin`]), and the naming of retry topics
//! (`<topic>.retry.<n>`) that tells it: what the dead-letter publisher and the retry-topic strategy
//! both need, in a module of its own so that neither imports the other for it.

use crate::consumer::Record;

/// The topic the record was consumed from.
pub const HEADER_ORIGINAL_TOPIC: &str = "herald-original-topic";
/// The partition the record was consumed from.
pub const HEADER_ORIGINAL_PARTITION: &str = "herald-original-partition";
/// The record's offset in that partition.
pub const HEADER_ORIGINAL_OFFSET: &str = "herald-original-offset";
/// What separates a topic from its retry level in a retry topic's name.
pub const RETRY_TOPIC_INFIX: &str = ".retry.";

/// The name of `topic`'s retry topic for records that failed `level` times.
pub fn retry_topic(topic: &str, level: u32) -> String {
    format!("{topic}{RETRY_TOPIC_INFIX}{level}")
}

/// `(original topic, level)` if `topic` is named like a retry topic.
pub fn parse_retry_topic(topic: &str) -> Option<(&str, u32)> {
    let at = topic.rfind(RETRY_TOPIC_INFIX)?;
    let level: u32 = topic[at + RETRY_TOPIC_INFIX.len()..].parse().ok()?;
    (at > 0 && level > 0).then(|| (&topic[..at], level))
}

impl crate::consumer::Message {
    /// The topic it was first consumed from: [`topic`](crate::consumer::Message::topic) itself, or
    /// for a message redelivered from a retry topic (`<topic>.retry.<n>`) the original topic.
    pub fn original_topic(&self) -> &str {
        Origin::of(&self.record).topic
    }
}

/// Where a record was first consumed: its own place, or for a retry record the place its
/// `herald-original-*` headers name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin<'a> {
    /// The original topic.
    pub topic: &'a str,
    /// The original partition.
    pub partition: i32,
    /// The original offset.
    pub offset: i64,
}

impl<'a> Origin<'a> {
    /// The origin of `record`: its headers' when it comes from a retry topic and carries them all.
    pub fn of(record: &'a Record) -> Self {
        let own = Origin {
            topic: &record.topic,
            partition: record.partition,
            offset: record.offset,
        };
        if parse_retry_topic(&record.topic).is_none() {
            return own;
        }
        let text = |name| {
            record
                .headers
                .get(name)
                .and_then(|v| std::str::from_utf8(v).ok())
        };
        let parsed = (|| {
            Some(Origin {
                topic: text(HEADER_ORIGINAL_TOPIC)?,
                partition: text(HEADER_ORIGINAL_PARTITION)?.parse().ok()?,
                offset: text(HEADER_ORIGINAL_OFFSET)?.parse().ok()?,
            })
        })();
        parsed.unwrap_or(own)
    }
}
