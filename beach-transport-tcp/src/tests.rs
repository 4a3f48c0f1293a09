use std::sync::Arc;

use beach_core::wire::{Envelope, Handshake, Peer};
use tokio::io::AsyncWriteExt;

use super::*;

fn hello(n: u64) -> Envelope {
    Envelope::Handshake(Handshake::hello(&format!("c{n}"), Peer::Client { name: "t".into() }))
}

async fn pair(t: TcpTransport) -> (Connection, Connection, Endpoint) {
    let mut l = t.bind(&Endpoint::new("127.0.0.1:0").unwrap()).await.unwrap();
    let at = l.local_endpoint();
    let accepting = tokio::spawn(async move { l.accept().await.unwrap() });
    let out = t.connect(&at).await.unwrap();
    (out, accepting.await.unwrap(), at)
}

#[tokio::test]
async fn batches_arrive_in_order_both_ways() {
    let (mut a, mut b, _) = pair(TcpTransport::default()).await;
    let batch: Vec<Envelope> = (0..100).map(hello).collect();
    a.sink.send(&batch).await.unwrap();
    for (i, want) in batch.iter().enumerate() {
        assert_eq!(&b.stream.recv().await.unwrap().unwrap(), want, "frame {i}");
    }
    b.sink.send(&[hello(7)]).await.unwrap();
    assert_eq!(a.stream.recv().await.unwrap().unwrap(), hello(7));
    drop(a);
    assert_eq!(b.stream.recv().await.unwrap(), None, "a clean close is the end of the stream");
}

#[tokio::test]
async fn garbage_and_oversized_frames_are_errors_for_that_connection() {
    let t = TcpTransport::new(1024);
    let mut l = t.bind(&Endpoint::new("127.0.0.1:0").unwrap()).await.unwrap();
    let at = l.local_endpoint();
    let addr: std::net::SocketAddr = at.as_str().parse().unwrap();
    for bytes in [
        vec![0xff, 0xff, 0xff, 0xff],
        vec![0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff],
        vec![0, 0, 0, 9, 1],
    ] {
        let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut conn = l.accept().await.unwrap();
        raw.write_all(&bytes).await.unwrap();
        raw.shutdown().await.unwrap();
        let err = conn.stream.recv().await.unwrap_err();
        assert!(matches!(err, TransportError::Frame { .. } | TransportError::Io { .. }), "{err}");
    }
    let (mut a, mut b, _) = pair(t).await;
    a.sink.send(&[hello(1)]).await.unwrap();
    assert_eq!(
        b.stream.recv().await.unwrap().unwrap(),
        hello(1),
        "other connections are unaffected"
    );
}

#[tokio::test]
async fn an_envelope_too_large_for_a_frame_is_refused_alone() {
    let (mut a, mut b, _) = pair(TcpTransport::new(1024)).await;
    let big =
        Envelope::Handshake(Handshake::hello(&"x".repeat(2000), Peer::Client { name: "t".into() }));
    let refused = a.sink.send(&[hello(1), big, hello(2)]).await.unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].index, 1);
    assert!(
        matches!(refused[0].error, beach_core::wire::WireError::FrameTooLarge { max: 1024, .. }),
        "{:?}",
        refused[0].error
    );
    // The others went out, in order, and the connection still carries frames.
    assert_eq!(b.stream.recv().await.unwrap().unwrap(), hello(1));
    assert_eq!(b.stream.recv().await.unwrap().unwrap(), hello(2));
    assert!(a.sink.send(&[hello(3)]).await.unwrap().is_empty());
    assert_eq!(b.stream.recv().await.unwrap().unwrap(), hello(3));
}

#[tokio::test]
async fn connect_errors_name_the_address() {
    let t = TcpTransport::default().with_connect_timeout(Duration::from_secs(1));
    // Bind then drop to find a port nobody listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let err = t.connect(&Endpoint::new(free.to_string()).unwrap()).await.unwrap_err().to_string();
    assert!(err.starts_with(&format!("cannot connect to {free}")), "{err}");
    let err = t
        .connect(&Endpoint::new("no-such-host.invalid:4999").unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no-such-host.invalid"), "{err}");
    let busy = t.bind(&Endpoint::new("127.0.0.1:0").unwrap()).await.unwrap();
    let err = t.bind(&busy.local_endpoint()).await.unwrap_err().to_string();
    assert!(err.starts_with("cannot listen on"), "{err}");
}

#[test]
fn transport_is_usable_as_a_trait_object() {
    let _: Arc<dyn Transport> = Arc::new(TcpTransport::default());
}

#[tokio::test]
async fn frames_are_small_until_the_handshake_is_done() {
    let big = Envelope::Membership(bytes::Bytes::from(vec![7u8; 64 * 1024]));
    let (mut a, mut b, _) = pair(TcpTransport::default()).await;
    a.sink.send(&[big.clone()]).await.unwrap();
    let err = b.stream.recv().await.unwrap_err();
    assert!(
        err.to_string().contains(&format!("exceeds the maximum of {PREAUTH_MAX_FRAME_SIZE} bytes")),
        "{err}"
    );
    let (mut a, mut b, _) = pair(TcpTransport::default()).await;
    b.stream.authenticated();
    a.sink.send(&[big.clone()]).await.unwrap();
    assert_eq!(b.stream.recv().await.unwrap().unwrap(), big, "lifted after the handshake");
}
