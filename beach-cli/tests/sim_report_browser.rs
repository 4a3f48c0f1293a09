//! The strategy lab's HTML report in a real browser: headless Chromium (Debian's `chromium`
//! and `chromium-driver`, which `.ci/run` installs when missing) opens the page `beach sim
//! --report` wrote, from a file and with no network; it shows every chart with its lines and
//! bars, the embedded JSON reads back, and the console stays clean. The screenshot is saved
//! as `lab-report.png` in Cargo's test folder (`docs/lab-report.png` is one).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value as Json, json};

/// chromedriver, killed when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const SCENARIO: &str = "name: browser check
duration: 12s
nodes: {count: 4, cores: 2}
workload: {actors: 8, spawn_batch: 4, rate: 150, respawn_after: 2s, timeout: 1s}
events:
  - {at: 3s, slow: {node: 1, factor: 10, for: 3s}}
  - {at: 7s, crash: 3}
compare: {placement: [random, repulsion], routing: [random, affinity]}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_renders_offline_in_headless_chromium() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sim-browser");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("scenario.yaml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let report = dir.join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_beach"))
        .args(["sim", scenario.to_str().unwrap(), "--report", report.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run chromedriver ({e}): apt-get install chromium chromium-driver (the README's set-up)")
        });
    let _driver = Driver(child);
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
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1000,1400",
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
    let id =
        created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}"));
    let session = format!("{base}/session/{id}");
    let call = |method: reqwest::Method, path: &str, body: Option<Json>| {
        let mut req = http.request(method, format!("{session}{path}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move { req.send().await.unwrap().json::<Json>().await.unwrap()["value"].clone() }
    };
    let script = |s: &str| {
        call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": s, "args": []})))
    };
    let url = format!("file://{}", report.display());
    call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;

    let charts = script(
        "return [...document.querySelectorAll('svg.chart')].map(c => Math.round(c.getBoundingClientRect().height))",
    )
    .await;
    let heights: Vec<u64> =
        charts.as_array().unwrap().iter().map(|h| h.as_u64().unwrap()).collect();
    assert_eq!(heights.len(), 4, "two latency charts, actors per node, recovery: {heights:?}");
    assert!(heights.iter().all(|h| *h > 200), "every chart is drawn: {heights:?}");
    // One line per variant in each latency chart, with points that fill the width.
    let lines = script(
        "return [...document.querySelectorAll('svg.lines polyline.series')].map(p => p.getBBox().width)",
    )
    .await;
    let widths: Vec<f64> = lines.as_array().unwrap().iter().map(|w| w.as_f64().unwrap()).collect();
    assert_eq!(widths.len(), 8, "{widths:?}");
    assert!(widths.iter().all(|w| *w > 500.0), "{widths:?}");
    let events = script("return document.querySelectorAll('svg.lines line.event').length").await;
    assert_eq!(events, json!(4), "two events marked on both latency charts");
    let bars = script("return [...document.querySelectorAll('rect.bar')].filter(r => r.getBBox().height > 0).length").await;
    assert!(bars.as_u64().unwrap() >= 8, "bars with height: {bars}");
    let data = script(
        "const r = JSON.parse(document.getElementById('report-data').textContent); return [r.scenario, r.variants.length]",
    )
    .await;
    assert_eq!(data, json!(["browser check", 4]));
    let text = script("return document.body.innerText").await;
    assert!(text.as_str().unwrap().contains("crash node 3"), "{text}");

    let shot = call(reqwest::Method::GET, "/screenshot", None).await;
    let png = base64::engine::general_purpose::STANDARD.decode(shot.as_str().unwrap()).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lab-report.png"), &png)
        .unwrap();
    let logs = call(reqwest::Method::POST, "/se/log", Some(json!({"type": "browser"}))).await;
    let errors: Vec<&Json> = logs
        .as_array()
        .map(|l| l.iter().filter(|e| e["level"] == "SEVERE").collect())
        .unwrap_or_default();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    call(reqwest::Method::DELETE, "", None).await;
}
