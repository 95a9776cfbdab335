//! One client connection: frames in, responses out, in request order.
//!
//! Each request is decoded (`frame.rs`), admitted by the SASL session (anything but ApiVersions and
//! the SASL steps before a login closes the connection, as Kafka does), and then either answered by
//! the session (the SASL steps, before dispatch) or dispatched through the registry
//! (`api/registry.rs`): the ACL rule, then the handler. Handlers run one at a time, in request order;
//! what a handler leaves for later ([`Reply::Later`]: a produce's fsync, a fetch's long poll) runs in
//! its own task while the next requests are read and dispatched. Every reply waits in one bounded,
//! ordered queue, so responses go out in request order for every API, and produce is not a special
//! case: consecutive produces share one fsync (group commit) because each is appended before the next
//! is read.
//!
//! A bad frame, a refused request or a failed login is logged at warn and closes *this* connection
//! only; nothing here panics on input. Each response with error codes logs one WARN line naming the
//! API, the client id and the code (DEBUG for the codes that are steps of the group protocol).
//!
//! Main types: [`Connection`].

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, StreamExt};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::context::{Reply, RequestContext};
use crate::api::registry::{Api, Serve};
use crate::api::{api_versions, sasl_authenticate, sasl_handshake};
use crate::auth::{Refusal, Security, Session};
use crate::config::{CONNECTIONS_MAX_IDLE_MS_DEFAULT, REQUEST_READ_TIMEOUT_MS_DEFAULT};
use crate::frame::{self, ByteStream, Decoded, FrameError};
use crate::BrokerState;

/// Replies that may be in flight at once on one connection (dispatched, not yet written). librdkafka
/// keeps at most 5 requests in flight with idempotence, Java clients 5 by default; past this the
/// connection stops reading until the oldest reply is written.
const IN_FLIGHT_REPLIES_MAX: usize = 16;

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
            if let Some(frame) = frame::split_frame(&mut self.buffer, self.max_request_bytes)? {
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

/// A reply on its way out, with what its response header needs.
struct Outgoing {
    correlation_id: i32,
    version: i16,
    api_key: ApiKey,
    client_id: Option<String>,
    /// Error codes are read from the response with this (`None`: the v0 ApiVersions error body).
    api: Option<&'static Api>,
    response: Option<ResponseKind>,
    /// Close the connection once this is written (a failed login).
    close: Option<String>,
    /// When the request was read (request latency metrics).
    started: Instant,
}

impl Outgoing {
    fn new(
        header: &RequestHeader,
        api: &'static Api,
        response: Option<ResponseKind>,
        started: Instant,
    ) -> Self {
        Self {
            correlation_id: header.correlation_id,
            version: header.request_api_version,
            api_key: api.key,
            client_id: header.client_id.as_ref().map(|id| id.to_string()),
            api: Some(api),
            response,
            close: None,
            started,
        }
    }
}

type Queued = BoxFuture<'static, Result<Outgoing, FrameError>>;

/// The ordered queue of replies, and the one handler running now.
struct Replies {
    queue: FuturesOrdered<Queued>,
    /// The request being dispatched (its handler's in-order part).
    dispatching: Option<Dispatching>,
}

/// A request whose handler runs now, with what its reply needs.
struct Dispatching {
    header: RequestHeader,
    api: &'static Api,
    started: Instant,
    handler: BoxFuture<'static, Reply>,
}

impl Replies {
    fn push_ready(&mut self, outgoing: Outgoing) {
        self.queue
            .push_back(Box::pin(futures::future::ready(Ok(outgoing))));
    }

    /// Queues what a handler answered: ready now, or a task that finishes it.
    fn push(&mut self, dispatched: Dispatching, reply: Reply) {
        let Dispatching {
            header,
            api,
            started,
            ..
        } = dispatched;
        match reply {
            Reply::Nothing => {}
            Reply::Now(response) => {
                self.push_ready(Outgoing::new(&header, api, Some(*response), started))
            }
            Reply::Later(future) => {
                // A task of its own, so it progresses (and its fsync is shared with other
                // connections') while this connection waits on something else.
                let task = tokio::spawn(future);
                self.queue.push_back(Box::pin(async move {
                    let response = task.await.map_err(|e| FrameError::Task(e.to_string()))?;
                    Ok(Outgoing::new(&header, api, response, started))
                }));
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.dispatching.is_none()
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
    state
        .metrics
        .connections_open
        .fetch_add(1, Ordering::Relaxed);
    let mut replies = Replies {
        queue: FuturesOrdered::new(),
        dispatching: None,
    };
    let mut closing = false;
    let result = loop {
        if closing && replies.is_idle() {
            break Ok(());
        }
        let reading = !closing
            && replies.dispatching.is_none()
            && replies.queue.len() < IN_FLIGHT_REPLIES_MAX
            && !shutdown.is_cancelled();
        tokio::select! {
            biased;
            Some(outgoing) = replies.queue.next(), if !replies.queue.is_empty() => {
                match write_reply(&mut connection, &state, outgoing).await {
                    Ok(()) => {}
                    Err(e) => break Err(e),
                }
            }
            reply = dispatched(&mut replies.dispatching), if replies.dispatching.is_some() => {
                if let Some(dispatching) = replies.dispatching.take() {
                    replies.push(dispatching, reply);
                }
            }
            _ = shutdown.cancelled(), if replies.is_idle() => break Ok(()),
            frame = connection.read_frame(), if reading => match frame {
                Ok(Some(frame)) => match accept(&state, &mut connection, &mut replies, frame) {
                    Ok(close) => closing = close,
                    Err(e) => break Err(e),
                },
                Ok(None) if replies.is_idle() => break Ok(()),
                // The peer closed its side: finish what it asked for, then stop.
                Ok(None) => closing = true,
                Err(e) => break Err(e),
            },
            else => break Ok(()),
        }
    };
    // Appends already happened; let their fsyncs finish so no task outlives the connection.
    if let Some(dispatching) = replies.dispatching.take() {
        drop(dispatching.handler.await);
    }
    while replies.queue.next().await.is_some() {}
    state
        .metrics
        .connections_open
        .fetch_sub(1, Ordering::Relaxed);
    if matches!(&result, Err(e) if !matches!(e, FrameError::Io(_))) {
        state
            .metrics
            .connections_closed_on_error
            .fetch_add(1, Ordering::Relaxed);
    }
    match result {
        Ok(()) => tracing::debug!(%peer, "connection closed"),
        Err(FrameError::Io(e)) => tracing::debug!(%peer, error = %e, "connection closed"),
        Err(e) => tracing::warn!(%peer, error = %e, "closing connection"),
    }
}

/// Waits for the handler running now (pending when there is none).
async fn dispatched(dispatching: &mut Option<Dispatching>) -> Reply {
    match dispatching {
        Some(dispatching) => (&mut dispatching.handler).await,
        None => std::future::pending().await,
    }
}

/// Decodes and admits one frame, then answers it from the session or starts its dispatch. `Ok(true)`
/// means stop reading: the queued reply closes the connection once written.
fn accept(
    state: &Arc<BrokerState>,
    connection: &mut Connection,
    replies: &mut Replies,
    frame: Bytes,
) -> Result<bool, FrameError> {
    let started = Instant::now();
    let (header, api, body) = match frame::decode_request(frame)? {
        Decoded::UnknownApiVersionsVersion { correlation_id } => {
            let body =
                api_versions::unsupported_version_response(connection.session.sasl_enabled());
            replies.push_ready(Outgoing {
                correlation_id,
                version: 0,
                api_key: ApiKey::ApiVersions,
                client_id: None,
                api: None,
                response: Some(ResponseKind::ApiVersions(body)),
                close: None,
                started: Instant::now(),
            });
            return Ok(false);
        }
        Decoded::Request { header, api, body } => (header, api, body),
    };
    connection
        .session
        .admit(api.key)
        .map_err(|refusal| match refusal {
            Refusal::SaslDisabled => FrameError::UnsupportedApi { api_key: api.key },
            Refusal::Unauthenticated => FrameError::Unauthenticated { api_key: api.key },
        })?;
    match api.serve {
        Serve::Session => {
            let (response, close) = sasl_step(&mut connection.session, &header, *body);
            let closing = close.is_some();
            let mut outgoing = Outgoing::new(&header, api, Some(response), started);
            outgoing.close = close;
            replies.push_ready(outgoing);
            Ok(closing)
        }
        Serve::Handler(handler) => {
            let ctx = RequestContext {
                state: state.clone(),
                header: header.clone(),
                peer: connection.peer,
                authorizer: connection
                    .session
                    .authorizer(&connection.peer.ip().to_string()),
            };
            replies.dispatching = Some(Dispatching {
                header,
                api,
                started,
                handler: handler(ctx, *body),
            });
            Ok(false)
        }
    }
}

/// A SASL step, answered by the session; the second value is why to close after answering.
fn sasl_step(
    session: &mut Session,
    header: &RequestHeader,
    request: RequestKind,
) -> (ResponseKind, Option<String>) {
    match request {
        RequestKind::SaslHandshake(r) => (
            ResponseKind::SaslHandshake(sasl_handshake::handle(session, header, r)),
            None,
        ),
        RequestKind::SaslAuthenticate(r) => {
            let (response, failure) = sasl_authenticate::handle(session, header, r);
            (ResponseKind::SaslAuthenticate(response), failure)
        }
        // The registry serves only the two SASL steps through the session.
        other => (
            ResponseKind::SaslHandshake(Default::default()),
            Some(format!("{:?} is not a SASL step", other)),
        ),
    }
}

/// Codes that are steps of the group protocol rather than failures: logged at DEBUG.
fn is_protocol_step(code: i16) -> bool {
    code == ResponseError::MemberIdRequired.code()
        || code == ResponseError::RebalanceInProgress.code()
}

/// Writes one reply (if it has a response) and logs its error codes.
async fn write_reply(
    connection: &mut Connection,
    state: &BrokerState,
    outgoing: Result<Outgoing, FrameError>,
) -> Result<(), FrameError> {
    let outgoing = outgoing?;
    let Some(response) = &outgoing.response else {
        return Ok(());
    };
    if let Some(api) = outgoing.api {
        let mut codes = Vec::new();
        (api.errors)(response, &mut codes);
        state
            .metrics
            .observe(api.key, outgoing.started.elapsed(), !codes.is_empty());
        if let Some(&code) = codes.first() {
            let client_id = outgoing.client_id.as_deref().unwrap_or_default();
            let error = ResponseError::try_from_code(code)
                .map_or_else(|| format!("code {code}"), |e| format!("{e:?}"));
            if codes.iter().all(|&c| is_protocol_step(c)) {
                tracing::debug!(api = ?api.key, client_id, error_code = code, %error, "protocol step");
            } else {
                tracing::warn!(api = ?api.key, client_id, peer = %connection.peer, error_code = code, %error,
                    errors = codes.len(), "request answered with an error");
            }
        }
    }
    // ApiVersions' response header is always v0: clients parse it before knowing versions.
    let header_version = if outgoing.api_key == ApiKey::ApiVersions {
        0
    } else {
        outgoing.api_key.response_header_version(outgoing.version)
    };
    let frame = frame::encode_response(
        outgoing.correlation_id,
        header_version,
        outgoing.api_key,
        outgoing.version,
        response,
    )?;
    connection.write_frame(&frame).await?;
    match outgoing.close {
        Some(reason) => Err(FrameError::AuthenticationFailed { reason }),
        None => Ok(()),
    }
}
