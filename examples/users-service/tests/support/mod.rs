//! Test harness: the users service served in-process on a loopback port, on a fresh SQLite file or
//! a fresh PostgreSQL database, publishing to an in-process herald-broker.
#![allow(clippy::unwrap_used, dead_code)]

use std::time::Duration;

use herald::testing::TestBroker;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// PostgreSQL server every machine here has (trust auth); tests create their own database on it.
pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct Harness {
    pub base: String,
    pub http: reqwest::Client,
    pub broker: TestBroker,
    pub database_url: String,
    shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    pg_database: Option<String>,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start(backend: Backend) -> Harness {
        let broker = TestBroker::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (database_url, pg_database) = match backend {
            Backend::Sqlite => (
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("users.db").display()
                ),
                None,
            ),
            Backend::Postgres => {
                let name = format!("users_test_{}", uuid::Uuid::new_v4().simple());
                let admin = sqlx::PgPool::connect(POSTGRES_ADMIN_URL).await.unwrap();
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
                (
                    format!("postgres://postgres@127.0.0.1:5432/{name}"),
                    Some(name),
                )
            }
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let config = users_service::Config::new(address, database_url.clone());
        let shutdown = CancellationToken::new();
        let brokers = broker.bootstrap_servers().to_string();
        let token = shutdown.clone();
        let server =
            tokio::spawn(
                async move { users_service::serve(listener, config, &brokers, token).await },
            );
        let harness = Harness {
            base: format!("http://{address}"),
            http: reqwest::Client::new(),
            broker,
            database_url,
            shutdown,
            server: Some(server),
            pg_database,
            _dir: dir,
        };
        harness.wait_healthy().await;
        harness
    }

    async fn wait_healthy(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = self.http.get(self.url("/health")).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "service never became healthy"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn put_json(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .http
            .put(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Stops the server and its relay, then drops the PostgreSQL database if one was made.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        if let Some(name) = self.pg_database.take() {
            let admin = sqlx::PgPool::connect(POSTGRES_ADMIN_URL).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
        }
    }
}
