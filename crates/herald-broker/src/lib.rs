//! herald-broker: a single-node, persistent, Kafka-wire-compatible broker.
//!
//! `Broker::start(config)` opens (and recovers) every partition under `config.data_dir`, binds the
//! listener and serves the Kafka protocol until `BrokerHandle::shutdown`. Real Kafka clients
//! (librdkafka, kafka-python, kafkajs, the Java client) use it unchanged.
//!
//! Layers, one per file: [`server`] (listener, connection limit, background tasks), [`connection`]
//! (one TCP stream: SASL steps, dispatch, the ordered reply queue), [`frame`] (Kafka framing without
//! a socket), [`api`] (the registry of APIs and one file per Kafka API), [`auth`] (SASL, ACLs, TLS),
//! [`clock`], [`topics`] (the persistent topic
//! registry and the partitions' logs), [`topic_config`] (per-topic configs), [`producer_ids`]
//! (idempotent producer ids), [`state`] (what every handler shares). Storage itself is `herald-log`,
//! whose log cleaner runs on a thread the [`BrokerHandle`] owns (compacted topics only) and stops at
//! shutdown.
//!
//! It is not a cluster: one node is the controller, every partition's leader and every group's
//! coordinator. Transactions are not supported.
//!
//! Main types: [`Broker`], [`BrokerHandle`], [`BrokerConfig`], [`BrokerError`].

mod answer_log;
pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod connection;
pub mod coordinator;
mod error;
pub mod frame;
pub mod metrics;
pub mod partition;
pub mod producer_ids;
pub mod server;
pub mod state;
pub mod topic_config;
pub mod topics;
pub mod transactions;

pub use config::{BrokerConfig, CleanerSettings, FlushPolicy, TlsConfig};
pub use error::BrokerError;
pub use state::BrokerState;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The entry point.
pub struct Broker;

/// Pending connections the kernel queues for the Kafka listener (std's default).
const LISTEN_BACKLOG: u32 = 128;

impl Broker {
    /// Binds `config.listen`, opens the data directory, and serves until the handle's `shutdown`.
    pub async fn start(config: BrokerConfig) -> Result<BrokerHandle, BrokerError> {
        config.cleaner.validate()?;
        let security = Arc::new(auth::Security::load(&config)?);
        let bind_error = |source| BrokerError::Bind {
            address: config.listen,
            source,
        };
        // Bound (so the port, even port 0, is known and reserved) but not listening: until recovery
        // is done a client's connect is refused instead of hanging on a broker that cannot serve.
        let socket = match config.listen {
            std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }
        .map_err(bind_error)?;
        socket.set_reuseaddr(true).map_err(bind_error)?;
        socket.bind(config.listen).map_err(bind_error)?;
        let local_addr = socket.local_addr().map_err(bind_error)?;
        let shutdown = CancellationToken::new();
        let state = {
            let (open_config, shutdown) = (config.clone(), shutdown.clone());
            tokio::task::spawn_blocking(move || {
                BrokerState::open(open_config, local_addr, shutdown, security)
            })
            .await
            .map_err(|e| BrokerError::io("open data directory", &config.data_dir, e.into()))??
        };
        let state = Arc::new(state);
        let listener = socket.listen(LISTEN_BACKLOG).map_err(bind_error)?;
        let cleaner = start_cleaner(&state)?;
        // Every task holds a clone of this sender; `recv` returns `None` once they have all ended.
        let (done_tx, done_rx) = mpsc::channel::<()>(1);
        let metrics_addr = match config.metrics_listen {
            None => None,
            Some(address) => {
                let bind_error = |source| BrokerError::Bind { address, source };
                let listener = tokio::net::TcpListener::bind(address)
                    .await
                    .map_err(bind_error)?;
                let bound = listener.local_addr().map_err(bind_error)?;
                tokio::spawn(metrics::http::serve(
                    listener,
                    state.clone(),
                    shutdown.clone(),
                    done_tx.clone(),
                ));
                tracing::info!(address = %bound, "metrics endpoint ready");
                Some(bound)
            }
        };
        let server = tokio::spawn(server::run(
            listener,
            state.clone(),
            shutdown.clone(),
            done_tx,
        ));
        tracing::info!(address = %local_addr, data_dir = %config.data_dir.display(),
            flush = %config.flush, "herald-broker ready");
        Ok(BrokerHandle {
            local_addr,
            metrics_addr,
            state,
            shutdown,
            server: Some(server),
            done_rx,
            cleaner,
        })
    }
}

/// Starts herald-log's cleaner over every partition of a compacted topic (the list is taken again at
/// each pass, so new topics and config changes are picked up), unless `log.cleaner.enable` is off. The
/// thread holds only a weak reference to the state.
fn start_cleaner(state: &Arc<BrokerState>) -> Result<Option<herald_log::Cleaner>, BrokerError> {
    let settings = &state.config.cleaner;
    if !settings.enabled {
        tracing::info!("log cleaner disabled (log.cleaner.enable=false): compacted topics grow");
        return Ok(None);
    }
    let weak = Arc::downgrade(state);
    let source = move || -> Vec<Arc<dyn herald_log::SharedLog>> {
        let Some(state) = weak.upgrade() else {
            return Vec::new();
        };
        state
            .topics
            .all_partitions()
            .into_iter()
            .filter(|p| p.is_compacted())
            .map(|p| p as Arc<dyn herald_log::SharedLog>)
            .collect()
    };
    let config = settings.cleaner_config(Arc::clone(&state.metrics.cleaner));
    herald_log::Cleaner::start(config, Arc::new(source))
        .map(Some)
        .map_err(|e| {
            BrokerError::io(
                "start log cleaner",
                &state.config.data_dir,
                std::io::Error::other(e),
            )
        })
}

/// A running broker. Dropping it without `shutdown` stops accepting connections but does not wait.
pub struct BrokerHandle {
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    state: Arc<BrokerState>,
    shutdown: CancellationToken,
    server: Option<JoinHandle<()>>,
    done_rx: mpsc::Receiver<()>,
    /// The log cleaner thread; stopped (and joined) at shutdown, before the final flush.
    cleaner: Option<herald_log::Cleaner>,
}

impl BrokerHandle {
    /// The address the listener is bound to (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the metrics endpoint, when `metrics_listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
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
        if let Some(cleaner) = self.cleaner.take() {
            tokio::task::spawn_blocking(move || cleaner.stop())
                .await
                .map_err(|e| {
                    BrokerError::io("stop log cleaner", &self.state.config.data_dir, e.into())
                })?;
        }
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
