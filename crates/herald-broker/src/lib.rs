//! herald-broker: a single-node, persistent, Kafka-wire-compatible broker.
//!
//! CONTRACT STUB: `Broker::start(config)` binds, recovers every partition from `config.data_dir`, and
//! serves the Kafka protocol until `BrokerHandle::shutdown`.

pub mod config;

pub use config::{BrokerConfig, FlushPolicy};

use std::net::SocketAddr;

/// Errors starting or stopping the broker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Binding the listener failed.
    #[error("bind {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// Opening or recovering storage failed.
    #[error("storage: {0}")]
    Storage(#[from] herald_log::LogError),
}

/// The entry point.
pub struct Broker;

impl Broker {
    /// Binds `config.listen`, opens the data directory, and serves until the handle's `shutdown`.
    pub async fn start(config: BrokerConfig) -> Result<BrokerHandle, BrokerError> {
        let _ = config;
        todo!()
    }
}

/// A running broker.
pub struct BrokerHandle {
    local_addr: SocketAddr,
}

impl BrokerHandle {
    /// The address the listener is bound to (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `host:port` string for clients' `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        self.local_addr.to_string()
    }

    /// Stops accepting, finishes in-flight requests, fsyncs every partition, and returns when done.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        todo!()
    }
}
