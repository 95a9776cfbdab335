//! Crash recovery as seen through the protocol: a torn or garbage tail of the active segment is cut
//! at the last whole batch, the log end offset follows, and producing continues from there.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use common::{consume, create_topic, produce_each, watermarks, TestBroker};

/// The active (highest base offset) segment file of a partition directory.
fn active_segment(broker: &TestBroker, topic: &str) -> PathBuf {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(broker.partition_dir(topic, 0))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

// Garbage appended after the last batch is dropped at restart; every record stays readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_tail_is_truncated() {
    let mut broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "torn", 1, &[]).await;
    produce_each(
        &broker.bootstrap(),
        "torn",
        (0..10).map(|i| format!("r{i}")),
    )
    .await;
    broker.stop().await;

    let segment = active_segment(&broker, "torn");
    let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
    file.write_all(&[0xAB; 200]).unwrap();
    drop(file);

    broker.restart().await;
    assert_eq!(watermarks(&broker.bootstrap(), "torn", 0).await, (0, 10));
    let read = consume(&broker.bootstrap(), "torn", 0, 10).await;
    assert_eq!(read[9], (9, "r9".to_string()));
    let next = produce_each(&broker.bootstrap(), "torn", ["after-crash".to_string()]).await;
    assert_eq!(next, vec![10]);
    let read = consume(&broker.bootstrap(), "torn", 10, 1).await;
    assert_eq!(read, vec![(10, "after-crash".to_string())]);
}

// A last batch cut in the middle (torn write) is removed; the log end offset moves back to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_last_batch_is_removed() {
    let mut broker = TestBroker::start().await;
    create_topic(&broker.bootstrap(), "cut", 1, &[]).await;
    produce_each(&broker.bootstrap(), "cut", (0..10).map(|i| format!("r{i}"))).await;
    broker.stop().await;

    let segment = active_segment(&broker, "cut");
    let length = std::fs::metadata(&segment).unwrap().len();
    let file = OpenOptions::new().write(true).open(&segment).unwrap();
    file.set_len(length - 5).unwrap(); // each record is its own batch: this tears only the last one
    drop(file);

    broker.restart().await;
    assert_eq!(watermarks(&broker.bootstrap(), "cut", 0).await, (0, 9));
    let read = consume(&broker.bootstrap(), "cut", 0, 9).await;
    assert_eq!(read[8], (8, "r8".to_string()));
    let next = produce_each(&broker.bootstrap(), "cut", ["again".to_string()]).await;
    assert_eq!(next, vec![9]);
}
