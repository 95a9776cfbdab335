//! Real client traffic through the decoding entry point that the fuzz targets use.
//!
//! A byte-recording TCP proxy sits between rdkafka and the broker (the broker advertises the proxy, so
//! every connection goes through it). An rdkafka workload (admin, idempotent producers in several
//! codecs, a consumer group that commits) runs; then every recorded client-to-broker stream must
//! decode completely with `frame::decode_requests`, which proves that the fuzz target drives the
//! same path as the socket does. With `HERALD_FUZZ_DIR=<repo>/fuzz` the test also writes the seed
//! corpora: the request frames (`corpus/request_frames`), the stored batches (`corpus/record_batches`),
//! a whole segment (`corpus/log_recovery`) and the old committed-offsets file (`corpus/offsets_log`).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{admin, consumer_config, producer_config, TestBroker, DEADLINE};
use herald_broker::frame::decode_requests;
use kafka_protocol::messages::ApiKey;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const TOPIC: &str = "traffic";
const CODECS: [&str; 4] = ["none", "gzip", "lz4", "zstd"];
const RECORDS_PER_CODEC: usize = 10;
const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Seed frames kept per (API key, version), so that the corpus stays small.
const FRAMES_PER_VERSION: usize = 2;

/// Client-to-broker bytes, one entry per proxied connection.
type Recorded = Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>;

/// Accepts on `listener` and forwards to `upstream`, recording what clients send.
async fn proxy(listener: TcpListener, upstream: SocketAddr, recorded: Recorded) {
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    while let Ok((client, _)) = listener.accept().await {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        recorded.lock().unwrap().push(bytes.clone());
        connections.push(tokio::spawn(forward(client, upstream, bytes)));
    }
    for connection in connections {
        let _ = connection.await;
    }
}

async fn forward(client: TcpStream, upstream: SocketAddr, bytes: Arc<Mutex<Vec<u8>>>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let to_server = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = client_read.read(&mut buf).await {
            if n == 0 || server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
            bytes.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        let _ = server_write.shutdown().await;
    };
    let to_client = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(to_server, to_client);
}

/// Admin, one idempotent producer per codec, and a consumer group that reads everything and commits.
async fn workload(bootstrap: &str) {
    let topic = NewTopic::new(TOPIC, 2, TopicReplication::Fixed(1));
    for result in admin(bootstrap)
        .create_topics([&topic], &AdminOptions::new())
        .await
        .unwrap()
    {
        result.unwrap();
    }
    for codec in CODECS {
        let producer: FutureProducer = producer_config(bootstrap)
            .set("compression.codec", codec)
            .create()
            .unwrap();
        for i in 0..RECORDS_PER_CODEC {
            let (key, value) = (format!("key-{i}"), format!("{codec} value {i}"));
            let record = FutureRecord::to(TOPIC).key(&key).payload(&value);
            producer
                .send(record, Duration::from_secs(20))
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
    }
    let consumer: StreamConsumer = consumer_config(bootstrap)
        .set("group.id", "traffic-group")
        .set("enable.auto.offset.store", "true") // so that commit_consumer_state commits what was read
        .create()
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    for _ in 0..CODECS.len() * RECORDS_PER_CODEC {
        tokio::time::timeout(DEADLINE, consumer.recv())
            .await
            .expect("group consumer stalled")
            .unwrap();
    }
    consumer.commit_consumer_state(CommitMode::Sync).unwrap();
    consumer.unsubscribe();
}

/// Splits a recorded stream into its frames (size prefix included).
fn frames(stream: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(prefix) = stream.get(at..at + 4) {
        let size = i32::from_be_bytes(prefix.try_into().unwrap()) as usize;
        let Some(frame) = stream.get(at..at + 4 + size) else {
            break; // a frame cut off when the connection closed
        };
        out.push(frame);
        at += 4 + size;
    }
    out
}

fn write_seed(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// Writes the seed corpora under `fuzz_dir/corpus/`.
fn write_corpora(fuzz_dir: &Path, streams: &[Vec<u8>], broker: &TestBroker) {
    let corpus = fuzz_dir.join("corpus");
    let mut kept: BTreeMap<(i16, i16), usize> = BTreeMap::new();
    for frame in streams.iter().flat_map(|s| frames(s)) {
        let (key, version) = (
            i16::from_be_bytes([frame[4], frame[5]]),
            i16::from_be_bytes([frame[6], frame[7]]),
        );
        let count = kept.entry((key, version)).or_default();
        if *count < FRAMES_PER_VERSION {
            let name = format!("key{key}-v{version}-{count}");
            write_seed(&corpus.join("request_frames"), &name, frame);
            *count += 1;
        }
    }
    let partition = broker.partition_dir(TOPIC, 0);
    let segment = std::fs::read(partition.join("00000000000000000000.log")).unwrap();
    let batches = herald_log::batch::split_batches(&segment).unwrap();
    for (i, (_, range)) in batches.iter().enumerate().take(8) {
        write_seed(
            &corpus.join("record_batches"),
            &format!("stored-{i}"),
            &segment[range.clone()],
        );
    }
    write_seed(&corpus.join("record_batches"), "segment", &segment);
    let mut recovery = vec![0u8]; // selector 0: no index file
    recovery.extend_from_slice(&segment);
    write_seed(&corpus.join("log_recovery"), "segment", &recovery);
    let index = std::fs::read(partition.join("00000000000000000000.index")).unwrap_or_default();
    let mut with_index = vec![1u8]; // selector 1: the first 8 bytes are the index
    with_index.extend_from_slice(index.get(..8).unwrap_or(&[0; 8]));
    with_index.extend_from_slice(&segment);
    write_seed(
        &corpus.join("log_recovery"),
        "segment-with-index",
        &with_index,
    );
    // The old offsets file is only read to migrate it now; its seed is written in its framing.
    let mut old_log = Vec::new();
    for (partition, offset) in [(0, 10), (1, 20), (0, 30)] {
        let record = herald_broker::coordinator::OffsetRecord::Commit {
            group_id: "corpus".to_owned(),
            topic: TOPIC.to_owned(),
            partition,
            value: herald_broker::coordinator::CommittedOffset {
                offset,
                leader_epoch: 0,
                metadata: Some("seed".to_owned()),
                commit_timestamp_ms: 1,
            },
        };
        herald_broker::coordinator::legacy_offsets::encode_frame(&record, &mut old_log).unwrap();
    }
    write_seed(&corpus.join("offsets_log"), "commits", &old_log);
}

// Every request rdkafka sends (admin, idempotent produce in four codecs, group protocol, commits)
// decodes completely through decode_requests, the fuzz targets' entry point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_rdkafka_traffic_decodes_through_the_fuzzed_entry_point() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    let mut broker =
        TestBroker::start_with(|c| c.advertised_address = Some(proxy_addr.to_string())).await;
    let recorded: Recorded = Arc::default();
    let proxy_task = tokio::spawn(proxy(listener, broker.addr(), recorded.clone()));

    workload(&proxy_addr.to_string()).await;
    broker.stop().await; // closes every proxied connection from the broker's side
    proxy_task.abort();
    let _ = proxy_task.await;

    let streams: Vec<Vec<u8>> = recorded
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.lock().unwrap().clone())
        .collect();
    let mut seen: BTreeSet<i16> = BTreeSet::new();
    for stream in &streams {
        let decoded = decode_requests(stream, MAX_REQUEST_BYTES)
            .unwrap_or_else(|e| panic!("real traffic failed to decode: {e}"));
        assert_eq!(
            decoded.len(),
            frames(stream).len(),
            "a frame did not decode"
        );
        seen.extend(decoded.iter().map(|k| *k as i16));
    }
    for wanted in [
        ApiKey::ApiVersions,
        ApiKey::Metadata,
        ApiKey::CreateTopics,
        ApiKey::InitProducerId,
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::SyncGroup,
        ApiKey::OffsetCommit,
    ] {
        assert!(seen.contains(&(wanted as i16)), "no {wanted:?} in {seen:?}");
    }
    if let Ok(fuzz_dir) = std::env::var("HERALD_FUZZ_DIR") {
        write_corpora(Path::new(&fuzz_dir), &streams, &broker);
    }
}
