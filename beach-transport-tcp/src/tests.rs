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
async fn a_spinning_reader_gets_frames_while_it_polls_and_after_it_slept() {
    let t = TcpTransport::default().with_spin(Duration::from_micros(200));
    let (mut a, mut b, _) = pair(t).await;
    // Waiting while the other side sends: found by polling, or by the wait after it.
    let first = [hello(1)];
    let (sent, got) = tokio::join!(a.sink.send(&first), b.stream.recv());
    sent.unwrap();
    assert_eq!(got.unwrap().unwrap(), hello(1));
    // Idle well past the spin: the reader sleeps on the socket and still wakes for a frame.
    let waiting = tokio::spawn(async move { b.stream.recv().await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.sink.send(&[hello(2)]).await.unwrap();
    assert_eq!(waiting.await.unwrap().unwrap().unwrap(), hello(2));
    drop(a);
}

/// A connection from `out` to `inn` whose sockets have small kernel buffers (64 KiB asked), so
/// that an envelope of a MiB cannot be written at once on any machine: the outgoing end and
/// the accepted end, after the encrypted handshake when the transports have keys.
async fn small_buffered_pair(out: &TcpTransport, inn: &TcpTransport) -> (Connection, Connection) {
    let listening = tokio::net::TcpSocket::new_v4().unwrap();
    listening.set_recv_buffer_size(64 << 10).unwrap();
    listening.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = listening.listen(1).unwrap();
    let at = listener.local_addr().unwrap();
    let dialling = tokio::net::TcpSocket::new_v4().unwrap();
    dialling.set_send_buffer_size(64 << 10).unwrap();
    let (a, b) = tokio::join!(dialling.connect(at), listener.accept());
    let (mut a, (mut b, _)) = (a.unwrap(), b.unwrap());
    let addr = at.to_string();
    let (ca, cb) = match (&out.noise, &inn.noise) {
        (Some(ko), Some(ki)) => {
            let (ca, cb) =
                tokio::join!(noise::connect(&mut a, ko, &addr), noise::accept(&mut b, ki));
            (Some(ca.unwrap()), Some(cb.ok().expect("the accepting side of the handshake")))
        }
        _ => (None, None),
    };
    let (out, mut inn) = (out.wrap(a, addr.clone(), ca), inn.wrap(b, addr, cb));
    inn.stream.authenticated();
    (out, inn)
}

/// Writes `first` with `send_now` while nobody reads, then `then` with `send`, and reads them
/// back in order: what `send_now` could not write at once goes out first, and nothing is
/// written directly while it waits.
async fn send_now_then_send(mut a: Connection, mut b: Connection, first: Envelope, then: Envelope) {
    let pending = match a.sink.send_now(&first) {
        SentNow::Sent { pending } => pending,
        other => panic!("expected it written, got {other:?}"),
    };
    let big = first.approx_size() > 1 << 20;
    assert_eq!(pending, big, "only an envelope larger than the sockets' buffers waits");
    if pending {
        assert!(matches!(a.sink.send_now(&hello(9)), SentNow::NotNow), "nothing jumps the queue");
    }
    let last = [then.clone()];
    let (sent, got) = tokio::join!(a.sink.send(&last), async {
        let one = b.stream.recv().await.unwrap().unwrap();
        (one, b.stream.recv().await.unwrap().unwrap())
    });
    sent.unwrap();
    assert!(got.0 == first, "the first envelope arrives first and whole");
    assert_eq!(got.1, then);
}

#[tokio::test]
async fn an_envelope_written_at_once_arrives_before_what_is_sent_after_it() {
    let big = Envelope::Membership(bytes::Bytes::from(vec![7u8; 2 << 20]));
    let t = TcpTransport::default();
    let (a, b) = small_buffered_pair(&t, &t).await;
    send_now_then_send(a, b, hello(1), hello(2)).await;
    let (a, b) = small_buffered_pair(&t, &t).await;
    send_now_then_send(a, b, big, hello(3)).await;
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
    a.sink.send(std::slice::from_ref(&big)).await.unwrap();
    let err = b.stream.recv().await.unwrap_err();
    assert!(
        err.to_string().contains(&format!("exceeds the maximum of {PREAUTH_MAX_FRAME_SIZE} bytes")),
        "{err}"
    );
    let (mut a, mut b, _) = pair(TcpTransport::default()).await;
    b.stream.authenticated();
    a.sink.send(std::slice::from_ref(&big)).await.unwrap();
    assert_eq!(b.stream.recv().await.unwrap().unwrap(), big, "lifted after the handshake");
}

mod encrypted {
    use super::*;
    use beach_core::auth::{Credentials, Secret};
    use tokio::io::AsyncReadExt;

    fn node(b: u8) -> TcpTransport {
        let creds = Credentials::node(vec![Secret::new([b; 32])]).unwrap();
        TcpTransport::default().with_credentials(Some(&creds))
    }

    fn client(b: u8) -> TcpTransport {
        let creds = Credentials::Client(Secret::new([b; 32]).client_key());
        TcpTransport::default().with_credentials(Some(&creds))
    }

    async fn listen(t: TcpTransport) -> (Box<dyn Listener>, Endpoint) {
        let l = t.bind(&Endpoint::new("127.0.0.1:0").unwrap()).await.unwrap();
        let at = l.local_endpoint();
        (l, at)
    }

    /// A relay between a client and `to` that records every byte and may flip one.
    async fn relay(
        to: Endpoint,
        flip_at: Option<usize>,
    ) -> (Endpoint, Arc<std::sync::Mutex<Vec<u8>>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = Endpoint::new(l.local_addr().unwrap().to_string()).unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            let (mut a, _) = l.accept().await.unwrap();
            let mut b = tokio::net::TcpStream::connect(to.as_str()).await.unwrap();
            let (mut ar, mut aw) = a.split();
            let (mut br, mut bw) = b.split();
            let up = async {
                let mut buf = vec![0u8; 65536];
                let mut total = 0;
                loop {
                    let n = ar.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    if let Some(at) = flip_at
                        && (total..total + n).contains(&at)
                    {
                        buf[at - total] ^= 1;
                    }
                    total += n;
                    seen2.lock().unwrap().extend_from_slice(&buf[..n]);
                    if bw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            };
            let down = async {
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = br.read(&mut buf).await.unwrap_or(0);
                    if n == 0 || aw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            };
            tokio::join!(up, down);
        });
        (at, seen)
    }

    fn canary(len: usize) -> Envelope {
        let mut data = b"zebra-canary-7731".repeat(len / 17 + 1);
        data.truncate(len);
        Envelope::Membership(bytes::Bytes::from(data))
    }

    #[tokio::test]
    async fn nodes_and_clients_talk_over_an_encrypted_channel_that_shows_nothing() {
        let (mut l, at) = listen(node(7)).await;
        let (via, seen) = relay(at, None).await;
        let mut out = client(7).connect(&via).await.unwrap();
        let mut inn = l.accept().await.unwrap();
        inn.stream.authenticated();
        // Small and multi-record frames, both ways.
        let batch = vec![canary(100), canary(200_000), canary(3)];
        out.sink.send(&batch).await.unwrap();
        for want in &batch {
            assert_eq!(&inn.stream.recv().await.unwrap().unwrap(), want);
        }
        inn.sink.send(&[canary(50)]).await.unwrap();
        assert_eq!(out.stream.recv().await.unwrap().unwrap(), canary(50));
        let seen = seen.lock().unwrap();
        assert!(seen.len() > 200_000);
        assert!(!seen.windows(17).any(|w| w == b"zebra-canary-7731"), "plaintext on the wire");
    }

    #[tokio::test]
    async fn sealed_envelopes_written_at_once_keep_their_order_with_batches() {
        // Small: written whole at once, then a batch after it.
        let (mut out, mut inn) = small_buffered_pair(&client(7), &node(7)).await;
        assert!(matches!(out.sink.send_now(&canary(10)), SentNow::Sent { pending: false }));
        out.sink.send(&[canary(20), canary(30)]).await.unwrap();
        for want in [canary(10), canary(20), canary(30)] {
            assert_eq!(inn.stream.recv().await.unwrap().unwrap(), want);
        }
        // One too large to go at once: its sealed records wait, and go first.
        send_now_then_send(out, inn, canary(2 << 20), canary(40)).await;
    }

    #[tokio::test]
    async fn a_changed_byte_breaks_the_connection() {
        let (mut l, at) = listen(node(7)).await;
        // Past the preamble and the first handshake message: inside the first record.
        let (via, _) = relay(at, Some(120)).await;
        let mut out = client(7).connect(&via).await.unwrap();
        let mut inn = l.accept().await.unwrap();
        out.sink.send(&[canary(500)]).await.unwrap();
        let err = inn.stream.recv().await.unwrap_err();
        assert!(err.to_string().contains("failed authentication"), "{err}");
    }

    #[tokio::test]
    async fn wrong_keys_and_plain_peers_are_refused_and_told_why() {
        let (mut l, at) = listen(node(7)).await;
        let err = client(8).connect(&at).await.unwrap_err();
        assert!(matches!(err, TransportError::Handshake { .. }), "{err}");
        assert!(err.to_string().contains("another secret_file"), "{err}");
        let err = node(8).connect(&at).await.unwrap_err();
        assert!(err.to_string().contains("another secret_file"), "{err}");
        // A peer without the secret, speaking plain beach, gets a refusal it can read.
        let mut plain = TcpTransport::default().connect(&at).await.unwrap();
        plain.sink.send(&[hello(1)]).await.unwrap();
        match plain.stream.recv().await {
            Ok(Some(Envelope::Handshake(Handshake::Refused { reason }))) => {
                assert!(reason.contains("requires its secret"), "{reason}");
            }
            other => panic!("expected a readable refusal, got {other:?}"),
        }
        // The listener still serves a proper client.
        let mut ok = client(7).connect(&at).await.unwrap();
        let mut inn = l.accept().await.unwrap();
        ok.sink.send(&[hello(2)]).await.unwrap();
        assert_eq!(inn.stream.recv().await.unwrap().unwrap(), hello(2));
    }

    #[tokio::test]
    async fn silent_connections_are_closed_and_the_oldest_shed_first() {
        let limits = AcceptLimits {
            handshake_timeout: Duration::from_millis(300),
            pending: 4,
            pending_per_address: 4,
        };
        let (mut l, at) = listen(node(7).with_accept_limits(limits)).await;
        let addr: std::net::SocketAddr = at.as_str().parse().unwrap();
        let mut silent = Vec::new();
        for _ in 0..10 {
            silent.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        // A real client still gets in.
        let mut ok = client(7).connect(&at).await.unwrap();
        let mut inn = l.accept().await.unwrap();
        ok.sink.send(&[hello(3)]).await.unwrap();
        assert_eq!(inn.stream.recv().await.unwrap().unwrap(), hello(3));
        // Every silent one is closed, shed or timed out.
        for mut s in silent {
            let mut b = [0u8; 1];
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await;
            assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
        }
    }
}
