//! `beach bench --target http`: requests to an Echo actor through a node's HTTP gateway
//! (`POST /v1/request` over keep-alive connections), beside the native TCP client of the same
//! run against the same actor.

use std::time::Duration;

use beach_core::value::Payload;
use serde_json::json;

use crate::args::BenchArgs;
use crate::bench_measure::{Measured, serde_bytes_of, timed};
use crate::local_cluster::{connect, keep_on_failure, node_options, start_nodes};
use crate::outcome::Failure;

/// What the http target measured.
pub(crate) struct HttpFigures {
    /// Through the gateway.
    pub(crate) http: Measured,
    /// The native client, same node, same actor, same run.
    pub(crate) native: Measured,
}

/// Runs the http target on a node started here with its gateway.
pub(crate) async fn run(args: &BenchArgs) -> Result<HttpFigures, Failure> {
    let dir = std::env::temp_dir().join(format!("beach-bench-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Failure::usage(format!("{}: {e}", dir.display())))?;
    let result = async {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| Failure::usage(format!("no free port for the gateway: {e}")))?
            .port();
        let extra = format!("http: 127.0.0.1:{port}\n{}", node_options(args, &dir)?);
        let (config, _, nodes) = start_nodes(1, &dir, "bench", &extra).map_err(Failure::usage)?;
        let client = connect(&config, &nodes, "bench").await.map_err(Failure::usage)?;
        let category = "bench/http";
        client.add_actor(client.actor("Echo", [category])).await?;
        let (n, window) = (args.requests as usize, args.inflight as usize);
        let bytes = serde_bytes_of(args.payload);
        let data = Payload::encode(&bytes).map_err(|e| Failure::usage(e.to_string()))?;
        let handle = client.handle(category).timeout(Duration::from_secs(30));
        let native = timed(n, window, || async {
            handle.request_payload("echo", data.clone()).await.map(|_| ())
        })
        .await
        .map_err(|e| Failure::cluster(format!("native echo: {e}")))?;
        // The same payload as JSON: a string of as many bytes.
        let body = json!({"realm": "global", "category": category, "kind": "echo",
                          "data": "x".repeat(args.payload), "timeout": "30s"})
        .to_string();
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(window.max(1))
            .build()
            .map_err(|e| Failure::usage(format!("HTTP client: {e}")))?;
        let url = format!("http://127.0.0.1:{port}/v1/request");
        let ready = format!("http://127.0.0.1:{port}/readyz");
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !http.get(&ready).send().await.is_ok_and(|r| r.status().is_success()) {
            if std::time::Instant::now() > deadline {
                return Err(Failure::cluster("the gateway did not become ready in 15 s"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let through = timed(n, window, || async {
            let r = http
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = r.status();
            r.bytes().await.map_err(|e| e.to_string())?;
            if status.is_success() { Ok(()) } else { Err(format!("status {status}")) }
        })
        .await
        .map_err(|e| Failure::cluster(format!("http echo: {e}")))?;
        client.close();
        Ok(HttpFigures { http: through, native })
    }
    .await;
    keep_on_failure(&dir, result)
}
