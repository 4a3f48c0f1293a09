//! Criterion benchmarks of whole request round trips, client and node in one single-threaded
//! runtime so that the scheduler is out of the way and what remains is Beach's own CPU cost:
//!
//! - `roundtrip/raw tcp echo`: a plain tokio echo of a length-prefixed 32-byte frame over
//!   loopback, the floor;
//! - `roundtrip/beach over tcp`: a `Beach` client asking an `Echo` actor of a node over
//!   loopback TCP (encode, frame, route, decode, serve, reply, match);
//! - `roundtrip/beach in memory`: the same over the in-memory transport (no sockets, no
//!   encoding: the engine's own cost per request).
//!
//! Run: `cargo bench --bench roundtrip` (add `-- --quick` for a fast pass). Figures are in
//! BENCHMARKS.md; the ratio of the first two is the one DESIGN §13 bounds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use beach::actor::Handle;
use beach::client::ClientBuilder;
use beach::config::ClusterConfig;
use beach::node::NodeBuilder;
use beach::runtime::{Runtime, TokioRuntime};
use beach::transport::Transport;
use beach::value::{Payload, Value};
use beach_transport_mem::{LinkConfig, MemNetwork};
use beach_transport_tcp::TcpTransport;
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PAYLOAD: usize = 32;

/// A node with one `Echo` actor, and a client's handle to it, both on `transport(name)`.
async fn echo_handle(listen: &str, transport: impl Fn(&str) -> Arc<dyn Transport>) -> Handle {
    let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime);
    let config = ClusterConfig::default();
    let node = NodeBuilder::new()
        .listen(listen)
        .registry(beach_node::actors::builtin_registry())
        .transport(transport(listen))
        .runtime(rt.clone())
        .start()
        .await
        .unwrap();
    let seed = node.id().endpoint().clone();
    let client = ClientBuilder::new()
        .config(&config)
        .seed(seed.to_string())
        .transport(transport("client"))
        .runtime(rt)
        .connect()
        .await
        .unwrap();
    client.add_actor(client.actor("Echo", ["bench/echo"])).await.unwrap();
    // The node stays up for the whole process: it lives in the runtime's tasks.
    std::mem::forget(node);
    let handle = client.handle("bench/echo").timeout(Duration::from_secs(10));
    std::mem::forget(client);
    handle
}

fn roundtrips(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let data = Payload::encode(&Value::Bytes(vec![7; PAYLOAD])).unwrap();

    // The floor: a raw echo server task and a client on the same thread.
    let mut raw = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            let mut frame = [0u8; 4 + PAYLOAD];
            while s.read_exact(&mut frame).await.is_ok() {
                if s.write_all(&frame).await.is_err() {
                    return;
                }
            }
        });
        let s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    });
    let mut frame = (PAYLOAD as u32).to_be_bytes().to_vec();
    frame.extend([7u8; PAYLOAD]);
    c.bench_function("roundtrip/raw tcp echo", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut back = [0u8; 4 + PAYLOAD];
                let start = Instant::now();
                for _ in 0..iters {
                    raw.write_all(&frame).await.unwrap();
                    raw.read_exact(&mut back).await.unwrap();
                }
                start.elapsed()
            })
        })
    });

    let tcp = rt.block_on(echo_handle("127.0.0.1:0", |_| Arc::new(TcpTransport::default())));
    c.bench_function("roundtrip/beach over tcp", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    tcp.request_payload("echo", data.clone()).await.unwrap();
                }
                start.elapsed()
            })
        })
    });

    let net = rt.block_on(async {
        let net = MemNetwork::new(Arc::new(TokioRuntime), 1);
        net.set_default_link(LinkConfig { latency: Duration::ZERO, ..LinkConfig::default() });
        net
    });
    let mem = rt.block_on(echo_handle("node:1", |name| net.transport(name)));
    c.bench_function("roundtrip/beach in memory", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    mem.request_payload("echo", data.clone()).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
}

criterion_group!(benches, roundtrips);
criterion_main!(benches);
