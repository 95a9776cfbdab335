//! One client connection: Kafka frames in, responses out, one request at a time (as Kafka does: a
//! connection's responses go out in request order and the next request is read after the response).
//!
//! A frame is a 4-byte big-endian size and that many bytes: the request header (decoded with
//! `kafka_protocol`'s `RequestHeader` at `ApiKey::request_header_version`) then the body. A size above
//! `max_request_bytes`, an unknown API key, a version outside what we advertise, an undecodable header
//! or body, or a stream ending inside a frame is logged at warn and closes *this* connection only;
//! nothing here panics on input. ApiVersions with an unknown version is answered with error 35 and our
//! supported list in a v0 body (KIP-511). Not here: what each request does (`api/`).
//!
//! Main types: [`Connection`], [`FrameError`].

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::api::{self, api_versions};
use crate::BrokerState;

/// Bytes reserved per read while a frame is incomplete; large frames arrive in chunks of this size
/// rather than making a client-declared size allocate up front.
const READ_CHUNK_BYTES: usize = 1024 * 1024;
/// Bytes of the size prefix.
const SIZE_PREFIX_BYTES: usize = 4;
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
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

/// A TCP stream plus the bytes read from it that do not yet form a whole frame.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    buffer: BytesMut,
    max_request_bytes: usize,
}

/// A decoded request, ready for dispatch.
#[derive(Debug)]
enum Decoded {
    Request {
        header: RequestHeader,
        api_key: ApiKey,
        body: Box<RequestKind>,
    },
    /// ApiVersions with a version we do not know: answer error 35 in a v0 body.
    UnknownApiVersionsVersion { correlation_id: i32 },
}

impl Connection {
    /// Wraps an accepted socket.
    pub fn new(stream: TcpStream, peer: SocketAddr, max_request_bytes: usize) -> Self {
        Self {
            stream,
            peer,
            buffer: BytesMut::with_capacity(64 * 1024),
            max_request_bytes,
        }
    }

    /// The next whole frame (without its size prefix); `None` when the peer closed between frames.
    pub async fn read_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            if let Some(frame) = self.parse_frame()? {
                return Ok(Some(frame));
            }
            if 0 == self.stream.read_buf(&mut self.buffer).await? {
                if self.buffer.is_empty() {
                    return Ok(None);
                }
                return Err(FrameError::Truncated {
                    buffered: self.buffer.len(),
                });
            }
        }
    }

    fn parse_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        let Some(prefix) = self.buffer.get(..SIZE_PREFIX_BYTES) else {
            return Ok(None);
        };
        let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let size = match usize::try_from(size) {
            Ok(size) if size <= self.max_request_bytes => size,
            _ => {
                return Err(FrameError::TooLarge {
                    size: i64::from(size),
                    max: self.max_request_bytes,
                })
            }
        };
        let needed = SIZE_PREFIX_BYTES + size;
        if self.buffer.len() < needed {
            let missing = needed - self.buffer.len();
            self.buffer.reserve(missing.min(READ_CHUNK_BYTES));
            return Ok(None);
        }
        self.buffer.advance(SIZE_PREFIX_BYTES);
        Ok(Some(self.buffer.split_to(size).freeze()))
    }

    /// Writes one encoded response (size prefix included).
    pub async fn write_frame(&mut self, frame: &[u8]) -> Result<(), FrameError> {
        self.stream.write_all(frame).await?;
        Ok(())
    }
}

/// Serves requests on `connection` until the peer closes, a frame is bad, or shutdown.
pub async fn serve(
    mut connection: Connection,
    state: Arc<BrokerState>,
    shutdown: CancellationToken,
) {
    let peer = connection.peer;
    tracing::debug!(%peer, "connection opened");
    loop {
        let frame = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            frame = connection.read_frame() => frame,
        };
        let result = match frame {
            Ok(Some(frame)) => respond(&state, &mut connection, frame).await,
            Ok(None) => break,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            match e {
                FrameError::Io(e) => tracing::debug!(%peer, error = %e, "connection closed"),
                e => tracing::warn!(%peer, error = %e, "closing connection"),
            }
            break;
        }
    }
    tracing::debug!(%peer, "connection closed");
}

async fn respond(
    state: &Arc<BrokerState>,
    connection: &mut Connection,
    frame: Bytes,
) -> Result<(), FrameError> {
    match decode_request(frame)? {
        Decoded::UnknownApiVersionsVersion { correlation_id } => {
            let body = api_versions::unsupported_version_response();
            let frame = encode_response(
                correlation_id,
                0,
                ApiKey::ApiVersions,
                0,
                &ResponseKind::ApiVersions(body),
            )?;
            connection.write_frame(&frame).await
        }
        Decoded::Request {
            header,
            api_key,
            body,
        } => {
            let correlation_id = header.correlation_id;
            let version = header.request_api_version;
            let Some(response) = api::handle(state, &header, *body).await else {
                return Ok(()); // acks=0 produce: no response
            };
            // ApiVersions' response header is always v0: clients parse it before knowing versions.
            let header_version = if api_key == ApiKey::ApiVersions {
                0
            } else {
                api_key.response_header_version(version)
            };
            let frame =
                encode_response(correlation_id, header_version, api_key, version, &response)?;
            connection.write_frame(&frame).await
        }
    }
}

fn decode_request(mut frame: Bytes) -> Result<Decoded, FrameError> {
    let Some(prefix) = frame.get(..HEADER_PREFIX_BYTES) else {
        return Err(FrameError::TooShort { size: frame.len() });
    };
    let raw_key = i16::from_be_bytes([prefix[0], prefix[1]]);
    let version = i16::from_be_bytes([prefix[2], prefix[3]]);
    let correlation_id = i32::from_be_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
    let api_key =
        ApiKey::try_from(raw_key).map_err(|_| FrameError::UnknownApiKey { api_key: raw_key })?;
    let Some(range) = api_versions::supported(api_key) else {
        return Err(FrameError::UnsupportedApi { api_key });
    };
    if version < range.min || version > range.max {
        if api_key == ApiKey::ApiVersions {
            return Ok(Decoded::UnknownApiVersionsVersion { correlation_id });
        }
        return Err(FrameError::UnsupportedVersion {
            api_key,
            version,
            min: range.min,
            max: range.max,
        });
    }
    if api_key == ApiKey::Produce && version < api_versions::PRODUCE_VERSION_MIN_SERVED {
        // Advertised for old feature checks, but v0-2 carry message formats v0/v1 that we do not
        // store, and kafka-protocol cannot encode their responses: close like an unknown version.
        return Err(FrameError::UnsupportedVersion {
            api_key,
            version,
            min: api_versions::PRODUCE_VERSION_MIN_SERVED,
            max: range.max,
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
        api_key,
        body: Box::new(body),
    })
}

fn encode_response(
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
    let mut buf = BytesMut::with_capacity(256);
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
