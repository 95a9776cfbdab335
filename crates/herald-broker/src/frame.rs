//! Kafka framing, without a socket: a frame is a 4-byte big-endian size and that many bytes, the
//! request header (at `ApiKey::request_header_version`) then the body, both decoded with
//! `kafka_protocol`. Also the response side: size prefix, response header, body.
//!
//! A size above `max_request_bytes`, an unknown API key, an API or version the registry does not serve,
//! or an undecodable header or body is a [`FrameError`], which closes that connection only; nothing
//! here panics on input. ApiVersions with an unknown version decodes to
//! [`Decoded::UnknownApiVersionsVersion`], answered with error 35 (KIP-511).
//!
//! Main types: [`FrameError`], [`Decoded`], [`ByteStream`].

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::api::registry::{self, Api};

/// Bytes reserved per read while a frame is incomplete; large frames arrive in chunks of this size
/// rather than making a client-declared size allocate up front.
pub const READ_CHUNK_BYTES: usize = 1024 * 1024;
/// Room for the size prefix and any response header (correlation id and tagged fields).
const RESPONSE_HEADER_BYTES_MAX: usize = 64;
/// Bytes of the size prefix.
pub const SIZE_PREFIX_BYTES: usize = 4;
/// api_key (2) + api_version (2) + correlation_id (4): the part of every header version we peek at.
const HEADER_PREFIX_BYTES: usize = 8;

/// Why a connection was closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {size} bytes exceeds max_request_bytes {max}")]
    TooLarge { size: i64, max: usize },
    #[error("stream ended inside a frame ({buffered} bytes buffered)")]
    Truncated { buffered: usize },
    #[error("frame of {size} bytes is too short for a request header")]
    TooShort { size: usize },
    #[error("frame not complete within {timeout_ms} ms ({buffered} bytes buffered)")]
    ReadTimeout { buffered: usize, timeout_ms: u128 },
    #[error("unknown api key {api_key}")]
    UnknownApiKey { api_key: i16 },
    #[error("{api_key:?} v{version} is not supported (supported {min}-{max})")]
    UnsupportedVersion {
        api_key: ApiKey,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error("{api_key:?} is not served by this broker")]
    UnsupportedApi { api_key: ApiKey },
    #[error("undecodable {what}: {reason}")]
    Undecodable { what: &'static str, reason: String },
    #[error("encoding the {api_key:?} response failed: {reason}")]
    Encode { api_key: ApiKey, reason: String },
    #[error("{api_key:?} before SASL authentication")]
    Unauthenticated { api_key: ApiKey },
    #[error("SASL authentication failed: {reason}")]
    AuthenticationFailed { reason: String },
    #[error("handler task failed: {0}")]
    Task(String),
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

/// What a connection reads and writes: a TCP stream, or TLS over one.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ByteStream for T {}

/// A decoded request, ready for dispatch.
#[derive(Debug)]
pub enum Decoded {
    Request {
        header: RequestHeader,
        api: &'static Api,
        body: Box<RequestKind>,
    },
    /// ApiVersions with a version we do not know: answer error 35 in a v0 body.
    UnknownApiVersionsVersion { correlation_id: i32 },
}

/// Splits the first whole frame (without its size prefix) off `buffer`; `None` until it is all there.
/// The size is checked against `max_request_bytes` before anything is reserved for it.
pub fn split_frame(
    buffer: &mut BytesMut,
    max_request_bytes: usize,
) -> Result<Option<Bytes>, FrameError> {
    let Some(prefix) = buffer.get(..SIZE_PREFIX_BYTES) else {
        return Ok(None);
    };
    let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let size = match usize::try_from(size) {
        Ok(size) if size <= max_request_bytes => size,
        _ => {
            return Err(FrameError::TooLarge {
                size: i64::from(size),
                max: max_request_bytes,
            })
        }
    };
    let needed = SIZE_PREFIX_BYTES + size;
    if buffer.len() < needed {
        let missing = needed - buffer.len();
        buffer.reserve(missing.min(READ_CHUNK_BYTES));
        return Ok(None);
    }
    buffer.advance(SIZE_PREFIX_BYTES);
    Ok(Some(buffer.split_to(size).freeze()))
}

/// What a connection runs on socket bytes before dispatch (frame splitting, header and body
/// decoding), without a socket: for fuzzing and tests. Returns the API keys of the requests that
/// decoded, or the error that would close the connection. Trailing bytes of an incomplete frame are
/// ignored.
pub fn decode_requests(bytes: &[u8], max_request_bytes: usize) -> Result<Vec<ApiKey>, FrameError> {
    let mut buffer = BytesMut::from(bytes);
    let mut decoded = Vec::new();
    while let Some(frame) = split_frame(&mut buffer, max_request_bytes)? {
        match decode_request(frame)? {
            Decoded::Request { api, .. } => decoded.push(api.key),
            Decoded::UnknownApiVersionsVersion { .. } => decoded.push(ApiKey::ApiVersions),
        }
    }
    Ok(decoded)
}

/// Decodes one frame's header and body, after checking its API and version against the registry.
pub fn decode_request(mut frame: Bytes) -> Result<Decoded, FrameError> {
    let Some(prefix) = frame.get(..HEADER_PREFIX_BYTES) else {
        return Err(FrameError::TooShort { size: frame.len() });
    };
    let raw_key = i16::from_be_bytes([prefix[0], prefix[1]]);
    let version = i16::from_be_bytes([prefix[2], prefix[3]]);
    let correlation_id = i32::from_be_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
    let api_key =
        ApiKey::try_from(raw_key).map_err(|_| FrameError::UnknownApiKey { api_key: raw_key })?;
    let Some(api) = registry::find(api_key) else {
        return Err(FrameError::UnsupportedApi { api_key });
    };
    if !api.advertises(version) {
        if api_key == ApiKey::ApiVersions {
            return Ok(Decoded::UnknownApiVersionsVersion { correlation_id });
        }
        return Err(FrameError::UnsupportedVersion {
            api_key,
            version,
            min: api.min_version,
            max: api.max_version,
        });
    }
    if !api.serves(version) {
        // Advertised for old clients' feature checks (Produce 0-2) but not served: close like an
        // unknown version.
        return Err(FrameError::UnsupportedVersion {
            api_key,
            version,
            min: api.min_served_version,
            max: api.max_version,
        });
    }
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
        .map_err(|e| FrameError::Undecodable {
            what: "request header",
            reason: e.to_string(),
        })?;
    let body =
        RequestKind::decode(api_key, &mut frame, version).map_err(|e| FrameError::Undecodable {
            what: "request body",
            reason: format!("{e:#}"),
        })?;
    Ok(Decoded::Request {
        header,
        api,
        body: Box::new(body),
    })
}

/// Encodes one response: size prefix, response header at `header_version`, body at `version`.
pub fn encode_response(
    correlation_id: i32,
    header_version: i16,
    api_key: ApiKey,
    version: i16,
    body: &ResponseKind,
) -> Result<BytesMut, FrameError> {
    let encode_error = |e: anyhow::Error| FrameError::Encode {
        api_key,
        reason: e.to_string(),
    };
    // Fetch responses carry megabytes of records: size the buffer once instead of doubling it.
    let body_size_hint = match body {
        ResponseKind::Fetch(fetch) => fetch.compute_size(version).unwrap_or(0),
        _ => 0,
    };
    let mut buf = BytesMut::with_capacity(RESPONSE_HEADER_BYTES_MAX + body_size_hint.max(256));
    buf.put_i32(0); // size, patched below
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, header_version)
        .map_err(encode_error)?;
    body.encode(&mut buf, version).map_err(encode_error)?;
    let size = i32::try_from(buf.len() - SIZE_PREFIX_BYTES).map_err(|_| FrameError::Encode {
        api_key,
        reason: format!("response of {} bytes is too large", buf.len()),
    })?;
    buf[..SIZE_PREFIX_BYTES].copy_from_slice(&size.to_be_bytes());
    Ok(buf)
}
