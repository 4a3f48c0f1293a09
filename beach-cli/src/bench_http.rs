//! `beach bench --target http`: requests to an Echo actor through a node's HTTP gateway
//! (`POST /v1/request` over keep-alive connections), beside the native TCP client of the same
//! run against the same actor; with `--rounds N`, N rounds alternating the two on one node.

use std::time::Duration;

use beach_core::value::Payload;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::json;

use crate::args::BenchArgs;
use crate::bench_measure::{Measured, serde_bytes_of, timed};
use crate::local_cluster::{connect, keep_on_failure, node_options, start_nodes};
use crate::outcome::Failure;

/// What one round of the http target measured.
pub(crate) struct HttpFigures {
    /// Through the gateway.
    pub(crate) http: Measured,
    /// The native client, same node, same actor, same run.
    pub(crate) native: Measured,
}

/// Runs the http target on a node started here with its gateway: `args.rounds` rounds, each
/// the native client then the gateway.
pub(crate) async fn run(args: &BenchArgs) -> Result<Vec<HttpFigures>, Failure> {
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
        // The same payload as JSON: a string of as many bytes.
        let body = json!({"realm": "global", "category": category, "kind": "echo",
                          "data": "x".repeat(args.payload), "timeout": "30s"})
        .to_string();
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| Failure::usage(format!("HTTP client: {e}")))?;
        let ready = format!("http://127.0.0.1:{port}/readyz");
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !http.get(&ready).send().await.is_ok_and(|r| r.status().is_success()) {
            if std::time::Instant::now() > deadline {
                return Err(Failure::cluster("the gateway did not become ready in 15 s"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pool = Connections::open(port, window.max(1)).await?;
        let body = bytes::Bytes::from(body);
        let mut rounds = Vec::new();
        for _ in 0..args.rounds.max(1) {
            let native = timed(n, window, || async {
                handle.request_payload("echo", data.clone()).await.map(|_| ())
            })
            .await
            .map_err(|e| Failure::cluster(format!("native echo: {e}")))?;
            let through = timed(n, window, || pool.post(body.clone()))
                .await
                .map_err(|e| Failure::cluster(format!("http echo: {e}")))?;
            rounds.push(HttpFigures { http: through, native });
        }
        client.close();
        Ok(rounds)
    }
    .await;
    keep_on_failure(&dir, result)
}

/// Keep-alive HTTP/1.1 connections to the gateway, one per request in flight: a client as
/// light as hyper makes it, so that the figures are the gateway's rather than the client's.
/// A connection the gateway closed while it was idle (it drops those that send nothing for a
/// few seconds) is replaced.
struct Connections {
    idle: std::sync::Mutex<Vec<SendRequest<Full<bytes::Bytes>>>>,
    port: u16,
    uri: hyper::Uri,
}

impl Connections {
    async fn open(port: u16, n: usize) -> Result<Connections, Failure> {
        let uri = format!("http://127.0.0.1:{port}/v1/request")
            .parse()
            .map_err(|e| Failure::usage(format!("{e}")))?;
        let pool = Connections { idle: std::sync::Mutex::new(Vec::with_capacity(n)), port, uri };
        for _ in 0..n {
            let send = pool.connect().await.map_err(Failure::cluster)?;
            pool.idle.lock().expect("pool").push(send);
        }
        Ok(pool)
    }

    async fn connect(&self) -> Result<SendRequest<Full<bytes::Bytes>>, String> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .map_err(|e| format!("connecting to the gateway: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(conn);
        Ok(send)
    }

    /// Posts `body` on an idle connection and reads the whole answer.
    async fn post(&self, body: bytes::Bytes) -> Result<(), String> {
        let idle = self.idle.lock().expect("pool").pop();
        let mut send = match idle {
            Some(s) => s,
            None => self.connect().await?,
        };
        // The connection's task may not have taken in the end of the last answer yet; a
        // connection closed meanwhile is replaced.
        if send.ready().await.is_err() {
            send = self.connect().await?;
        }
        let request = hyper::Request::post(&self.uri)
            .header(hyper::header::HOST, "127.0.0.1")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let answer = send.send_request(request).await.map_err(|e| e.to_string())?;
        let status = answer.status();
        answer.into_body().collect().await.map_err(|e| e.to_string())?;
        self.idle.lock().expect("pool").push(send);
        if status.is_success() { Ok(()) } else { Err(format!("status {status}")) }
    }
}
