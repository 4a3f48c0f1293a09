//! Headless Chromium over WebDriver, for the tests that look at a page in a real browser (the
//! dashboard here; the strategy lab's report in `beach-cli`, which includes this file by path).
//! Needs Debian's `chromium` and `chromium-driver`, which `.ci/run` installs when missing.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value as Json, json};

/// A browser session, with its chromedriver; both end when it is dropped.
pub(crate) struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless window of this size,
    /// logging the page's console.
    pub(crate) async fn start(width: u32, height: u32) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run chromedriver ({e}): apt-get install chromium chromium-driver (the README's set-up)")
            });
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let start = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         format!("--window-size={width},{height}"),
                         "--disable-dev-shm-usage", "--no-proxy-server"]
            },
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let created: Json = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        Self { driver, http, session: format!("{base}/session/{id}") }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> Json {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let v: Json = r.json().await.unwrap();
        v["value"].clone()
    }

    /// Opens `url`.
    pub(crate) async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// Runs `script` in the page and returns what it returns.
    pub(crate) async fn script(&self, script: &str) -> Json {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// A PNG of the window.
    pub(crate) async fn screenshot(&self) -> Vec<u8> {
        let shot = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(shot.as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        png
    }

    /// The page's console errors so far.
    pub(crate) async fn console_errors(&self) -> Vec<Json> {
        let logs =
            self.call(reqwest::Method::POST, "/se/log", Some(json!({"type": "browser"}))).await;
        logs.as_array()
            .map(|l| l.iter().filter(|e| e["level"] == "SEVERE").cloned().collect())
            .unwrap_or_default()
    }

    /// Ends the session (the window closes).
    pub(crate) async fn close(&self) {
        self.call(reqwest::Method::DELETE, "", None).await;
    }
}
