//! herald-broker: a single-node, persistent, Kafka-wire-compatible broker.
//!
//! `Broker::start(config)` opens (and recovers) every partition under `config.data_dir`, binds the
//! listener and serves the Kafka protocol until `BrokerHandle::shutdown`. Real Kafka clients
//! (librdkafka, kafka-python, kafkajs, the Java client) use it unchanged.
//!
//! Layers, one per file: [`server`] (listener, connection limit, background tasks), [`connection`]
//! (frames on one TCP stream), [`api`] (one file per Kafka API), [`topics`] (the persistent topic
//! registry and the partitions' logs), [`topic_config`] (per-topic configs), [`producer_ids`]
//! (idempotent producer ids), [`state`] (what every handler shares). Storage itself is `herald-log`.
//!
//! It is not a cluster: one node is the controller, every partition's leader and every group's
//! coordinator. Transactions are not supported.
//!
//! Main types: [`Broker`], [`BrokerHandle`], [`BrokerConfig`], [`BrokerError`].

mod answer_log;
pub mod api;
pub mod auth;
pub mod config;
pub mod connection;
pub mod coordinator;
mod error;
pub mod partition;
pub mod producer_ids;
pub mod server;
pub mod state;
pub mod topic_config;
pub mod topics;

pub use config::{BrokerConfig, FlushPolicy, TlsConfig};
pub use error::BrokerError;
pub use state::BrokerState;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The entry point.
pub struct Broker;

impl Broker {
    /// Binds `config.listen`, opens the data directory, and serves until the handle's `shutdown`.
    pub async fn start(config: BrokerConfig) -> Result<BrokerHandle, BrokerError> {
        let security = Arc::new(auth::Security::load(&config)?);
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| BrokerError::Bind {
                address: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| BrokerError::Bind {
            address: config.listen,
            source,
        })?;
        let shutdown = CancellationToken::new();
        let state = {
            let (open_config, shutdown) = (config.clone(), shutdown.clone());
            tokio::task::spawn_blocking(move || {
                BrokerState::open(open_config, local_addr, shutdown)
            })
            .await
            .map_err(|e| BrokerError::io("open data directory", &config.data_dir, e.into()))??
        };
        let state = Arc::new(state);
        // Every task holds a clone of this sender; `recv` returns `None` once they have all ended.
        let (done_tx, done_rx) = mpsc::channel::<()>(1);
        let server = tokio::spawn(server::run(
            listener,
            state.clone(),
            shutdown.clone(),
            done_tx,
            security,
        ));
        tracing::info!(address = %local_addr, data_dir = %config.data_dir.display(),
            flush = %config.flush, "herald-broker ready");
        Ok(BrokerHandle {
            local_addr,
            state,
            shutdown,
            server: Some(server),
            done_rx,
        })
    }
}

/// A running broker. Dropping it without `shutdown` stops accepting connections but does not wait.
pub struct BrokerHandle {
    local_addr: SocketAddr,
    state: Arc<BrokerState>,
    shutdown: CancellationToken,
    server: Option<JoinHandle<()>>,
    done_rx: mpsc::Receiver<()>,
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

    /// The state every request handler shares (topics, config); for embedding and tests.
    pub fn state(&self) -> &Arc<BrokerState> {
        &self.state
    }

    /// Stops accepting, finishes in-flight requests, fsyncs every partition, and returns when done.
    pub async fn shutdown(mut self) -> Result<(), BrokerError> {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            if let Err(e) = server.await {
                tracing::warn!(error = %e, "broker server task failed");
            }
        }
        // The server task dropped its sender; wait for every connection and background task.
        while self.done_rx.recv().await.is_some() {}
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || state.topics.flush_all())
            .await
            .map_err(|e| {
                BrokerError::io("flush at shutdown", &self.state.config.data_dir, e.into())
            })??;
        tracing::info!(address = %self.local_addr, "herald-broker stopped");
        Ok(())
    }
}

impl Drop for BrokerHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
