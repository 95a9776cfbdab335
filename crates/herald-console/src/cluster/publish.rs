//! Producing records: a dead letter republished to its original topic. The shared producer is
//! idempotent with `acks=all`, so a republish that is acknowledged is durable and not duplicated by
//! librdkafka's retries.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;

use super::Cluster;
use crate::Result;

/// A record to produce.
#[derive(Debug, Clone)]
pub struct OutgoingRecord {
    /// Target topic.
    pub topic: String,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
}

impl Cluster {
    /// Produces `record` and waits for its acknowledgement; returns (partition, offset).
    pub async fn produce(&self, record: &OutgoingRecord) -> Result<(i32, i64)> {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (key, value) in &record.headers {
            headers = headers.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        let mut future = FutureRecord::<[u8], [u8]>::to(&record.topic).headers(headers);
        if let Some(key) = &record.key {
            future = future.key(key.as_slice());
        }
        if let Some(value) = &record.value {
            future = future.payload(value.as_slice());
        }
        let delivery = self
            .producer()
            .send(future, Duration::from_millis(0))
            .await
            .map_err(|(error, _)| self.error(format!("produce to {}", record.topic), error))?;
        Ok((delivery.partition, delivery.offset))
    }
}
