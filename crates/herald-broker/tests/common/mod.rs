//! Shared helpers for herald-broker's integration tests: a broker on port 0 in a temp dir, rdkafka
//! client configs with the options that matter set explicitly, a raw Kafka protocol client (requests
//! and responses encoded by kafka-protocol) for what rdkafka cannot express, and awaited conditions.
#![allow(clippy::unwrap_used, dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use herald_broker::{Broker, BrokerConfig, BrokerHandle};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any awaited condition may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A broker running in-process on port 0 with its data in a temp dir.
pub struct TestBroker {
    pub handle: Option<BrokerHandle>,
    pub dir: TempDir,
    pub config: BrokerConfig,
}

impl TestBroker {
    /// Starts a broker with the test defaults.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a broker after `adjust` changed the test config.
    pub async fn start_with(adjust: impl FnOnce(&mut BrokerConfig)) -> Self {
        init_tracing();
        let dir = tempfile::tempdir().unwrap();
        let mut config = BrokerConfig::for_tests(dir.path());
        adjust(&mut config);
        let handle = Broker::start(config.clone()).await.unwrap();
        Self {
            handle: Some(handle),
            dir,
            config,
        }
    }

    /// `bootstrap.servers` for clients.
    pub fn bootstrap(&self) -> String {
        self.handle.as_ref().unwrap().bootstrap_servers()
    }

    /// The listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.handle.as_ref().unwrap().local_addr()
    }

    /// Shuts the broker down cleanly (the data dir stays).
    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await.unwrap();
        }
    }

    /// Starts the broker again on the same data dir (on a new port).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.handle = Some(Broker::start(self.config.clone()).await.unwrap());
    }

    /// Directory of one partition's log.
    pub fn partition_dir(&self, topic: &str, partition: i32) -> std::path::PathBuf {
        self.dir
            .path()
            .join("topics")
            .join(topic)
            .join(partition.to_string())
    }
}

/// Logs at warn (or RUST_LOG) once per test binary.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// A producer config: acks=all and idempotence on, because that is what herald's producers use and
/// it exercises InitProducerId and sequence checks.
pub fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000");
    config
}

/// A consumer config for manual assignment: librdkafka requires group.id, but nothing is committed
/// (enable.auto.commit=false, no commits), so no group coordinator is involved.
pub fn consumer_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "herald-broker-tests")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100");
    config
}

/// An admin client.
pub fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap()
}

/// Creates a topic through the admin API and checks it succeeded.
pub async fn create_topic(bootstrap: &str, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = admin(bootstrap)
        .create_topics([&topic], &AdminOptions::new())
        .await
        .unwrap();
    for result in results {
        result.unwrap();
    }
}

/// Produces each value as its own batch (awaiting each ack) to `topic` partition 0; returns offsets.
pub async fn produce_each(
    bootstrap: &str,
    topic: &str,
    values: impl IntoIterator<Item = String>,
) -> Vec<i64> {
    let producer: FutureProducer = producer_config(bootstrap)
        .set("linger.ms", "0")
        .create()
        .unwrap();
    let mut offsets = Vec::new();
    for value in values {
        let record = FutureRecord::<(), _>::to(topic)
            .partition(0)
            .payload(&value);
        let delivered = producer
            .send(record, Duration::from_secs(20))
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        offsets.push(delivered.offset);
    }
    offsets
}

/// Reads `count` records of `topic` partition 0 starting at `from`; returns (offset, payload) pairs.
pub async fn consume(bootstrap: &str, topic: &str, from: i64, count: usize) -> Vec<(i64, String)> {
    let consumer: StreamConsumer = consumer_config(bootstrap).create().unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Offset(from))
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let message = tokio::time::timeout(DEADLINE, consumer.recv())
            .await
            .expect("timed out consuming")
            .unwrap();
        let payload = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
        out.push((message.offset(), payload));
    }
    out
}

/// (log start offset, high watermark) of `topic` partition `partition`, as librdkafka reports them.
pub async fn watermarks(bootstrap: &str, topic: &str, partition: i32) -> (i64, i64) {
    let consumer: BaseConsumer = consumer_config(bootstrap).create().unwrap();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        consumer
            .fetch_watermarks(&topic, partition, Duration::from_secs(10))
            .unwrap()
    })
    .await
    .unwrap()
}

/// Polls `condition` until it returns `Some` or the deadline passes.
pub async fn eventually<T, F, Fut>(what: &str, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A raw Kafka protocol connection: requests encoded by kafka-protocol, for tests that need exact
/// bytes (bad frames, duplicate batches, error codes rdkafka hides).
pub struct RawClient {
    pub stream: TcpStream,
    correlation_id: i32,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        Self {
            stream,
            correlation_id: 0,
        }
    }

    /// Sends `body` as `api_key` v`version` and returns the decoded response body.
    pub async fn request<Req: Encodable, Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Req,
    ) -> Resp {
        self.send(api_key, version, body).await;
        self.receive(api_key, version).await
    }

    pub async fn send<Req: Encodable>(&mut self, api_key: ApiKey, version: i16, body: &Req) {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("raw-test")));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, api_key.request_header_version(version))
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&buf).await.unwrap();
    }

    pub async fn receive<Resp: Decodable>(&mut self, api_key: ApiKey, version: i16) -> Resp {
        let mut frame = self.read_frame().await.expect("connection closed");
        let header_version = if api_key == ApiKey::ApiVersions {
            0
        } else {
            api_key.response_header_version(version)
        };
        let header = ResponseHeader::decode(&mut frame, header_version).unwrap();
        assert_eq!(header.correlation_id, self.correlation_id);
        Resp::decode(&mut frame, version).unwrap()
    }

    /// Receives the response to the request sent with `correlation_id` (pipelined requests).
    pub async fn receive_in_order<Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        correlation_id: i32,
    ) -> Resp {
        let mut frame = self.read_frame().await.expect("connection closed");
        let header =
            ResponseHeader::decode(&mut frame, api_key.response_header_version(version)).unwrap();
        assert_eq!(
            header.correlation_id, correlation_id,
            "responses must come in request order"
        );
        Resp::decode(&mut frame, version).unwrap()
    }

    /// The next frame, or `None` if the broker closed the connection.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).await.ok()?;
        let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut frame).await.ok()?;
        Some(Bytes::from(frame))
    }

    /// Waits until the broker closes the connection (reads return EOF or an error).
    pub async fn assert_closed(&mut self) {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(DEADLINE, self.stream.read(&mut buf))
            .await
            .expect("broker did not close the connection");
        match read {
            Ok(0) | Err(_) => {}
            Ok(n) => panic!("expected the connection closed, got {n} bytes"),
        }
    }
}

/// One record batch (magic 2) holding `values`, written by `producer_id` at `epoch` from `base_sequence`.
pub fn record_batch(
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
    values: &[&str],
    timestamp: i64,
) -> Bytes {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, value)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: base_sequence + i as i32,
            timestamp,
            key: None,
            value: Some(Bytes::from(value.to_string())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.freeze()
}

/// Sends one Produce v9 (acks=all) of `records` to `topic`/`partition` and returns its partition result.
pub async fn raw_produce(
    raw: &mut RawClient,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> kafka_protocol::messages::produce_response::PartitionProduceResponse {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let mut response: ProduceResponse = raw.request(ApiKey::Produce, 9, &request).await;
    response.responses.remove(0).partition_responses.remove(0)
}

/// Reads the first 4 bytes of a frame as an i16 error code at `offset` (helper for v0 bodies).
pub fn i16_at(bytes: &Bytes, offset: usize) -> i16 {
    let mut b = bytes.slice(offset..offset + 2);
    b.get_i16()
}
