//! Accepting connections without letting the accepting be turned against the node.
//!
//! A background task accepts sockets and hands established connections to
//! [`Listener::accept`] through a channel, so that nothing a peer does (or fails to do) holds
//! up the next accept:
//!
//! - an `accept` error (`Too many open files`, most often) backs off, 10 ms doubling to 1 s,
//!   instead of spinning, and is logged at most once a second with a count;
//! - connections still in their encrypted handshake are bounded, in all and per address:
//!   past a bound the oldest is closed first, so a flood of silent sockets cannot crowd out
//!   a real peer, and each one has [`AcceptLimits::handshake_timeout`] to finish;
//! - a peer without the secret that speaks plain beach to an encrypted node gets a refusal
//!   it can read.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use beach_core::model::Endpoint;
use beach_core::throttle::Throttle;
use beach_core::transport::{Connection, Listener, QueuedListener, TransportError};
use beach_core::wire::{Envelope, FrameCodec, Handshake};
use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::TcpTransport;

/// Bounds on connections that have not finished their encrypted handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptLimits {
    /// How long a connection may take over its encrypted handshake.
    pub handshake_timeout: Duration,
    /// The most connections in their handshake at once; past it the oldest is closed.
    pub pending: usize,
    /// The most of those from one address.
    pub pending_per_address: usize,
}

impl Default for AcceptLimits {
    fn default() -> Self {
        Self { handshake_timeout: Duration::from_secs(3), pending: 256, pending_per_address: 64 }
    }
}

/// The longest wait after failing accepts.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

static ACCEPT_FAILED: Throttle = Throttle::new(Duration::from_secs(1));
static REFUSED: Throttle = Throttle::new(Duration::from_secs(1));

pub(crate) async fn bind(
    transport: TcpTransport,
    at: &Endpoint,
) -> Result<Box<dyn Listener>, TransportError> {
    let bind_error =
        |e: std::io::Error| TransportError::Bind { addr: at.to_string(), reason: e.to_string() };
    let listener = TcpListener::bind(at.as_str()).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let endpoint = Endpoint::new(local.to_string())
        .map_err(|e| TransportError::Bind { addr: at.to_string(), reason: e.to_string() })?;
    // A small queue: when the engine is slow to take connections, they wait in the kernel.
    let (tx, queue) = QueuedListener::new(endpoint, 64);
    let task = tokio::spawn(accept_loop(listener, transport, tx));
    Ok(Box::new(TcpAcceptor { queue, task }))
}

/// The queue the accept loop fills, and the loop, stopped with the listener.
#[derive(Debug)]
struct TcpAcceptor {
    queue: QueuedListener,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TcpAcceptor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[async_trait]
impl Listener for TcpAcceptor {
    async fn accept(&mut self) -> Result<Connection, TransportError> {
        self.queue.accept().await
    }

    fn local_endpoint(&self) -> Endpoint {
        self.queue.local_endpoint()
    }
}

/// The handshakes under way: (number, address, task), oldest first.
type Pending = Arc<Mutex<VecDeque<(u64, IpAddr, tokio::task::AbortHandle)>>>;

async fn accept_loop(listener: TcpListener, transport: TcpTransport, tx: mpsc::Sender<Connection>) {
    let pending: Pending = Arc::default();
    let mut backoff = Duration::ZERO;
    let mut next = 0u64;
    loop {
        let (socket, addr) = match listener.accept().await {
            Ok(accepted) => {
                backoff = Duration::ZERO;
                accepted
            }
            Err(e) => {
                backoff = (backoff * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_BACKOFF);
                if let Some(skipped) = ACCEPT_FAILED.check(Instant::now()) {
                    tracing::warn!(error = %e, skipped, retry_in = ?backoff, "accept failed");
                }
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let Some(keys) = transport.noise.clone() else {
            // In clear, the beach handshake is the first step, bounded by the engine.
            if tx.send(transport.wrap(socket, addr.to_string(), None)).await.is_err() {
                return;
            }
            continue;
        };
        next += 1;
        let id = next;
        let (transport2, tx2, pending2) = (transport.clone(), tx.clone(), pending.clone());
        let task = tokio::spawn(async move {
            let mut socket = socket;
            let limit = transport2.limits.handshake_timeout;
            let shake = crate::noise::accept(&mut socket, &keys);
            let outcome = tokio::time::timeout(limit, shake).await;
            pending2.lock().expect("pending lock").retain(|(n, _, _)| *n != id);
            match outcome {
                Ok(Ok(ciphers)) => {
                    let _ =
                        tx2.send(transport2.wrap(socket, addr.to_string(), Some(ciphers))).await;
                }
                Ok(Err(refusal)) => {
                    if refusal.plain_answer {
                        refuse_in_clear(&mut socket).await;
                    }
                    if let Some(skipped) = REFUSED.check(Instant::now()) {
                        tracing::warn!(peer = %addr, reason = %refusal.reason, skipped, "refused a connection");
                    }
                }
                Err(_) => {
                    if let Some(skipped) = REFUSED.check(Instant::now()) {
                        tracing::warn!(peer = %addr, skipped, "refused a connection: no encrypted handshake in time");
                    }
                }
            }
        });
        let mut p = pending.lock().expect("pending lock");
        p.push_back((id, addr.ip(), task.abort_handle()));
        shed(&mut p, addr.ip(), transport.limits);
    }
}

/// Closes the oldest handshakes past the bounds: first of `ip`, then of anyone.
fn shed(
    p: &mut VecDeque<(u64, IpAddr, tokio::task::AbortHandle)>,
    ip: IpAddr,
    limits: AcceptLimits,
) {
    let from_ip = p.iter().filter(|(_, a, _)| *a == ip).count();
    if from_ip > limits.pending_per_address
        && let Some(i) = p.iter().position(|(_, a, _)| *a == ip)
        && let Some((_, _, task)) = p.remove(i)
    {
        task.abort();
    }
    while p.len() > limits.pending {
        if let Some((_, _, task)) = p.pop_front() {
            task.abort();
        }
    }
}

/// Answers a peer that spoke plain beach with a refusal it can decode, then closes.
async fn refuse_in_clear(socket: &mut TcpStream) {
    let refusal = Envelope::Handshake(Handshake::Refused {
        reason: "this cluster requires its secret (set secret_file)".to_owned(),
    });
    let mut buf = BytesMut::new();
    if FrameCodec::default().encode(&refusal, &mut buf).is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(1), socket.write_all(&buf)).await;
    }
}
