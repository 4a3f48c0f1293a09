//! The socket between a node and an isolated actor's process, framed as every channel of beach
//! is ([`FrameCodec`]): the setup first (a framed CBOR value), then envelopes both ways.

use beach_core::wire::{Envelope, FrameCodec, WireError};
use bytes::BytesMut;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
