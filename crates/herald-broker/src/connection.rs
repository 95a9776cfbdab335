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

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ProduceResponse, RequestHeader, RequestKind, ResponseHeader, ResponseKind,
};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{api_versions, produce};
use crate::auth::{self, Security, Session};
use crate::config::{CONNECTIONS_MAX_IDLE_MS_DEFAULT, REQUEST_READ_TIMEOUT_MS_DEFAULT};
use crate::BrokerState;

/// Bytes reserved per read while a frame is incomplete; large frames arrive in chunks of this size
/// rather than making a client-declared size allocate up front.
const READ_CHUNK_BYTES: usize = 1024 * 1024;
/// Produce responses that may wait for their fsync at once on one connection (librdkafka keeps at
/// most 5 requests in flight with idempotence; Java clients 5 by default).
const PIPELINED_PRODUCES_MAX: usize = 16;
/// Room for the size prefix and any response header (correlation id and tagged fields).
const RESPONSE_HEADER_BYTES_MAX: usize = 64;
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
    #[error("produce task failed: {0}")]
    Task(String),
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

/// What a connection reads and writes: a TCP stream, or TLS over one.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ByteStream for T {}

/// A TCP (or TLS) stream plus the bytes read from it that do not yet form a whole frame.
pub struct Connection {
    stream: Box<dyn ByteStream>,
    peer: SocketAddr,
    buffer: BytesMut,
    max_request_bytes: usize,
    /// A frame that has begun must be whole within this (slowloris).
    request_read_timeout: Duration,
    /// A connection with no frame begun is closed after this (Kafka's `connections.max.idle.ms`).
    idle_timeout: Duration,
    /// When the frame being read must be whole; kept here so that a cancelled `read_frame` (it runs
    /// inside `select!`) does not restart the clock.
    frame_deadline: Option<Instant>,
    /// Who is on the other end, once authenticated (`auth/`).
    session: Session,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .field("buffered", &self.buffer.len())
            .field("session", &self.session)
            .finish()
    }
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
    pub fn new(
        stream: impl ByteStream + 'static,
        peer: SocketAddr,
        max_request_bytes: usize,
    ) -> Self {
        Self {
            stream: Box::new(stream),
            peer,
            buffer: BytesMut::with_capacity(64 * 1024),
            max_request_bytes,
            request_read_timeout: Duration::from_millis(REQUEST_READ_TIMEOUT_MS_DEFAULT),
            idle_timeout: Duration::from_millis(CONNECTIONS_MAX_IDLE_MS_DEFAULT),
            frame_deadline: None,
            session: Session::new(Arc::new(Security::default())),
        }
    }

    /// Sets the session (SASL state, ACLs) this connection serves under.
    pub fn with_session(mut self, session: Session) -> Self {
        self.session = session;
        self
    }

    /// Sets how long a begun frame may take to arrive whole, and how long the connection may idle.
    pub fn with_timeouts(mut self, request_read_timeout: Duration, idle_timeout: Duration) -> Self {
        self.request_read_timeout = request_read_timeout;
        self.idle_timeout = idle_timeout;
        self
    }

    /// The next whole frame (without its size prefix); `None` when the peer closed between frames or
    /// stayed idle for `idle_timeout`. Cancel-safe.
    pub async fn read_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            if let Some(frame) = split_frame(&mut self.buffer, self.max_request_bytes)? {
                self.frame_deadline = None;
                return Ok(Some(frame));
            }
            if !self.buffer.is_empty() && self.frame_deadline.is_none() {
                self.frame_deadline = Some(Instant::now() + self.request_read_timeout);
            }
            let wait_until = self
                .frame_deadline
                .unwrap_or_else(|| Instant::now() + self.idle_timeout);
            let read = tokio::time::timeout_at(wait_until, self.stream.read_buf(&mut self.buffer));
            let Ok(read) = read.await else {
                if self.buffer.is_empty() {
                    tracing::debug!(peer = %self.peer, "closing idle connection");
                    return Ok(None);
                }
                return Err(FrameError::ReadTimeout {
                    buffered: self.buffer.len(),
                    timeout_ms: self.request_read_timeout.as_millis(),
                });
            };
            if 0 == read? {
                if self.buffer.is_empty() {
                    return Ok(None);
                }
                return Err(FrameError::Truncated {
                    buffered: self.buffer.len(),
                });
            }
        }
    }

    /// Writes one encoded response (size prefix included).
    pub async fn write_frame(&mut self, frame: &[u8]) -> Result<(), FrameError> {
        self.stream.write_all(frame).await?;
        Ok(())
    }
}

/// A produce response waiting for its fsync (group commit), with what its response header needs.
struct PendingProduce {
    correlation_id: i32,
    version: i16,
    task: JoinHandle<ProduceResponse>,
}

/// Serves requests on `connection` until the peer closes, a frame is bad, or shutdown.
///
/// Requests are handled one at a time, except that consecutive Produce requests are pipelined: each is
/// appended as soon as it is read (so in order), and its response waits for durability in a task
/// while the next one is read and appended; one fsync then covers several requests. Responses still
/// go out in request order, and any other request waits until every earlier response is written.
pub async fn serve(
    mut connection: Connection,
    state: Arc<BrokerState>,
    shutdown: CancellationToken,
) {
    let peer = connection.peer;
    tracing::debug!(%peer, "connection opened");
    let mut pending: VecDeque<PendingProduce> = VecDeque::new();
    let result = loop {
        let reading = pending.len() < PIPELINED_PRODUCES_MAX && !shutdown.is_cancelled();
        tokio::select! {
            biased;
            finished = oldest(&mut pending), if !pending.is_empty() => {
                if let Err(e) = write_oldest(&mut connection, &mut pending, finished).await {
                    break Err(e);
                }
            }
            _ = shutdown.cancelled(), if pending.is_empty() => break Ok(()),
            frame = connection.read_frame(), if reading => match frame {
                Ok(Some(frame)) => {
                    if let Err(e) = handle_frame(&state, &mut connection, &mut pending, frame).await {
                        break Err(e);
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            },
        }
    };
    // Appends already happened; let their fsyncs finish so no task outlives the connection.
    for produce in pending {
        let _ = produce.task.await;
    }
    match result {
        Ok(()) => tracing::debug!(%peer, "connection closed"),
        Err(FrameError::Io(e)) => tracing::debug!(%peer, error = %e, "connection closed"),
        Err(e) => tracing::warn!(%peer, error = %e, "closing connection"),
    }
}

async fn oldest(pending: &mut VecDeque<PendingProduce>) -> Result<ProduceResponse, JoinError> {
    match pending.front_mut() {
        Some(produce) => (&mut produce.task).await,
        None => std::future::pending().await,
    }
}

async fn write_oldest(
    connection: &mut Connection,
    pending: &mut VecDeque<PendingProduce>,
    finished: Result<ProduceResponse, JoinError>,
) -> Result<(), FrameError> {
    let Some(produce) = pending.pop_front() else {
        return Ok(());
    };
    let response = finished.map_err(|e| FrameError::Task(e.to_string()))?;
    let header_version = ApiKey::Produce.response_header_version(produce.version);
    let frame = encode_response(
        produce.correlation_id,
        header_version,
        ApiKey::Produce,
        produce.version,
        &ResponseKind::Produce(response),
    )?;
    connection.write_frame(&frame).await
}

async fn handle_frame(
    state: &Arc<BrokerState>,
    connection: &mut Connection,
    pending: &mut VecDeque<PendingProduce>,
    frame: Bytes,
) -> Result<(), FrameError> {
    let decoded = decode_request(frame)?;
    if let Decoded::Request { api_key, .. } = &decoded {
        connection.session.admit(*api_key)?;
    }
    let decoded = match decoded {
        Decoded::Request { header, body, .. }
            if matches!(body.as_ref(), RequestKind::Produce(_))
                && connection.session.may_pipeline(state, &body) =>
        {
            if let RequestKind::Produce(request) = *body {
                let appended = produce::append(state, &header, request).await;
                if appended.wants_response() {
                    let policy = state.flush_policy();
                    pending.push_back(PendingProduce {
                        correlation_id: header.correlation_id,
                        version: header.request_api_version,
                        task: tokio::spawn(appended.finish(policy)),
                    });
                }
            }
            return Ok(());
        }
        other => other,
    };
    // Anything else runs alone, after every earlier response is out.
    while !pending.is_empty() {
        let finished = oldest(pending).await;
        write_oldest(connection, pending, finished).await?;
    }
    respond(state, connection, decoded).await
}

async fn respond(
    state: &Arc<BrokerState>,
    connection: &mut Connection,
    decoded: Decoded,
) -> Result<(), FrameError> {
    match decoded {
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
            let handled = auth::handle(state, &mut connection.session, &header, *body).await;
            let Some(response) = handled.response else {
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
            connection.write_frame(&frame).await?;
            match handled.close {
                Some(reason) => Err(FrameError::AuthenticationFailed { reason }),
                None => Ok(()),
            }
        }
    }
}

/// Splits the first whole frame (without its size prefix) off `buffer`; `None` until it is all there.
/// The size is checked against `max_request_bytes` before anything is reserved for it.
fn split_frame(
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

/// What `serve` runs on socket bytes before dispatch (frame splitting, header and body decoding),
/// without a socket: for fuzzing and tests. Returns the API keys of the requests that decoded, or the
/// error that would close the connection. Trailing bytes of an incomplete frame are ignored.
pub fn decode_requests(bytes: &[u8], max_request_bytes: usize) -> Result<Vec<ApiKey>, FrameError> {
    let mut buffer = BytesMut::from(bytes);
    let mut decoded = Vec::new();
    while let Some(frame) = split_frame(&mut buffer, max_request_bytes)? {
        match decode_request(frame)? {
            Decoded::Request { api_key, .. } => decoded.push(api_key),
            Decoded::UnknownApiVersionsVersion { .. } => decoded.push(ApiKey::ApiVersions),
        }
    }
    Ok(decoded)
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
