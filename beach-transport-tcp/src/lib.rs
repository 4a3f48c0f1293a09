//! The TCP transport of beach, for real deployments.
//!
//! It implements the core [`Transport`] on tokio sockets: envelopes travel as frames of
//! `beach_core::wire` (a `u32` big-endian length, then CBOR), many requests in flight on one
//! connection, `TCP_NODELAY` on, and every batch the engine hands over written with one
//! `write_all` (a burst of small frames costs few system calls). An envelope sent on an idle
//! connection is written at once from the sender's task with a non-blocking write
//! ([`FrameSink::send_now`]); what the socket does not take waits for the next batch's write. Host names are resolved at
//! each connect, so a seed name that lists several nodes, or that moves, keeps working. A
//! malformed, oversized or truncated frame received is an error for that one connection, which
//! the engine then closes with the reason logged; nothing here panics on input. An envelope
//! too large to send is left out of its batch and handed back ([`Refused`]): it fails alone.
//!
//! With a cluster secret ([`TcpTransport::with_credentials`]) every connection is a Noise
//! session keyed by the secret and every byte after its handshake is encrypted and
//! authenticated (see the `noise` module). Accepting runs in a background task that backs
//! off on errors and bounds connections still in their handshake ([`AcceptLimits`]).
//!
//! It holds no routing, directory or actor logic: those live in `beach-core`.

mod accept;
mod noise;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use beach_core::auth::Credentials;
use beach_core::config::ClusterConfig;
use beach_core::model::Endpoint;
use beach_core::transport::{
    Connection, FrameSink, FrameStream, Listener, PREAUTH_MAX_FRAME_SIZE, Refused, SentNow,
    Transport, TransportError,
};
use beach_core::wire::{DEFAULT_MAX_FRAME_SIZE, Envelope, FrameCodec};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub use accept::AcceptLimits;
use noise::{Cipher, NoiseKeys};

/// How long one connection attempt may take, per resolved address.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Connects and listens over TCP.
#[derive(Debug, Clone)]
pub struct TcpTransport {
    codec: FrameCodec,
    connect_timeout: Duration,
    noise: Option<Arc<NoiseKeys>>,
    limits: AcceptLimits,
    spin: Duration,
}

impl Default for TcpTransport {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl TcpTransport {
    /// A transport refusing frames larger than `max_frame_size` bytes, in clear (a cluster
    /// without a secret).
    pub fn new(max_frame_size: usize) -> Self {
        Self {
            codec: FrameCodec::new(max_frame_size),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            noise: None,
            limits: AcceptLimits::default(),
            spin: Duration::ZERO,
        }
    }

    /// With another connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Every connection a Noise session keyed by `credentials` (see the `noise` module): what
    /// a cluster with a secret uses. A node accepts each of its secrets' keys; a client
    /// connects with its client key.
    pub fn with_credentials(mut self, credentials: Option<&Credentials>) -> Self {
        self.noise = credentials.map(|c| Arc::new(NoiseKeys::new(c)));
        self
    }

    /// A transport proving `credentials`, with the frame limit and read spin of `config`:
    /// what builders call to make their default transport
    /// ([`beach_core::transport::MakeTransport`]).
    pub fn make(credentials: Option<&Credentials>, config: &ClusterConfig) -> Arc<dyn Transport> {
        Arc::new(
            Self::new(config.max_frame_size)
                .with_credentials(credentials)
                .with_spin(config.tcp_spin),
        )
    }

    /// A reader that finds nothing to read polls its socket for up to `spin` (letting other
    /// tasks run between polls) before it sleeps until data arrives. A request/response
    /// exchange then avoids a thread wake-up on each side: on two cores, p50 fell from 80 to
    /// 15 µs with 50 µs of spin (BENCHMARKS.md), at the price of up to `spin` of CPU per
    /// message on a quiet connection. Zero (the default): sleep at once.
    pub fn with_spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// With other bounds on incoming connections.
    pub fn with_accept_limits(mut self, limits: AcceptLimits) -> Self {
        self.limits = limits;
        self
    }

    fn wrap(&self, stream: TcpStream, peer: String, ciphers: Option<noise::Ciphers>) -> Connection {
        // Requests are small and latency matters more than packing: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        let (seal, open) = match ciphers {
            Some((seal, open)) => (Some(seal), Some(open)),
            None => (None, None),
        };
        Connection {
            peer: peer.clone(),
            sink: Box::new(TcpSink {
                w,
                codec: self.codec,
                buf: BytesMut::new(),
                seal,
                sealed: BytesMut::new(),
                pending: BytesMut::new(),
                peer: peer.clone(),
                written: 0,
            }),
            stream: Box::new(TcpFrames {
                r,
                codec: FrameCodec::new(PREAUTH_MAX_FRAME_SIZE.min(self.codec.max_frame_size())),
                after_handshake: self.codec,
                buf: BytesMut::with_capacity(8 * 1024),
                open,
                raw: BytesMut::new(),
                peer,
                spin: self.spin,
                read: 0,
            }),
        }
    }
}

#[async_trait]
impl Transport for TcpTransport {
    async fn connect(&self, to: &Endpoint) -> Result<Connection, TransportError> {
        let fail = |reason: String| TransportError::Connect { addr: to.to_string(), reason };
        let addrs: Vec<_> =
            tokio::net::lookup_host(to.as_str()).await.map_err(|e| fail(e.to_string()))?.collect();
        if addrs.is_empty() {
            return Err(fail("the name resolves to no address".to_owned()));
        }
        let several = addrs.len() > 1;
        let mut last = String::new();
        for addr in addrs {
            let why =
                match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                    Ok(Ok(mut stream)) => {
                        let ciphers = match &self.noise {
                            None => None,
                            Some(keys) => {
                                let shake = noise::connect(&mut stream, keys, to.as_str());
                                match tokio::time::timeout(self.connect_timeout, shake).await {
                                    Ok(Ok(c)) => Some(c),
                                    Ok(Err(e)) => return Err(e),
                                    Err(_) => {
                                        return Err(fail(
                                            "the encrypted handshake timed out".to_owned(),
                                        ));
                                    }
                                }
                            }
                        };
                        return Ok(self.wrap(stream, to.to_string(), ciphers));
                    }
                    Ok(Err(e)) => e.to_string().to_lowercase(),
                    Err(_) => format!("timed out after {:?}", self.connect_timeout),
                };
            // Name the address only when the name resolved to several.
            last = if several { format!("{addr}: {why}") } else { why };
        }
        Err(fail(last))
    }

    async fn bind(&self, at: &Endpoint) -> Result<Box<dyn Listener>, TransportError> {
        accept::bind(self.clone(), at).await
    }
}

struct TcpSink {
    w: OwnedWriteHalf,
    codec: FrameCodec,
    buf: BytesMut,
    /// With a secret: the sending cipher, and the buffer of records it fills.
    seal: Option<Cipher>,
    sealed: BytesMut,
    /// What [`FrameSink::send_now`] could not write at once: written first by the next send.
    pending: BytesMut,
    peer: String,
    /// Bytes written since [`FrameSink::take_bytes`] last asked.
    written: u64,
}

impl TcpSink {
    /// Encodes `batch` into `buf`; the envelopes left out.
    fn frame(&mut self, batch: &[Envelope]) -> Vec<Refused> {
        self.buf.clear();
        let mut refused = Vec::new();
        for (index, envelope) in batch.iter().enumerate() {
            // A frame that cannot be encoded leaves the buffer as it was: skip it alone.
            if let Err(error) = self.codec.encode(envelope, &mut self.buf) {
                refused.push(Refused { index, error });
            }
        }
        refused
    }

    /// With a secret, seals `buf` into `sealed`; the bytes to write are then `sealed`, else
    /// `buf`. Each call takes the cipher's next nonces: what it seals must be written.
    fn seal_frames(&mut self) -> Result<(), TransportError> {
        if let Some(cipher) = &mut self.seal {
            self.sealed.clear();
            cipher
                .seal(&self.buf, &mut self.sealed)
                .map_err(|reason| TransportError::Io { addr: self.peer.clone(), reason })?;
        }
        Ok(())
    }

    /// Keeps a modest buffer across batches; gives back what a burst grew.
    fn trim(&mut self) {
        if self.buf.capacity() > 1 << 20 {
            self.buf = BytesMut::new();
            self.sealed = BytesMut::new();
        }
    }
}

#[async_trait]
impl FrameSink for TcpSink {
    async fn send(&mut self, batch: &[Envelope]) -> Result<Vec<Refused>, TransportError> {
        if !self.pending.is_empty() {
            self.w.write_all(&self.pending).await.map_err(|e| io_error(&self.peer, &e))?;
            self.written += self.pending.len() as u64;
            self.pending = BytesMut::new();
        }
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let refused = self.frame(batch);
        self.seal_frames()?;
        let bytes = if self.seal.is_some() { &self.sealed } else { &self.buf };
        self.w.write_all(bytes).await.map_err(|e| io_error(&self.peer, &e))?;
        self.written += bytes.len() as u64;
        self.trim();
        Ok(refused)
    }

    fn send_now(&mut self, envelope: &Envelope) -> SentNow {
        if !self.pending.is_empty() {
            return SentNow::NotNow;
        }
        if !self.frame(std::slice::from_ref(envelope)).is_empty() {
            return SentNow::NotNow;
        }
        if let Err(e) = self.seal_frames() {
            return SentNow::Failed(e);
        }
        let bytes = if self.seal.is_some() { &self.sealed } else { &self.buf };
        let mut at = 0;
        while at < bytes.len() {
            match self.w.try_write(&bytes[at..]) {
                Ok(0) => {
                    return SentNow::Failed(TransportError::Io {
                        addr: self.peer.clone(),
                        reason: "the connection takes no more bytes".to_owned(),
                    });
                }
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return SentNow::Failed(io_error(&self.peer, &e)),
            }
        }
        let rest = bytes.len() - at;
        self.pending.extend_from_slice(&bytes[at..]);
        self.written += at as u64;
        self.trim();
        SentNow::Sent { pending: rest > 0 }
    }

    fn take_bytes(&mut self) -> u64 {
        std::mem::take(&mut self.written)
    }
}

struct TcpFrames {
    r: OwnedReadHalf,
    /// The limit in force: [`PREAUTH_MAX_FRAME_SIZE`] until the handshake is done.
    codec: FrameCodec,
    after_handshake: FrameCodec,
    /// Plain frame bytes, decrypted when the connection is encrypted.
    buf: BytesMut,
    /// With a secret: the receiving cipher, and the records not yet decrypted.
    open: Option<Cipher>,
    raw: BytesMut,
    peer: String,
    /// How long to poll for more before sleeping (see [`TcpTransport::with_spin`]).
    spin: Duration,
    /// Bytes read since [`FrameStream::take_bytes`] last asked.
    read: u64,
}

impl TcpFrames {
    /// Reads what the socket has into `into`: polls it for up to `spin` first, then waits.
    async fn read_into(
        r: &mut OwnedReadHalf,
        into: &mut BytesMut,
        spin: Duration,
    ) -> std::io::Result<usize> {
        if !spin.is_zero() {
            let started = std::time::Instant::now();
            loop {
                match r.try_read_buf(into) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    done => return done,
                }
                if started.elapsed() >= spin {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        r.read_buf(into).await
    }
}

#[async_trait]
impl FrameStream for TcpFrames {
    async fn recv(&mut self) -> Result<Option<Envelope>, TransportError> {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(envelope)) => return Ok(Some(envelope)),
                Ok(None) => {}
                Err(error) => return Err(TransportError::Frame { addr: self.peer.clone(), error }),
            }
            let into = if self.open.is_some() { &mut self.raw } else { &mut self.buf };
            if into.capacity() - into.len() < 4096 {
                into.reserve(8 * 1024);
            }
            let n = Self::read_into(&mut self.r, into, self.spin)
                .await
                .map_err(|e| io_error(&self.peer, &e))?;
            self.read += n as u64;
            if n == 0 {
                return if self.buf.is_empty() && self.raw.is_empty() {
                    Ok(None)
                } else {
                    Err(TransportError::Io {
                        addr: self.peer.clone(),
                        reason: "closed in the middle of a frame".to_owned(),
                    })
                };
            }
            if let Some(cipher) = &mut self.open {
                cipher
                    .open(&mut self.raw, &mut self.buf)
                    .map_err(|reason| TransportError::Io { addr: self.peer.clone(), reason })?;
            }
        }
    }

    fn authenticated(&mut self) {
        self.codec = self.after_handshake;
    }

    fn buffered(&self) -> bool {
        !self.buf.is_empty() || !self.raw.is_empty()
    }

    fn take_bytes(&mut self) -> u64 {
        std::mem::take(&mut self.read)
    }
}

fn io_error(peer: &str, e: &io::Error) -> TransportError {
    TransportError::Io { addr: peer.to_owned(), reason: e.to_string() }
}

#[cfg(test)]
mod tests;
