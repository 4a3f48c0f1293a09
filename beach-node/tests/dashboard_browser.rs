//! The dashboard in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs when missing) driven over WebDriver opens a
//! node's dashboard of a real 3-node cluster; the page loads with no console error, shows the
//! three nodes, and its request counter rises while requests flow. The screenshot it takes is
//! saved as `dashboard.png` in Cargo's test folder (`docs/dashboard.png` is one).

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use browser::Browser;
use common::{Cluster, eventually};
use serde_json::{Value as Json, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_live_cluster_in_headless_chromium() {
    let s = Browser::start(1280, 860).await;
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

    s.open(&format!("{}/", urls[0])).await;

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
    let png = s.screenshot().await;
    std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png"), &png)
        .unwrap();
    let errors = s.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    s.close().await;
    flowing.abort();
}
