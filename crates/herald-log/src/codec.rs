//! The record-batch codecs, one module for every reader and writer of a batch's records section
//! (attributes bits 0-2: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd): [`decompressed`], a streaming reader
//! (ListOffsets reads record offsets and timestamps without buffering the batch), [`decompress`], the
//! whole section in memory (the log cleaner and the keyless-record check), and [`compress`] /
//! [`compress_at`] (the cleaner writes a filtered batch back with its own codec; the broker recompresses
//! a produced batch to its topic's `compression.type`, at the topic's KIP-390 level).
//!
//! Snappy comes in two framings: the Java client's xerial stream (`\x82SNAPPY\0` header, then blocks of
//! `length u32 | raw snappy`) and librdkafka's raw block; [`decompress`] reports the framing found, so
//! that the cleaner writes back what it read; the broker writes xerial, as Kafka does, which every
//! client reads. LZ4 is the LZ4 frame format with independent 64 KiB blocks and no content checksum,
//! as Kafka's `KafkaLZ4BlockOutputStream` writes it (the Java client's reader does not follow linked
//! blocks). Decompression is bounded by [`DECOMPRESSED_BATCH_BYTES_MAX`] (decompression bombs).

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, Read, Write};

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

/// Most decompressed bytes of one batch's records section. A stored batch is at most
/// `max.message.bytes` (1 MiB by default) compressed; this allows ratios far beyond real data while
/// bounding the memory and work a crafted batch (a decompression bomb) can cause.
pub const DECOMPRESSED_BATCH_BYTES_MAX: usize = 256 * 1024 * 1024;

/// The magic header of xerial's snappy framing.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// xerial's header: magic (8), version (4), compatible version (4).
const XERIAL_HEADER_BYTES: usize = 16;
/// Block size of the xerial framing written (snappy-java's default).
const XERIAL_BLOCK_BYTES: usize = 32 * 1024;
/// zstd level when none is configured (librdkafka's and Kafka's default).
const ZSTD_LEVEL_DEFAULT: i32 = 3;
/// lz4 level when none is configured (Kafka's `compression.lz4.level` default).
const LZ4_LEVEL_DEFAULT: i32 = 9;

/// How a compressed records section was framed, so that it can be written back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Plain,
    SnappyXerial,
}

fn corrupt(reason: &'static str) -> LogError {
    LogError::InvalidRecordBatch { reason }
}

/// A buffered reader of the decompressed bytes of `records` (a batch's bytes after its header),
/// limited to [`DECOMPRESSED_BATCH_BYTES_MAX`].
pub fn decompressed<'a>(codec: i16, records: &'a [u8]) -> Result<Box<dyn BufRead + 'a>, LogError> {
    let limit = DECOMPRESSED_BATCH_BYTES_MAX as u64;
    let reader: Box<dyn BufRead + 'a> = match codec {
        CODEC_NONE => Box::new(records),
        CODEC_GZIP => Box::new(BufReader::new(
            flate2::read::MultiGzDecoder::new(records).take(limit),
        )),
        CODEC_SNAPPY => Box::new(io::Cursor::new(snappy_decompress(records)?.0)),
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

/// Reads `reader` to the end, failing past [`DECOMPRESSED_BATCH_BYTES_MAX`].
fn read_bounded(reader: impl Read, reason: &'static str) -> Result<Vec<u8>, LogError> {
    let mut out = Vec::new();
    reader
        .take(DECOMPRESSED_BATCH_BYTES_MAX as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| corrupt(reason))?;
    if out.len() > DECOMPRESSED_BATCH_BYTES_MAX {
        return Err(corrupt("records decompress beyond the size limit"));
    }
    Ok(out)
}

/// Appends one raw snappy block, decompressed, to `out`, within the batch limit.
fn snappy_block(block: &[u8], out: &mut Vec<u8>) -> Result<(), LogError> {
    let length = snap::raw::decompress_len(block).map_err(|_| corrupt("corrupt snappy block"))?;
    if out.len().saturating_add(length) > DECOMPRESSED_BATCH_BYTES_MAX {
        return Err(corrupt("records decompress beyond the size limit"));
    }
    let start = out.len();
    out.resize(start + length, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|_| corrupt("corrupt snappy block"))?;
    Ok(())
}

/// Decompresses raw snappy or xerial-framed snappy, and says which it was.
fn snappy_decompress(bytes: &[u8]) -> Result<(Vec<u8>, Framing), LogError> {
    let mut out = Vec::new();
    if !bytes.starts_with(&XERIAL_MAGIC) {
        snappy_block(bytes, &mut out)?;
        return Ok((out, Framing::Plain));
    }
    let mut blocks = bytes.get(XERIAL_HEADER_BYTES..).unwrap_or_default();
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
    Ok((out, Framing::SnappyXerial))
}

fn snappy_compress(bytes: &[u8], framing: Framing) -> Result<Vec<u8>, LogError> {
    let mut encoder = snap::raw::Encoder::new();
    let block = |encoder: &mut snap::raw::Encoder, b: &[u8]| {
        encoder
            .compress_vec(b)
            .map_err(|_| corrupt("snappy compression failed"))
    };
    if framing == Framing::Plain {
        return block(&mut encoder, bytes);
    }
    let mut out = XERIAL_MAGIC.to_vec();
    out.extend_from_slice(&1i32.to_be_bytes()); // version
    out.extend_from_slice(&1i32.to_be_bytes()); // minimum compatible version
    for chunk in bytes.chunks(XERIAL_BLOCK_BYTES) {
        let compressed = block(&mut encoder, chunk)?;
        out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
        out.extend(compressed);
    }
    Ok(out)
}

/// Decompresses a batch's records section (borrowed as is when uncompressed). `codec` is the
/// attributes' low three bits.
pub fn decompress(codec: i16, bytes: &[u8]) -> Result<(Cow<'_, [u8]>, Framing), LogError> {
    let plain = |out: Vec<u8>| Ok((Cow::Owned(out), Framing::Plain));
    match codec {
        CODEC_NONE => Ok((Cow::Borrowed(bytes), Framing::Plain)),
        CODEC_GZIP => plain(read_bounded(
            flate2::read::MultiGzDecoder::new(bytes),
            "corrupt gzip records",
        )?),
        CODEC_SNAPPY => {
            let (out, framing) = snappy_decompress(bytes)?;
            Ok((Cow::Owned(out), framing))
        }
        CODEC_LZ4 => {
            let decoder =
                lz4::Decoder::new(bytes).map_err(|_| corrupt("corrupt lz4 frame header"))?;
            plain(read_bounded(decoder, "corrupt lz4 records")?)
        }
        CODEC_ZSTD => {
            let decoder = zstd::stream::read::Decoder::new(bytes)
                .map_err(|_| corrupt("corrupt zstd frame"))?;
            plain(read_bounded(decoder, "corrupt zstd records")?)
        }
        _ => Err(corrupt("unknown compression codec")),
    }
}

/// Compresses a records section with `codec` at its default level, in `framing` (snappy only).
pub fn compress(codec: i16, framing: Framing, bytes: &[u8]) -> Result<Vec<u8>, LogError> {
    compress_at(codec, None, framing, bytes)
}

/// Compresses a records section with `codec` at `level` (Kafka's `compression.gzip.level`: -1 is
/// zlib's default, 1-9; `compression.lz4.level`: 1-17, above 12 is 12; `compression.zstd.level`;
/// `None` is the codec's default; snappy has no level), in `framing` (snappy only).
pub fn compress_at(
    codec: i16,
    level: Option<i32>,
    framing: Framing,
    bytes: &[u8],
) -> Result<Vec<u8>, LogError> {
    let failed = |_| corrupt("compression failed");
    match codec {
        CODEC_NONE => Ok(bytes.to_vec()),
        CODEC_GZIP => {
            let compression = match level.and_then(|l| u32::try_from(l).ok()) {
                Some(level) => flate2::Compression::new(level.min(9)),
                None => flate2::Compression::default(),
            };
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), compression);
            encoder.write_all(bytes).map_err(failed)?;
            encoder.finish().map_err(failed)
        }
        CODEC_SNAPPY => snappy_compress(bytes, framing),
        CODEC_LZ4 => {
            let level = level.unwrap_or(LZ4_LEVEL_DEFAULT).clamp(0, 12);
            let mut encoder = lz4::EncoderBuilder::new()
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .level(level.unsigned_abs())
                .build(Vec::new())
                .map_err(failed)?;
            encoder.write_all(bytes).map_err(failed)?;
            let (out, result) = encoder.finish();
            result.map_err(failed)?;
            Ok(out)
        }
        CODEC_ZSTD => {
            zstd::stream::encode_all(bytes, level.unwrap_or(ZSTD_LEVEL_DEFAULT)).map_err(failed)
        }
        _ => Err(corrupt("unknown compression codec")),
    }
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
        assert!(
            snappy_decompress(b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\xff\xff").is_err()
        );
        let mut out = Vec::new();
        let read = decompressed(CODEC_GZIP, TEXT)
            .and_then(|mut r| r.read_to_end(&mut out).map_err(|_| corrupt("bad gzip")));
        assert!(read.is_err());
    }

    // Every level Kafka allows (KIP-390) compresses to something that decompresses back, the
    // broker's lz4 frame included; snappy has no level and ignores it.
    #[test]
    fn levels_round_trip() {
        let data: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 97).to_be_bytes())
            .collect();
        let levels = [
            (CODEC_GZIP, vec![-1, 1, 9]),
            (CODEC_LZ4, vec![1, 9, 17]),
            (CODEC_ZSTD, vec![-5, 3, 22]),
            (CODEC_SNAPPY, vec![0]),
        ];
        for (codec, levels) in levels {
            for level in levels {
                let packed = compress_at(codec, Some(level), Framing::SnappyXerial, &data).unwrap();
                let (unpacked, _) = decompress(codec, &packed).unwrap();
                assert_eq!(&unpacked[..], &data[..], "codec {codec} level {level}");
                assert!(
                    packed.len() < data.len(),
                    "codec {codec} level {level} compresses"
                );
            }
        }
    }

    // every codec round-trips, snappy in both framings, and garbage is an error, not a panic
    #[test]
    fn codecs_round_trip_and_reject_garbage() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect();
        for codec in 0..=4 {
            for framing in [Framing::Plain, Framing::SnappyXerial] {
                let packed = compress(codec, framing, &data).unwrap();
                let (unpacked, found) = decompress(codec, &packed).unwrap();
                assert_eq!(&unpacked[..], &data[..], "codec {codec}");
                if codec == CODEC_SNAPPY {
                    assert_eq!(found, framing);
                }
            }
            if codec != CODEC_NONE {
                assert!(decompress(codec, b"\x82SNAPPY\0garbage garbage").is_err());
            }
        }
        assert!(decompress(7, b"x").is_err());
    }
}
