//! Over TCP, a client that sends and never reads cannot grow a node's memory: the node's
//! queue for that connection is bounded in bytes, and past it the connection is closed.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use beach::client::ClientBuilder;
use beach::config::ClusterConfig;
use beach::node::NodeBuilder;
use beach::runtime::{Runtime, TokioRuntime};
use beach::wire::{Envelope, FrameCodec, Handshake, Peer};
use beach_transport_tcp::TcpTransport;
use bytes::BytesMut;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_not_buffered_for() {
    let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime);
    let config = ClusterConfig::default();
    let transport = Arc::new(TcpTransport::default());
    let node = NodeBuilder::new()
        .config(&config)
        .listen("127.0.0.1:0")
        .registry(common::registry())
        .transport(transport.clone())
        .runtime(rt.clone())
        .start()
        .await
        .unwrap();
    let at = node.id().endpoint().clone();
    // A directory worth reading: every view answer carries 2 000 entries.
    let client = ClientBuilder::new()
        .config(&config)
        .seed(at.to_string())
        .transport(transport)
        .runtime(rt)
        .connect()
        .await
        .unwrap();
    client.add_actor(client.actor("Pong", ["p"]).count(2_000)).await.unwrap();

    let outcome = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(at.as_str()).unwrap();
        let codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        let hello = Handshake::hello("beach", Peer::Client { name: "hog".into() });
        codec.encode(&Envelope::Handshake(hello), &mut buf).unwrap();
        s.write_all(&buf).unwrap();
        // Ask for the whole directory again and again, reading nothing, for at most 20 s.
        let mut ask = BytesMut::new();
        for _ in 0..64 {
            codec.encode(&Envelope::ViewRequest(Default::default()), &mut ask).unwrap();
        }
        s.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
        let start = Instant::now();
        let mut sent = 0usize;
        while start.elapsed() < Duration::from_secs(20) {
            match s.write_all(&ask) {
                Ok(()) => sent += 64,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => break, // closed by the node: what we wait for
            }
        }
        // Drain what the node had written before closing: then the end of the stream.
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut sink = vec![0u8; 1 << 20];
        let draining = Instant::now();
        let closed = loop {
            if draining.elapsed() > Duration::from_secs(20) {
                break false;
            }
            match s.read(&mut sink) {
                Ok(0) => break true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        (closed, sent)
    })
    .await
    .unwrap();
    assert!(
        outcome.0,
        "the node kept the connection of a client that never reads (sent {})",
        outcome.1
    );
    // And it serves everyone else.
    assert_eq!(client.directory("p").await.unwrap().values().map(Vec::len).sum::<usize>(), 2_000);
    client.close();
    node.kill();
}
