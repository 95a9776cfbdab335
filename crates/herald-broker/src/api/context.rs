//! What every handler receives ([`RequestContext`]) and returns ([`Reply`]).
//!
//! A handler runs in request order on its connection: whatever it does before returning (an append,
//! a group step, a read) happens before the next request of that connection is dispatched. A
//! [`Reply::Later`] is the part that may wait (a produce's fsync, a fetch's long poll): the connection
//! keeps reading and dispatching the next requests while it waits, and writes every response in
//! request order (`connection.rs`).
//!
//! Main types: [`RequestContext`], [`Reply`].

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use kafka_protocol::messages::{RequestHeader, ResponseKind};

use crate::auth::Authorizer;
use crate::BrokerState;

/// One request's surroundings: the broker, the header, who sent it and from where.
#[derive(Clone)]
pub struct RequestContext {
    /// What every handler shares.
    pub state: Arc<BrokerState>,
    /// The request header (API version, correlation id, client id).
    pub header: RequestHeader,
    /// The peer's address (DescribeGroups' client_host).
    pub peer: SocketAddr,
    /// The authenticated principal and what it may do.
    pub authorizer: Authorizer,
}

impl RequestContext {
    /// The request's API version.
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }

    /// The client id, or "" when the client sent none.
    pub fn client_id(&self) -> &str {
        self.header.client_id.as_deref().unwrap_or_default()
    }

    /// The principal (`User:alice`, `User:ANONYMOUS` without SASL).
    pub fn principal(&self) -> &str {
        self.authorizer.principal()
    }

    /// The client's host as Kafka reports it in DescribeGroups: `/` then the IP address.
    pub fn client_host(&self) -> String {
        format!("/{}", self.peer.ip())
    }
}

impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestContext")
            .field("header", &self.header)
            .field("peer", &self.peer)
            .field("principal", &self.principal())
            .finish()
    }
}

/// What a handler answers.
pub enum Reply {
    /// Send nothing (a Produce with acks=0).
    Nothing,
    /// The response, ready.
    Now(Box<ResponseKind>),
    /// The response once this finishes; `None` sends nothing.
    Later(BoxFuture<'static, Option<ResponseKind>>),
}

impl Reply {
    /// A reply that waits for `future`.
    pub fn later(
        future: impl std::future::Future<Output = Option<ResponseKind>> + Send + 'static,
    ) -> Self {
        Reply::Later(Box::pin(future))
    }

    /// Applies `amend` to the response, whenever it is ready.
    pub fn amend(self, amend: impl FnOnce(&mut ResponseKind) + Send + 'static) -> Self {
        match self {
            Reply::Nothing => Reply::Nothing,
            Reply::Now(mut response) => {
                amend(&mut response);
                Reply::Now(response)
            }
            Reply::Later(future) => Reply::later(async move {
                let mut response = future.await?;
                amend(&mut response);
                Some(response)
            }),
        }
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Nothing => f.write_str("Reply::Nothing"),
            Reply::Now(_) => f.write_str("Reply::Now"),
            Reply::Later(_) => f.write_str("Reply::Later"),
        }
    }
}
