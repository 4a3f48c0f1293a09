//! Over TCP, a request or a reply larger than the cluster's `max_frame_size` fails alone, at
//! once and with a clear error: the connection it would have travelled on, and every other
//! call on it, are untouched.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use beach::actor::{Actor, Context, InitError, Request, Response};
use beach::client::ClientBuilder;
use beach::config::ClusterConfig;
use beach::node::NodeBuilder;
use beach::runtime::{Runtime, TokioRuntime};
use beach::value::Value;
use beach_transport_tcp::TcpTransport;

/// The frame limit of this test's cluster.
const LIMIT: usize = 64 * 1024;

/// Answers `big` with twice the frame limit of bytes, `slow` with its data after half a
/// second, anything else with its data at once.
struct Blob;

#[async_trait]
impl Actor for Blob {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Ok(Blob)
    }

    async fn handle(&self, _ctx: &Context, request: Request) -> Response {
        match request.kind() {
            "big" => Response::ok(&Value::Bytes(vec![1; 2 * LIMIT])),
            "slow" => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                Response::payload(request.payload().clone())
            }
            _ => Response::payload(request.payload().clone()),
        }
    }
}

/// Fails within a few seconds (the deadline is 20) with a `too large` error naming `what`.
async fn fails_at_once<T: std::fmt::Debug>(
    what: &str,
    call: impl std::future::Future<Output = Result<T, impl std::fmt::Display>>,
) {
    let started = Instant::now();
    let err = call.await.map(|v| format!("{v:?}")).map_err(|e| e.to_string());
    let err = err.expect_err(what);
    assert!(err.starts_with(&format!("{what} too large: frame of ")), "{what}: {err}");
    assert!(err.contains("maximum of 65536 bytes"), "{what}: {err}");
    assert!(started.elapsed() < Duration::from_secs(10), "{what}: failed only at its deadline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_over_the_limit_fail_alone_and_at_once() {
    let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime);
    let config = ClusterConfig { max_frame_size: LIMIT, ..ClusterConfig::default() };
    let transport = Arc::new(TcpTransport::new(LIMIT));
    let node = NodeBuilder::new()
        .config(&config)
        .listen("127.0.0.1:0")
        .registry(common::registry().with::<Blob>("Blob"))
        .transport(transport.clone())
        .runtime(rt.clone())
        .start()
        .await
        .unwrap();
    let client = ClientBuilder::new()
        .config(&config)
        .seed(node.id().endpoint().to_string())
        .transport(transport)
        .runtime(rt)
        .connect()
        .await
        .unwrap();
    client.add_actor(client.actor("Blob", ["blob"])).await.unwrap();
    let blob = client.handle("blob").timeout(Duration::from_secs(20));
    let small = Value::Bytes(vec![2; 100]);

    // A call in flight on the same connection the whole time must not notice what follows.
    let in_flight = {
        let blob = blob.clone();
        let small = small.clone();
        tokio::spawn(async move { blob.request("slow", &small).await })
    };

    // A request too large to send: not sent, not retried elsewhere, the caller told at once.
    let too_big = Value::Bytes(vec![3; 2 * LIMIT]);
    fails_at_once("request", blob.request("echo", &too_big)).await;
    // A reply too large to send: the node answers the error in its place.
    fails_at_once("reply", blob.request("big", &small)).await;
    // An admin call too large to send.
    let spec = client.actor("Blob", ["blob"]).param("blob", &too_big);
    fails_at_once("admin call", client.add_actor(spec)).await;

    assert_eq!(
        in_flight.await.unwrap().unwrap().decode::<Value>().unwrap(),
        small,
        "the call in flight was lost"
    );
    assert_eq!(blob.request("echo", &small).await.unwrap().decode::<Value>().unwrap(), small);
    // Frames near the limit go both ways once the handshake is done (before it, 4 KiB).
    let near = Value::Bytes(vec![4; LIMIT - 1024]);
    assert_eq!(blob.request("echo", &near).await.unwrap().decode::<Value>().unwrap(), near);
    let listed: usize = client.directory("blob").await.unwrap().values().map(Vec::len).sum();
    assert_eq!(listed, 1, "the spawn too large to send happened anyway");
    client.close();
    node.kill();
}
