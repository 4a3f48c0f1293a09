//! The strategy lab's HTML report in a real browser: headless Chromium (Debian's `chromium`
//! and `chromium-driver`, which `.ci/run` installs when missing) opens the page `beach sim
//! --report` wrote, from a file and with no network; it shows every chart with its lines and
//! bars, the embedded JSON reads back, and the console stays clean. The screenshot is saved
//! as `lab-report.png` in Cargo's test folder (`docs/lab-report.png` is one).

#[path = "../../beach-node/tests/common/browser.rs"]
mod browser;

use std::path::PathBuf;
use std::process::Command;

use browser::Browser;
use serde_json::json;

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

    let b = Browser::start(1000, 1400).await;
    b.open(&format!("file://{}", report.display())).await;

    let charts = b.script(
        "return [...document.querySelectorAll('svg.chart')].map(c => Math.round(c.getBoundingClientRect().height))",
    )
    .await;
    let heights: Vec<u64> =
        charts.as_array().unwrap().iter().map(|h| h.as_u64().unwrap()).collect();
    assert_eq!(heights.len(), 4, "two latency charts, actors per node, recovery: {heights:?}");
    assert!(heights.iter().all(|h| *h > 200), "every chart is drawn: {heights:?}");
    // One line per variant in each latency chart, with points that fill the width.
    let lines = b.script(
        "return [...document.querySelectorAll('svg.lines polyline.series')].map(p => p.getBBox().width)",
    )
    .await;
    let widths: Vec<f64> = lines.as_array().unwrap().iter().map(|w| w.as_f64().unwrap()).collect();
    assert_eq!(widths.len(), 8, "{widths:?}");
    assert!(widths.iter().all(|w| *w > 500.0), "{widths:?}");
    let events = b.script("return document.querySelectorAll('svg.lines line.event').length").await;
    assert_eq!(events, json!(4), "two events marked on both latency charts");
    let bars = b.script("return [...document.querySelectorAll('rect.bar')].filter(r => r.getBBox().height > 0).length").await;
    assert!(bars.as_u64().unwrap() >= 8, "bars with height: {bars}");
    let data = b.script(
        "const r = JSON.parse(document.getElementById('report-data').textContent); return [r.scenario, r.variants.length]",
    )
    .await;
    assert_eq!(data, json!(["browser check", 4]));
    let text = b.script("return document.body.innerText").await;
    assert!(text.as_str().unwrap().contains("crash node 3"), "{text}");

    let png = b.screenshot().await;
    std::fs::write(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lab-report.png"), &png)
        .unwrap();
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    b.close().await;
}
