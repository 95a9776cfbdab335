//! Compression codecs of record batches: the records section of a batch is decompressed and, after
//! filtering, recompressed with the batch's own codec (attributes bits 0-2: 1 gzip, 2 snappy, 3 lz4,
//! 4 zstd). Snappy comes in two framings: the Java client's xerial stream (`\x82SNAPPY\0` header,
//! length-prefixed blocks) and librdkafka's raw block; the framing found is the framing written back.
//! LZ4 is the LZ4 frame format, as every Kafka client writes it for record-batch v2.
//!
//! Not here: record parsing (`records.rs`).

use std::borrow::Cow;
use std::io::{Read, Write};

use crate::error::LogError;

/// Codec ids of the attributes field.
pub const COMPRESSION_NONE: i16 = 0;
pub const COMPRESSION_GZIP: i16 = 1;
pub const COMPRESSION_SNAPPY: i16 = 2;
pub const COMPRESSION_LZ4: i16 = 3;
pub const COMPRESSION_ZSTD: i16 = 4;

/// Largest records section a stored batch may decompress to: bounds the memory a corrupt or hostile
/// batch can make the cleaner allocate.
pub const DECOMPRESSED_BYTES_MAX: usize = 256 * 1024 * 1024;

const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_BYTES: usize = 16;
/// Block size of the xerial framing written back (snappy-java's default).
const XERIAL_BLOCK_BYTES: usize = 32 * 1024;
/// zstd level used when recompressing (librdkafka's and Kafka's default).
const ZSTD_LEVEL: i32 = 3;

/// How a compressed records section was framed, so that it can be written back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Plain,
    SnappyXerial,
}

fn corrupt(reason: &'static str) -> LogError {
    LogError::InvalidRecordBatch { reason }
}

/// Reads `reader` to the end, failing past [`DECOMPRESSED_BYTES_MAX`].
fn read_bounded(reader: impl Read, reason: &'static str) -> Result<Vec<u8>, LogError> {
    let mut out = Vec::new();
    reader
        .take(DECOMPRESSED_BYTES_MAX as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| corrupt(reason))?;
    if out.len() > DECOMPRESSED_BYTES_MAX {
        return Err(corrupt("records decompress beyond the size limit"));
    }
    Ok(out)
}

fn snappy_block(bytes: &[u8]) -> Result<Vec<u8>, LogError> {
    let len = snap::raw::decompress_len(bytes).map_err(|_| corrupt("corrupt snappy block"))?;
    if len > DECOMPRESSED_BYTES_MAX {
        return Err(corrupt("records decompress beyond the size limit"));
    }
    snap::raw::Decoder::new()
        .decompress_vec(bytes)
        .map_err(|_| corrupt("corrupt snappy block"))
}

fn snappy_decompress(bytes: &[u8]) -> Result<(Vec<u8>, Framing), LogError> {
    if bytes.len() < XERIAL_HEADER_BYTES || bytes[..8] != XERIAL_MAGIC {
        return Ok((snappy_block(bytes)?, Framing::Plain));
    }
    let mut out = Vec::new();
    let mut at = XERIAL_HEADER_BYTES;
    while at < bytes.len() {
        let len_bytes = bytes
            .get(at..at + 4)
            .ok_or_else(|| corrupt("truncated snappy-java block length"))?;
        let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        at += 4;
        let block = bytes
            .get(at..at + len as usize)
            .ok_or_else(|| corrupt("truncated snappy-java block"))?;
        out.extend(snappy_block(block)?);
        if out.len() > DECOMPRESSED_BYTES_MAX {
            return Err(corrupt("records decompress beyond the size limit"));
        }
        at += len as usize;
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
        COMPRESSION_NONE => Ok((Cow::Borrowed(bytes), Framing::Plain)),
        COMPRESSION_GZIP => plain(read_bounded(
            flate2::read::GzDecoder::new(bytes),
            "corrupt gzip records",
        )?),
        COMPRESSION_SNAPPY => {
            let (out, framing) = snappy_decompress(bytes)?;
            Ok((Cow::Owned(out), framing))
        }
        COMPRESSION_LZ4 => {
            let decoder =
                lz4::Decoder::new(bytes).map_err(|_| corrupt("corrupt lz4 frame header"))?;
            plain(read_bounded(decoder, "corrupt lz4 records")?)
        }
        COMPRESSION_ZSTD => {
            let decoder = zstd::stream::read::Decoder::new(bytes)
                .map_err(|_| corrupt("corrupt zstd frame"))?;
            plain(read_bounded(decoder, "corrupt zstd records")?)
        }
        _ => Err(corrupt("unknown compression codec")),
    }
}

/// Compresses a records section with `codec`, in `framing` (snappy only).
pub fn compress(codec: i16, framing: Framing, bytes: &[u8]) -> Result<Vec<u8>, LogError> {
    let failed = |_| corrupt("recompression failed");
    match codec {
        COMPRESSION_NONE => Ok(bytes.to_vec()),
        COMPRESSION_GZIP => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(bytes).map_err(failed)?;
            encoder.finish().map_err(failed)
        }
        COMPRESSION_SNAPPY => snappy_compress(bytes, framing),
        COMPRESSION_LZ4 => {
            let mut encoder = lz4::EncoderBuilder::new()
                .build(Vec::new())
                .map_err(failed)?;
            encoder.write_all(bytes).map_err(failed)?;
            let (out, result) = encoder.finish();
            result.map_err(failed)?;
            Ok(out)
        }
        COMPRESSION_ZSTD => zstd::stream::encode_all(bytes, ZSTD_LEVEL).map_err(failed),
        _ => Err(corrupt("unknown compression codec")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
                if codec == COMPRESSION_SNAPPY {
                    assert_eq!(found, framing);
                }
            }
            if codec != COMPRESSION_NONE {
                assert!(decompress(codec, b"\x82SNAPPY\0garbage garbage").is_err());
            }
        }
        assert!(decompress(7, b"x").is_err());
    }
}
