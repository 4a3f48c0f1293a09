//! The dashboard in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs when missing) driven over WebDriver opens a
//! node's dashboard of a real 3-node cluster; the page loads with no console error, shows the
//! three nodes, and its request counter rises while requests flow. The screenshot it takes is
//! saved as `dashboard.png` in Cargo's test folder (`docs/dashboard.png` is one).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::{Cluster, eventually};
use serde_json::{Value as Json, json};

/// chromedriver, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Session<'a> {
    http: &'a reqwest::Client,
    base: String,
}

impl Session<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> Json {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let v: Json = r.json().await.unwrap();
        v["value"].clone()
    }

    async fn script(&self, script: &str) -> Json {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_live_cluster_in_headless_chromium() {
    let port = common::free_ports(1)[0];
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run chromedriver ({e}): apt-get install chromium chromium-driver (the README's set-up)")
        });
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(
        eventually(Duration::from_secs(20), || async {
            http.get(format!("{}/status", driver.url)).send().await.is_ok()
        })
        .await,
        "chromedriver did not start"
    );

    let (cluster, urls) = Cluster::start_http("dash-browser", 3, "");
    cluster.wait_joined(Duration::from_secs(20)).await;
    let client = cluster.client_of(0).await;
    client.add_actor(client.actor("Echo", ["svc/echo"]).count(3)).await.unwrap();
    // Requests flow while the page is open.
    let flowing = {
        let h = client.handle("svc/echo");
        tokio::spawn(async move {
            loop {
                let _ = h.request("say", &"hello").await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,860",
                     "--disable-dev-shm-usage", "--no-proxy-server"]
        },
        "goog:loggingPrefs": {"browser": "ALL"}
    }}});
    let created: Json = http
        .post(format!("{}/session", driver.url))
        .json(&caps)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id =
        created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}"));
    let s = Session { http: &http, base: format!("{}/session/{id}", driver.url) };
    s.call(reqwest::Method::POST, "/url", Some(json!({"url": format!("{}/", urls[0])}))).await;

    let three = eventually(Duration::from_secs(20), || async {
        s.script("return document.querySelectorAll('#nodes tr').length + ':' + document.getElementById('node-count').textContent").await
            == json!("3:3")
    })
    .await;
    assert!(
        three,
        "the page does not show three nodes: {}",
        s.script("return document.body.innerText").await
    );
    let count = |v: Json| v.as_str().and_then(|t| t.trim().parse::<u64>().ok()).unwrap_or(0);
    let first =
        count(s.script("return document.getElementById('total-requests').textContent").await);
    let rose = eventually(Duration::from_secs(20), || async {
        count(s.script("return document.getElementById('total-requests').textContent").await)
            > first
    })
    .await;
    assert!(rose, "the request counter did not rise from {first}");
    // Let the chart get a few live points before the picture.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let shot = s.call(reqwest::Method::GET, "/screenshot", None).await;
    let png = base64::engine::general_purpose::STANDARD.decode(shot.as_str().unwrap()).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png"), &png)
        .unwrap();
    let logs = s.call(reqwest::Method::POST, "/se/log", Some(json!({"type": "browser"}))).await;
    let errors: Vec<&Json> = logs
        .as_array()
        .map(|l| l.iter().filter(|e| e["level"] == "SEVERE").collect())
        .unwrap_or_default();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    s.call(reqwest::Method::DELETE, "", None).await;
    flowing.abort();
}
