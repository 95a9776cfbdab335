//! [`BrokerState`]: what every request handler shares: the configuration, the topic registry, the
//! producer id allocator, the advertised address and the shutdown signal.
//!
//! Built once by `Broker::start` (blocking: it recovers every partition) and passed to handlers as
//! `&Arc<BrokerState>`. Not here: sockets (`server.rs`, `connection.rs`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::auth::Security;
use crate::metrics::BrokerMetrics;
use crate::producer_ids::ProducerIdAllocator;
use crate::topics::{write_atomically, TopicRegistry};
use crate::{BrokerConfig, BrokerError, FlushPolicy};

/// The state shared by every connection and background task.
#[derive(Debug)]
pub struct BrokerState {
    /// The configuration the broker started with.
    pub config: BrokerConfig,
    /// Host that Metadata and FindCoordinator tell clients to connect to.
    pub advertised_host: String,
    /// Port that Metadata and FindCoordinator tell clients to connect to.
    pub advertised_port: i32,
    /// Persisted cluster id reported in Metadata.
    pub cluster_id: String,
    /// Every topic and its partitions.
    pub topics: TopicRegistry,
    /// Idempotent producer ids.
    pub producer_ids: ProducerIdAllocator,
    /// Cancelled when the broker shuts down; long waits (fetch long poll, joins) end early on it.
    pub shutdown: CancellationToken,
    /// The group coordinator (every group's); its timer task is spawned by `server::run`.
    pub coordinator: std::sync::Arc<crate::coordinator::GroupCoordinator>,
    /// SASL users, ACLs and TLS, loaded at start.
    pub security: std::sync::Arc<Security>,
    /// Request, connection and storage counters (`metrics/`).
    pub metrics: BrokerMetrics,
}

impl BrokerState {
    /// Opens the data directory and recovers every partition. Blocking.
    pub fn open(
        config: BrokerConfig,
        local_addr: SocketAddr,
        shutdown: CancellationToken,
        security: std::sync::Arc<Security>,
    ) -> Result<Self, BrokerError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| BrokerError::io("create", &config.data_dir, e))?;
        let (advertised_host, advertised_port) = advertised(&config, local_addr);
        let cluster_id = cluster_id(&config.data_dir)?;
        let topics = TopicRegistry::open(&config)?;
        let producer_ids = ProducerIdAllocator::open(&config.data_dir)?;
        let coordinator = std::sync::Arc::new(crate::coordinator::GroupCoordinator::open(
            &config, &topics,
        )?);
        Ok(Self {
            config,
            advertised_host,
            advertised_port,
            cluster_id,
            topics,
            producer_ids,
            shutdown,
            coordinator,
            security,
            metrics: BrokerMetrics::default(),
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// When appends are fsynced.
    pub fn flush_policy(&self) -> FlushPolicy {
        self.config.flush
    }

    /// This broker's node id (controller, leader and coordinator of everything).
    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }
}

/// `advertised_address` split into host and port, or the bound address.
fn advertised(config: &BrokerConfig, local_addr: SocketAddr) -> (String, i32) {
    if let Some(address) = &config.advertised_address {
        if let Some((host, port)) = address.rsplit_once(':') {
            if let Ok(port) = port.parse::<u16>() {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                return (host.to_string(), i32::from(port));
            }
        }
        tracing::warn!(%address, "advertised address is not host:port; using the bound address");
    }
    (local_addr.ip().to_string(), i32::from(local_addr.port()))
}

/// Reads `<data_dir>/cluster_id`, creating it on first start.
fn cluster_id(data_dir: &Path) -> Result<String, BrokerError> {
    let path: PathBuf = data_dir.join("cluster_id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        Ok(_) => new_cluster_id(&path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => new_cluster_id(&path),
        Err(e) => Err(BrokerError::io("read", &path, e)),
    }
}

fn new_cluster_id(path: &Path) -> Result<String, BrokerError> {
    let id = format!("herald-{}", Uuid::new_v4().simple());
    write_atomically(path, id.as_bytes())?;
    Ok(id)
}
