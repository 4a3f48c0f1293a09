//! The sockets between a node and an isolated actor's process, framed as every channel of
//! beach is ([`FrameCodec`]). The actor's socket carries the setup first (a framed CBOR
//! value), then the actor's requests and answers; the client's socket is the child's
//! connection to the cluster, through its node.

use async_trait::async_trait;
use beach_core::transport::{Connection, FrameSink, FrameStream, Refused, TransportError};
use beach_core::wire::{Envelope, FrameCodec, WireError};
use bytes::BytesMut;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// Reads until `decode` takes a whole frame off `buf`; `None` when the socket ends or sends a
/// bad frame.
async fn read_with<T>(
    r: &mut OwnedReadHalf,
    buf: &mut BytesMut,
    decode: impl Fn(&mut BytesMut) -> Result<Option<T>, WireError>,
) -> Option<T> {
    loop {
        match decode(buf) {
            Ok(Some(v)) => return Some(v),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "bad frame on an isolated actor's socket");
                return None;
            }
        }
        match r.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The next envelope.
pub(super) async fn read_envelope(
    r: &mut OwnedReadHalf,
    codec: &FrameCodec,
    buf: &mut BytesMut,
) -> Option<Envelope> {
    read_with(r, buf, |b| codec.decode(b)).await
}

/// The next framed value (the setup).
pub(super) async fn read_value<T: DeserializeOwned>(
    r: &mut OwnedReadHalf,
    codec: &FrameCodec,
    buf: &mut BytesMut,
) -> Option<T> {
    read_with(r, buf, |b| codec.decode_value(b)).await
}

/// Why a write wrote nothing.
pub(super) enum NotWritten {
    /// The message does not fit in a frame; the socket is fine.
    TooLarge(WireError),
    /// The socket is closed or broken.
    Broken,
}

/// Writes one envelope.
pub(super) async fn write_envelope(
    w: &mut OwnedWriteHalf,
    codec: &FrameCodec,
    envelope: &Envelope,
) -> Result<(), NotWritten> {
    write_value(w, codec, envelope).await
}

/// Writes one framed value.
pub(super) async fn write_value<T: Serialize + ?Sized>(
    w: &mut OwnedWriteHalf,
    codec: &FrameCodec,
    value: &T,
) -> Result<(), NotWritten> {
    let mut out = BytesMut::new();
    codec.encode_value(value, &mut out).map_err(NotWritten::TooLarge)?;
    w.write_all(&out).await.map_err(|_| NotWritten::Broken)
}

/// The child's client connection to its node, as a transport connection: frames both ways,
/// no encryption (the socket never leaves this machine's two processes).
pub(super) fn connection(stream: UnixStream, codec: FrameCodec, peer: &str) -> Connection {
    let (r, w) = stream.into_split();
    Connection {
        peer: peer.to_owned(),
        sink: Box::new(SocketSink { w, codec, buf: BytesMut::new(), peer: peer.to_owned() }),
        stream: Box::new(SocketStream { r, codec, buf: BytesMut::new(), peer: peer.to_owned() }),
    }
}

struct SocketSink {
    w: OwnedWriteHalf,
    codec: FrameCodec,
    buf: BytesMut,
    peer: String,
}

#[async_trait]
impl FrameSink for SocketSink {
    async fn send(&mut self, batch: &[Envelope]) -> Result<Vec<Refused>, TransportError> {
        self.buf.clear();
        let mut refused = Vec::new();
        for (index, envelope) in batch.iter().enumerate() {
            if let Err(error) = self.codec.encode(envelope, &mut self.buf) {
                refused.push(Refused { index, error });
            }
        }
        self.w
            .write_all(&self.buf)
            .await
            .map_err(|e| TransportError::Io { addr: self.peer.clone(), reason: e.to_string() })?;
        Ok(refused)
    }
}

struct SocketStream {
    r: OwnedReadHalf,
    codec: FrameCodec,
    buf: BytesMut,
    peer: String,
}

#[async_trait]
impl FrameStream for SocketStream {
    async fn recv(&mut self) -> Result<Option<Envelope>, TransportError> {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(envelope)) => return Ok(Some(envelope)),
                Ok(None) => {}
                Err(error) => return Err(TransportError::Frame { addr: self.peer.clone(), error }),
            }
            let io = |e: std::io::Error| TransportError::Io {
                addr: self.peer.clone(),
                reason: e.to_string(),
            };
            if self.r.read_buf(&mut self.buf).await.map_err(io)? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(TransportError::Io {
                        addr: self.peer.clone(),
                        reason: "closed in the middle of a frame".to_owned(),
                    })
                };
            }
        }
    }
}
