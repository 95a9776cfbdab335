//! A small W3C WebDriver client over reqwest, enough to drive headless Chromium through
//! chromedriver: sessions, navigation, elements (find, click, type, text), alerts, page source and
//! screenshots. It starts chromedriver itself on a free loopback port and ends it on `quit`.
//!
//! Chromium and chromedriver come from Debian (`apt-get install chromium chromium-driver`; `.ci/run`
//! installs them). When either is missing, [`Browser::launch`] panics saying so: the end-to-end
//! test fails rather than passing without a browser.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

/// How long chromedriver has to answer `/status` after it was started.
const DRIVER_START_MS: u64 = 20_000;
/// How long a wait for an element or a text may take.
pub const WAIT_MS: u64 = 20_000;
/// Interval between two looks while waiting.
const WAIT_POLL_MS: u64 = 100;
/// The key W3C WebDriver names elements by.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The first of `candidates` that exists, or the environment's override.
fn locate(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(env) {
        return Some(PathBuf::from(path));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// A Chromium session driven through chromedriver.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; panics with what is missing.
    pub async fn launch() -> Browser {
        let driver_path = locate("CHROMEDRIVER", &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
            .filter(|p| p.exists())
            .unwrap_or_else(|| panic!("chromedriver not found (apt-get install chromium chromium-driver, or set CHROMEDRIVER): the browser tests cannot run"));
        let chromium = locate("CHROMIUM", &["/usr/bin/chromium", "/usr/bin/chromium-browser"])
            .filter(|p| p.exists())
            .unwrap_or_else(|| panic!("chromium not found (apt-get install chromium chromium-driver, or set CHROMIUM): the browser tests cannot run"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_path.display()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_millis(DRIVER_START_MS);
        loop {
            let ready = http.get(format!("{base}/status")).send().await.ok();
            let ready = match ready {
                Some(r) => r
                    .json::<Value>()
                    .await
                    .ok()
                    .is_some_and(|v| v["value"]["ready"] == true),
                None => false,
            };
            if ready {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not start on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(WAIT_POLL_MS)).await;
        }
        let profile = tempfile::tempdir().expect("a profile directory");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium.display().to_string(), "args": args},
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("session request answered")
            .json()
            .await
            .expect("session JSON");
        let id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver refused a session: {created}"))
            .to_string();
        Browser {
            http,
            session: format!("{base}/session/{id}"),
            driver,
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        } else if method == reqwest::Method::POST {
            request = request.json(&json!({}));
        }
        let reply: Value = request
            .send()
            .await
            .expect("webdriver answered")
            .json()
            .await
            .expect("webdriver JSON");
        reply["value"].clone()
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        let reply = self
            .call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
        assert!(reply.is_null(), "navigation to {url} failed: {reply}");
    }

    async fn element(&self, css: &str) -> Option<String> {
        let reply = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        reply[ELEMENT_KEY].as_str().map(str::to_string)
    }

    /// The element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(WAIT_MS);
        loop {
            if let Some(id) = self.element(css).await {
                return id;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no element {css} on the page:\n{}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(WAIT_POLL_MS)).await;
        }
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        let reply = self
            .call(reqwest::Method::POST, &format!("/element/{id}/click"), None)
            .await;
        assert!(
            reply.is_null() || reply.get("error").is_none(),
            "click on {css} failed: {reply}"
        );
    }

    /// Replaces the text of the input matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/clear"), None)
            .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until the text of `css` satisfies `done`; returns it.
    pub async fn await_text(&self, css: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(WAIT_MS);
        loop {
            if let Some(id) = self.element(css).await {
                let text = self
                    .call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
                    .await;
                let text = text.as_str().unwrap_or_default().to_string();
                if done(&text) {
                    return text;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{css} never got there:\n{}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(WAIT_POLL_MS)).await;
        }
    }

    /// Accepts the open confirmation dialog, waiting for it to open.
    pub async fn accept_alert(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(WAIT_MS);
        loop {
            let reply = self
                .call(reqwest::Method::POST, "/alert/accept", None)
                .await;
            if reply.is_null() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no dialog opened: {reply}"
            );
            tokio::time::sleep(Duration::from_millis(WAIT_POLL_MS)).await;
        }
    }

    /// The current page's HTML.
    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Saves a PNG of the window to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let encoded = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).expect("screenshot written");
    }

    /// Ends the session (closing Chromium), then chromedriver.
    pub async fn quit(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

impl Drop for Browser {
    /// chromedriver is this test's child: it never outlives the test, even one that failed.
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `target/console-screenshots/` (under `CARGO_TARGET_DIR` when set).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("console-screenshots")
}
