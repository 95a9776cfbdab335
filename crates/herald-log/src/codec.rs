//! The record-batch codecs: a reader over the decompressed records of a batch, whatever its
//! compression (attributes bits 0-2: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
//!
//! gzip, lz4 (the LZ4 frame format Kafka writes) and zstd stream, so reading a batch holds only small
//! buffers in memory. Snappy comes in two shapes: raw snappy (librdkafka) and xerial's framing (the
//! Java client: a 16-byte magic header, then blocks of `length u32 | raw snappy`); each raw block is
//! decompressed whole. What this is not: a compressor (the log stores batches as producers sent them).

use std::io::{self, BufRead, BufReader, Read};

use crate::error::LogError;

/// Codec id of uncompressed batches.
pub const CODEC_NONE: i16 = 0;
/// Codec id of gzip batches.
pub const CODEC_GZIP: i16 = 1;
/// Codec id of snappy batches.
pub const CODEC_SNAPPY: i16 = 2;
/// Codec id of lz4 batches.
pub const CODEC_LZ4: i16 = 3;
/// Codec id of zstd batches.
pub const CODEC_ZSTD: i16 = 4;

/// Most decompressed bytes read from one batch. A stored batch is at most `max.message.bytes`
/// (1 MiB by default) compressed; this allows ratios far beyond real data while bounding the work a
/// crafted batch (a decompression bomb) can cause.
pub const DECOMPRESSED_BATCH_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// The magic header of xerial's snappy framing.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// xerial's header: magic (8), version (4), compatible version (4).
const XERIAL_HEADER_BYTES: usize = 16;

/// A buffered reader of the decompressed bytes of `records` (a batch's bytes after its header),
/// limited to [`DECOMPRESSED_BATCH_BYTES_MAX`].
pub fn decompressed<'a>(codec: i16, records: &'a [u8]) -> Result<Box<dyn BufRead + 'a>, LogError> {
    let limit = DECOMPRESSED_BATCH_BYTES_MAX;
    let reader: Box<dyn BufRead + 'a> = match codec {
        CODEC_NONE => Box::new(records),
        CODEC_GZIP => Box::new(BufReader::new(
            flate2::read::MultiGzDecoder::new(records).take(limit),
        )),
        CODEC_SNAPPY => Box::new(io::Cursor::new(snappy(records)?)),
        CODEC_LZ4 => {
            let decoder = lz4::Decoder::new(records).map_err(|_| corrupt("bad lz4 frame"))?;
            Box::new(BufReader::new(decoder.take(limit)))
        }
        CODEC_ZSTD => {
            let decoder = zstd::stream::read::Decoder::with_buffer(records)
                .map_err(|_| corrupt("bad zstd frame"))?;
            Box::new(BufReader::new(decoder.take(limit)))
        }
        _ => return Err(corrupt("unknown compression codec")),
    };
    Ok(reader)
}

fn corrupt(reason: &'static str) -> LogError {
    LogError::InvalidRecordBatch { reason }
}

/// Decompresses raw snappy or xerial-framed snappy.
fn snappy(records: &[u8]) -> Result<Vec<u8>, LogError> {
    if !records.starts_with(XERIAL_MAGIC) {
        let mut out = Vec::new();
        snappy_block(records, &mut out)?;
        return Ok(out);
    }
    let mut blocks = records.get(XERIAL_HEADER_BYTES..).unwrap_or_default();
    let mut out = Vec::new();
    while !blocks.is_empty() {
        let (length, rest) = blocks
            .split_first_chunk::<4>()
            .ok_or(corrupt("truncated xerial snappy block length"))?;
        let length = u32::from_be_bytes(*length) as usize;
        if rest.len() < length {
            return Err(corrupt("truncated xerial snappy block"));
        }
        let (block, rest) = rest.split_at(length);
        snappy_block(block, &mut out)?;
        blocks = rest;
    }
    Ok(out)
}

/// Appends one raw snappy block, decompressed, to `out`, within the batch limit.
fn snappy_block(block: &[u8], out: &mut Vec<u8>) -> Result<(), LogError> {
    let length = snap::raw::decompress_len(block).map_err(|_| corrupt("bad snappy block"))?;
    if (out.len() + length) as u64 > DECOMPRESSED_BATCH_BYTES_MAX {
        return Err(corrupt("snappy batch decompresses beyond the limit"));
    }
    let start = out.len();
    out.resize(start + length, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|_| corrupt("bad snappy block"))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;

    use super::*;

    const TEXT: &[u8] = b"records records records records, compressed";

    fn read_all(codec: i16, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        decompressed(codec, bytes)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    // Every codec decompresses what its reference encoder wrote, both snappy shapes included.
    #[test]
    fn each_codec_round_trips() {
        assert_eq!(read_all(CODEC_NONE, TEXT), TEXT);

        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(TEXT).unwrap();
        assert_eq!(read_all(CODEC_GZIP, &gzip.finish().unwrap()), TEXT);

        let raw = snap::raw::Encoder::new().compress_vec(TEXT).unwrap();
        assert_eq!(read_all(CODEC_SNAPPY, &raw), TEXT);
        let mut xerial = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
        for half in TEXT.chunks(TEXT.len() / 2 + 1) {
            let block = snap::raw::Encoder::new().compress_vec(half).unwrap();
            xerial.extend_from_slice(&(block.len() as u32).to_be_bytes());
            xerial.extend_from_slice(&block);
        }
        assert_eq!(read_all(CODEC_SNAPPY, &xerial), TEXT);

        let mut lz4 = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
        lz4.write_all(TEXT).unwrap();
        let (lz4, result) = lz4.finish();
        result.unwrap();
        assert_eq!(read_all(CODEC_LZ4, &lz4), TEXT);

        let zstd = zstd::encode_all(TEXT, 3).unwrap();
        assert_eq!(read_all(CODEC_ZSTD, &zstd), TEXT);
    }

    // Garbage and unknown codecs are errors, never panics.
    #[test]
    fn garbage_is_an_error() {
        assert!(decompressed(7, TEXT).is_err());
        assert!(snappy(b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\xff\xff").is_err());
        let mut out = Vec::new();
        let read = decompressed(CODEC_GZIP, TEXT)
            .and_then(|mut r| r.read_to_end(&mut out).map_err(|_| corrupt("bad gzip")));
        assert!(read.is_err());
    }
}
