//! herald console: a web UI for any Kafka-compatible cluster (herald-broker or Kafka itself), spoken
//! to only through rdkafka (admin, metadata, consumer, producer), like the rest of herald.
//!
//! Pages (one file each under `pages/`): overview, topics, one topic, the message explorer, consumer
//! groups, one group (with its lag chart), dead letters. Server-rendered HTML with a little
//! progressive JavaScript ([`html`]); no front-end build.
//!
//! Safe by default: the CLI listens on loopback; `read_only` hides every write and makes the POST
//! routes refuse; optional basic auth; every write is a POST carrying a CSRF token ([`security`]).
//! A broker that is down gives an error page, and the console recovers when it returns: the
//! rdkafka clients reconnect on their own.
//!
//! Main types: [`ConsoleConfig`], [`Console`] (a running server). Not here: flag parsing (the CLI's
//! `herald console`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub mod assignment;
pub mod cluster;
pub mod decode;
mod error;
pub mod html;
pub mod lag;
mod pages;
pub mod security;

pub use error::{ConsoleError, Result};

/// Default deadline of one broker round trip made for a page.
pub const REQUEST_TIMEOUT_MS_DEFAULT: u64 = 5_000;
/// Default interval between two lag samples.
pub const LAG_SAMPLE_INTERVAL_MS_DEFAULT: u64 = 10_000;

/// How the console reaches the cluster and what it lets people do.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// Bootstrap brokers, `host:port[,host:port...]`.
    pub brokers: String,
    /// Extra librdkafka settings (security and the like), applied after the console's own.
    pub settings: Vec<(String, String)>,
    /// Hide every write action and refuse every POST.
    pub read_only: bool,
    /// Basic-auth users; `None` means no authentication.
    pub users: Option<security::Users>,
    /// Deadline of one broker round trip.
    pub request_timeout: Duration,
    /// Interval between two lag samples (the group pages' charts).
    pub lag_sample_interval: Duration,
}

impl ConsoleConfig {
    /// A console for `brokers` with the defaults: writes allowed, no auth.
    pub fn new(brokers: impl Into<String>) -> Self {
        ConsoleConfig {
            brokers: brokers.into(),
            settings: Vec::new(),
            read_only: false,
            users: None,
            request_timeout: Duration::from_millis(REQUEST_TIMEOUT_MS_DEFAULT),
            lag_sample_interval: Duration::from_millis(LAG_SAMPLE_INTERVAL_MS_DEFAULT),
        }
    }
}

/// What every handler shares.
pub(crate) struct AppState {
    pub cluster: cluster::Cluster,
    pub lag: lag::LagHistory,
    pub read_only: bool,
    pub users: Option<security::Users>,
    pub csrf_token: String,
}

pub(crate) type State = axum::extract::State<Arc<AppState>>;

/// A running console: its address, and a way to stop it.
pub struct Console {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    sampler: JoinHandle<()>,
}

impl Console {
    /// Binds `listen` (port 0: any free port), connects the rdkafka clients (which do not need the
    /// brokers to be up yet) and starts serving and sampling lag.
    pub async fn start(config: ConsoleConfig, listen: SocketAddr) -> Result<Console> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| ConsoleError::Bind {
                address: listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| ConsoleError::Bind {
            address: listen,
            source,
        })?;
        let state = Arc::new(AppState {
            cluster: cluster::Cluster::connect(&config)?,
            lag: lag::LagHistory::default(),
            read_only: config.read_only,
            users: config.users.clone(),
            csrf_token: security::new_csrf_token(),
        });
        let shutdown = CancellationToken::new();
        let sampler = tokio::spawn(lag::run_sampler(
            state.clone(),
            config.lag_sample_interval,
            shutdown.clone(),
        ));
        let app = router(state);
        let stop = shutdown.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        Ok(Console {
            local_addr,
            shutdown,
            server,
            sampler,
        })
    }

    /// The address the console listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Resolves when the console was asked to stop (e.g. for a caller that waits on it).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops serving (finishing requests in flight) and the lag sampler, and waits for both.
    pub async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        let served = self.server.await.map_err(ConsoleError::Task)?;
        self.sampler.await.map_err(ConsoleError::Task)?;
        served.map_err(|source| ConsoleError::Bind {
            address: self.local_addr,
            source,
        })
    }
}

/// Every route. Writes are POSTs; [`security::guard`] checks auth, read-only and CSRF first.
fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(pages::overview::page))
        .route("/health", get(|| async { "ok" }))
        .route(
            "/topics",
            get(pages::topics::page).post(pages::topics::create),
        )
        .route("/topics/{topic}", get(pages::topic::page))
        .route("/topics/{topic}/delete", post(pages::topic::delete))
        .route("/topics/{topic}/config", post(pages::topic::alter_config))
        .route("/topics/{topic}/purge", post(pages::topic::purge))
        .route("/topics/{topic}/messages", get(pages::messages::page))
        .route("/groups", get(pages::groups::page))
        .route("/groups/{group}", get(pages::group::page))
        .route("/groups/{group}/reset", post(pages::group::reset))
        .route("/dead-letters", get(pages::dead_letters::page))
        .route(
            "/dead-letters/{topic}",
            get(pages::dead_letters::topic_page),
        )
        .route(
            "/dead-letters/{topic}/republish",
            post(pages::dead_letters::republish),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .with_state(state)
}
