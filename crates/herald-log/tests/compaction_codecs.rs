//! Compressed batches are decompressed, filtered and recompressed with their own codec: every codec
//! (gzip, snappy in both framings, lz4, zstd) keeps its latest values and its codec after cleaning.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::RwLock;

use common::*;
use herald_log::batch::split_batches;
use herald_log::codec::{compress, decompress, Framing};
use herald_log::{clean_log, cleaner::CleanerWorker, CleanerConfig, Log};

const NOW_MS: i64 = 1_700_000_100_000;

/// Re-frames a snappy batch as the Java client's xerial stream.
fn as_xerial(batch: &[u8]) -> Vec<u8> {
    let h = herald_log::RecordBatchHeader::parse(batch).unwrap();
    let (plain, _) = decompress(2, &batch[61..h.total_bytes()]).unwrap();
    let section = compress(2, Framing::SnappyXerial, &plain).unwrap();
    let mut out = batch[..61].to_vec();
    out.extend(section);
    let len = (out.len() - 12) as i32;
    out[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

// every codec: the cleaned log holds the latest value per key, batches keep their codec and CRC
#[test]
fn every_codec_is_cleaned_and_recompressed() {
    for (codec, xerial) in [(1, false), (2, false), (2, true), (3, false), (4, false)] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), compact_config(400)).unwrap();
        for round in 0..6 {
            let spec = KeyedSpec {
                records: (0..10).map(|k| kv(k, round)).collect(),
                codec,
                ..KeyedSpec::default()
            };
            let mut batch = keyed(&spec);
            if xerial {
                batch = as_xerial(&batch);
            }
            log.append(&batch, NOW_MS).unwrap();
            // half the keys again in a batch of their own, so that batches are partly superseded
            let spec = KeyedSpec {
                records: (0..5).map(|k| kv(k, round + 100)).collect(),
                codec,
                ..KeyedSpec::default()
            };
            let mut batch = keyed(&spec);
            if xerial {
                batch = as_xerial(&batch);
            }
            log.append(&batch, NOW_MS).unwrap();
        }
        let before = read_records(&log);
        let log = RwLock::new(log);
        let mut worker = CleanerWorker::new(CleanerConfig::default());
        let stats = clean_log(&log, &mut worker, NOW_MS, false)
            .unwrap()
            .unwrap();
        assert!(stats.records_kept < stats.records_read, "codec {codec}");
        let log = log.into_inner().unwrap();
        let after = read_records(&log);
        assert!(after.len() < before.len(), "codec {codec}");
        assert_eq!(
            latest_per_key(&after),
            latest_per_key(&before),
            "codec {codec}"
        );
        let bytes = log.read(0, 1 << 20).unwrap();
        for (h, range) in split_batches(&bytes).unwrap() {
            assert_eq!(h.compression(), codec, "codec kept");
            if codec == 2 {
                let (_, framing) = decompress(2, &bytes[range][61..]).unwrap();
                assert_eq!(
                    framing == Framing::SnappyXerial,
                    xerial,
                    "snappy framing kept"
                );
            }
        }
    }
}
