//! Broker-side recompression: a produced batch rewritten with its topic's `compression.type`, as Kafka's
//! `LogValidator` does when the topic's codec is not `producer` and differs from the batch's.
//!
//! The rewritten batch keeps everything that identifies it: base offset, partition leader epoch, last
//! offset delta, base and max timestamps, producer id, epoch and base sequence, the transactional bit,
//! the timestamp type, and every record byte for byte (offset and timestamp deltas included); only the
//! codec bits of the attributes, the compressed records section, the batch length and the CRC32C
//! change. A batch already in the target codec is kept verbatim (Kafka's in-place path: herald accepts
//! only magic v2, so the other reason Kafka rewrites a batch, format conversion, never arises). Control
//! batches are never rewritten. CPU-bound: callers run it off async runtime threads.
//!
//! Main items: [`Recompression`], [`recompress_batches`].

use crate::batch::{split_batches, RecordBatchHeader, RECORD_BATCH_HEADER_BYTES};
use crate::cleaner::records::{encode_batch, BatchFields, Records};
use crate::codec::{compress_at, decompress, Framing, CODEC_NONE, CODEC_ZSTD};
use crate::error::LogError;

/// Low three bits of the attributes: the codec.
const ATTRIBUTES_CODEC_MASK: i16 = 0x07;

/// The codec (and KIP-390 level) a topic stores its batches with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recompression {
    /// Codec id (0 none ... 4 zstd).
    pub codec: i16,
    /// `compression.<codec>.level`; `None` is the codec's default.
    pub level: Option<i32>,
}

fn corrupt(reason: &'static str) -> LogError {
    LogError::InvalidRecordBatch { reason }
}

fn rewritten(header: &RecordBatchHeader, target: Recompression) -> bool {
    !header.is_control() && header.compression() != target.codec
}

/// Whether [`recompress_batches`] would rewrite anything: a walk over the batch headers only, cheap
/// enough for the async produce path, which then skips the blocking thread. Malformed input answers
/// true, so that `recompress_batches` reports the error.
pub fn needs_recompression(records: &[u8], target: Recompression) -> bool {
    split_batches(records).map_or(true, |batches| {
        batches.iter().any(|(header, _)| rewritten(header, target))
    })
}

/// Rewrites every batch of `records` whose codec is not `target`'s; `None` when none needs it (the
/// request is then appended as received). A batch larger than `max_batch_bytes` is kept as received, so
/// that the append refuses it as Kafka does (RECORD_TOO_LARGE before any recompression).
pub fn recompress_batches(
    records: &[u8],
    target: Recompression,
    max_batch_bytes: u64,
) -> Result<Option<Vec<u8>>, LogError> {
    if !(CODEC_NONE..=CODEC_ZSTD).contains(&target.codec) {
        return Err(corrupt("unknown target compression codec"));
    }
    let batches = split_batches(records)?;
    if !batches.iter().any(|(header, _)| rewritten(header, target)) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(records.len());
    for (header, range) in batches {
        let batch = records.get(range).unwrap_or_default();
        if !rewritten(&header, target) || header.total_bytes() as u64 > max_batch_bytes {
            out.extend_from_slice(batch);
            continue;
        }
        rewrite_batch(&header, batch, target, &mut out)?;
    }
    Ok(Some(out))
}

/// Appends `batch` rewritten with `target`'s codec to `out`.
fn rewrite_batch(
    header: &RecordBatchHeader,
    batch: &[u8],
    target: Recompression,
    out: &mut Vec<u8>,
) -> Result<(), LogError> {
    let section = batch
        .get(RECORD_BATCH_HEADER_BYTES..)
        .ok_or(corrupt("batch shorter than its header"))?;
    let (plain, _) = decompress(header.compression(), section)?;
    // Check the records before sealing them under a fresh CRC: a batch whose records do not parse or
    // do not match recordsCount must be refused, not stored as valid.
    let mut count = 0i64;
    for record in Records::new(&plain) {
        record?;
        count += 1;
    }
    if count != i64::from(header.records_count) {
        return Err(corrupt("records do not match the batch's recordsCount"));
    }
    let packed = compress_at(target.codec, target.level, Framing::SnappyXerial, &plain)?;
    let fields = BatchFields {
        original: *header,
        attributes: (header.attributes & !ATTRIBUTES_CODEC_MASK) | target.codec,
        base_timestamp: header.base_timestamp,
        max_timestamp: header.max_timestamp,
        records_count: header.records_count,
    };
    encode_batch(out, &fields, &packed);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::batch::validate_batch;
    use crate::cleaner::records::{encode_record, Record};
    use crate::codec::{compress, CODEC_LZ4};

    /// A batch of `n` keyed records compressed with `codec`, from an idempotent producer.
    fn batch(codec: i16, n: i32) -> Vec<u8> {
        let mut section = Vec::new();
        for i in 0..n {
            let key = format!("key-{i}");
            let value = format!("value-{i}-{}", "x".repeat(100));
            let record = Record {
                attributes: 0,
                timestamp_delta: i64::from(i),
                offset_delta: i,
                key: Some(key.as_bytes()),
                value: Some(value.as_bytes()),
                headers: &[0],
                raw: &[],
            };
            encode_record(&mut section, &record, i64::from(i));
        }
        let packed = compress(codec, Framing::Plain, &section).unwrap();
        let original = RecordBatchHeader {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: -1,
            magic: 2,
            crc: 0,
            attributes: codec | 0x10,
            last_offset_delta: n - 1,
            base_timestamp: 1_000,
            max_timestamp: 1_000 + i64::from(n - 1),
            producer_id: 7,
            producer_epoch: 2,
            base_sequence: 40,
            records_count: n,
        };
        let fields = BatchFields {
            original,
            attributes: original.attributes,
            base_timestamp: original.base_timestamp,
            max_timestamp: original.max_timestamp,
            records_count: n,
        };
        let mut out = Vec::new();
        encode_batch(&mut out, &fields, &packed);
        out
    }

    fn records_of(batch: &[u8]) -> Vec<u8> {
        let header = validate_batch(batch).unwrap();
        decompress(header.compression(), &batch[RECORD_BATCH_HEADER_BYTES..])
            .unwrap()
            .0
            .into_owned()
    }

    // Every (source, target) pair: the rewritten batch has the target codec, a valid CRC, the same
    // identity fields and the same records; a batch already in the target codec is left alone.
    #[test]
    fn every_codec_pair_rewrites_only_the_codec() {
        for source in CODEC_NONE..=CODEC_ZSTD {
            for codec in CODEC_NONE..=CODEC_ZSTD {
                let original = batch(source, 20);
                let target = Recompression { codec, level: None };
                let rewritten = recompress_batches(&original, target, u64::MAX).unwrap();
                // The produce path's cheap pre-check agrees with the rewrite.
                assert_eq!(needs_recompression(&original, target), rewritten.is_some());
                let Some(rewritten) = rewritten else {
                    assert_eq!(source, codec, "{source}->{codec} left alone");
                    continue;
                };
                assert_ne!(source, codec);
                let (before, after) = (
                    validate_batch(&original).unwrap(),
                    validate_batch(&rewritten).unwrap(),
                );
                assert_eq!(after.compression(), codec);
                assert_eq!(after.attributes & !7, before.attributes & !7);
                for (a, b) in [
                    (after.base_timestamp, before.base_timestamp),
                    (after.max_timestamp, before.max_timestamp),
                    (after.producer_id, before.producer_id),
                    (
                        i64::from(after.producer_epoch),
                        i64::from(before.producer_epoch),
                    ),
                    (
                        i64::from(after.base_sequence),
                        i64::from(before.base_sequence),
                    ),
                    (
                        i64::from(after.last_offset_delta),
                        i64::from(before.last_offset_delta),
                    ),
                    (
                        i64::from(after.records_count),
                        i64::from(before.records_count),
                    ),
                ] {
                    assert_eq!(a, b, "{source}->{codec}");
                }
                assert_eq!(records_of(&rewritten), records_of(&original));
            }
        }
    }

    // Of two batches in one request only the one in another codec is rewritten; an oversize batch
    // is kept for the append to refuse; a batch whose records do not match its count is refused.
    #[test]
    fn mixed_oversize_and_corrupt_batches() {
        let mut request = batch(CODEC_LZ4, 3);
        let already = batch(CODEC_ZSTD, 3);
        request.extend_from_slice(&already);
        let target = Recompression {
            codec: CODEC_ZSTD,
            level: Some(19),
        };
        let out = recompress_batches(&request, target, u64::MAX)
            .unwrap()
            .unwrap();
        let first = validate_batch(&out).unwrap();
        assert_eq!(first.compression(), CODEC_ZSTD);
        assert_eq!(&out[first.total_bytes()..], &already[..]);

        let big = batch(CODEC_NONE, 3);
        let kept = recompress_batches(&big, target, 10).unwrap().unwrap();
        assert_eq!(kept, big);

        let mut lying = batch(CODEC_NONE, 3);
        lying[57..61].copy_from_slice(&4i32.to_be_bytes());
        let crc = crc32c::crc32c(&lying[21..]);
        lying[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(recompress_batches(&lying, target, u64::MAX).is_err());
        // Bytes that are not batches go to the rewrite, which reports them.
        assert!(needs_recompression(b"not a batch", target));
        assert!(recompress_batches(b"not a batch", target, u64::MAX).is_err());
    }
}
