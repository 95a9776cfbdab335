//! Test support (feature `testing`): a real herald-broker, in process, for users' own tests.
//!
//! [`TestBroker::start`] runs a herald-broker on a free loopback port with its data in a fresh
//! temporary directory; point any Kafka client at [`TestBroker::bootstrap_servers`]. It is the same
//! broker `herald broker` runs, spoken to over TCP: nothing is mocked. [`TestBroker::restart`]
//! simulates an outage on the same address and data, and [`TestBroker::stop`] (or drop) ends it.
//!
//! Not for production: data lives in a temporary directory deleted with the broker.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> herald::Result<()> {
//! use herald::envelope::Event;
//! use herald::producer::{Producer, ProducerConfig};
//! use herald::testing::TestBroker;
//!
//! let broker = TestBroker::start().await?;
//! let producer = Producer::new(ProducerConfig::new(broker.bootstrap_servers()))?;
//! let event = Event::new("user_created", &serde_json::json!({"id": 1}))?.key(1);
//! let delivery = producer.deliver("user_activity", &event).await?;
//! assert_eq!(delivery.offset, 0);
//! producer.close().await?;
//! broker.stop().await?;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::path::Path;

use herald_broker::{Broker, BrokerConfig, BrokerHandle};
use tempfile::TempDir;

use crate::error::{Error, Result};

/// A herald-broker running in this process on a loopback port, with its data in a temp directory.
pub struct TestBroker {
    handle: Option<BrokerHandle>,
    config: BrokerConfig,
    address: SocketAddr,
    bootstrap_servers: String,
    // Declared last: removed only after the broker has stopped.
    data_dir: TempDir,
}

impl std::fmt::Debug for TestBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestBroker")
            .field("address", &self.address)
            .field("data_dir", &self.data_dir.path())
            .field("running", &self.handle.is_some())
            .finish()
    }
}

impl TestBroker {
    /// Starts a broker on `127.0.0.1:0` with herald-broker's test defaults (topics are created
    /// on first use, one partition each).
    pub async fn start() -> Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts a broker after `configure` adjusted its config (e.g. `default_partitions`). The
    /// listen address and data directory are set by `TestBroker`.
    pub async fn start_with(configure: impl FnOnce(&mut BrokerConfig)) -> Result<Self> {
        let data_dir = tempfile::tempdir().map_err(|source| Error::TestBroker {
            operation: "start",
            source: herald_broker::BrokerError::Io {
                operation: "create a temporary data directory",
                path: std::env::temp_dir(),
                source,
            },
        })?;
        let mut config = BrokerConfig::for_tests(data_dir.path());
        configure(&mut config);
        config.data_dir = data_dir.path().to_path_buf();
        let handle = Broker::start(config.clone())
            .await
            .map_err(|source| Error::TestBroker {
                operation: "start",
                source,
            })?;
        let address = handle.local_addr();
        // A restart must come back on the same port, not on a new free one.
        config.listen = address;
        Ok(Self {
            bootstrap_servers: handle.bootstrap_servers(),
            handle: Some(handle),
            config,
            address,
            data_dir,
        })
    }

    /// `host:port` for clients' `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// The address the broker listens on (the same across [`TestBroker::restart`]).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The broker's data directory.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Whether the broker is serving (false between the two halves of [`TestBroker::restart`] and
    /// after a failed restart).
    pub fn is_running(&self) -> bool {
        self.handle.is_some()
    }

    /// Stops the broker, runs `during_outage` while it is down, then starts it again on the same
    /// address with the same data and configuration: an outage clients must survive.
    pub async fn restart<F, Fut>(&mut self, during_outage: F) -> Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        self.shut_down().await?;
        during_outage().await;
        let handle =
            Broker::start(self.config.clone())
                .await
                .map_err(|source| Error::TestBroker {
                    operation: "restart",
                    source,
                })?;
        self.handle = Some(handle);
        Ok(())
    }

    /// Stops the broker (finishing in-flight requests, fsyncing) and deletes its data.
    pub async fn stop(mut self) -> Result<()> {
        self.shut_down().await
    }

    async fn shut_down(&mut self) -> Result<()> {
        match self.handle.take() {
            Some(handle) => handle.shutdown().await.map_err(|source| Error::TestBroker {
                operation: "stop",
                source,
            }),
            None => Ok(()),
        }
    }
}

impl Drop for TestBroker {
    /// Signals the broker to stop (its handle cancels the server on drop); the data directory is
    /// deleted afterwards. Prefer [`TestBroker::stop`] to wait for a clean stop.
    fn drop(&mut self) {
        drop(self.handle.take());
    }
}
