//! The wire: envelopes and the frame codec.
//!
//! A frame is a `u32` big-endian length followed by that many bytes of CBOR holding one
//! [`Envelope`]. Decoding has two phases, as in mini-redis: [`FrameCodec::check`] says whether a
//! whole frame is buffered (and refuses an oversized length before anything is allocated), then
//! [`FrameCodec::decode`] parses it. A bad frame is an error for that connection to act on,
//! never a panic.
//!
//! ```
//! use beach_core::wire::{Envelope, FrameCodec};
//! use bytes::BytesMut;
//!
//! let codec = FrameCodec::default();
//! let mut buf = BytesMut::new();
//! codec.encode(&Envelope::Digest(Default::default()), &mut buf).unwrap();
//! let half = buf.split_to(3);
//! let mut partial = BytesMut::from(&half[..]);
//! assert_eq!(codec.decode(&mut partial).unwrap(), None); // not enough bytes yet
//! partial.extend_from_slice(&buf);
//! assert_eq!(codec.decode(&mut partial).unwrap(), Some(Envelope::Digest(Default::default())));
//! assert!(partial.is_empty());
//! ```

mod compact;
mod envelope;

use bytes::{Buf, BufMut, BytesMut};

pub use envelope::*;

/// The protocol version spoken by this build; peers with another version are refused at the
/// handshake, in words, in both logs. Version 2: role-bound handshake proofs.
pub const PROTOCOL_VERSION: u16 = 2;

/// The size of a handshake nonce, in bytes.
pub const NONCE_LEN: usize = 32;

/// The largest frame accepted unless configured otherwise: 16 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// The length prefix's size in bytes.
pub const LENGTH_PREFIX: usize = 4;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The length prefix announces more than the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// The announced length.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The length prefix announces an empty frame, which no envelope encodes to.
    #[error("empty frame")]
    EmptyFrame,
    /// The frame body is not the CBOR of an envelope.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The frame body holds bytes after the envelope.
    #[error("malformed frame: {0} bytes after the envelope")]
    TrailingBytes(usize),
    /// An envelope could not be encoded.
    #[error("cannot encode envelope: {0}")]
    Encode(String),
}

/// Encodes and decodes frames, enforcing a maximum frame size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameCodec {
    max_frame_size: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl FrameCodec {
    /// A codec that refuses frames whose body is larger than `max_frame_size` bytes (capped
    /// at `u32::MAX`, the largest length the prefix can express).
    pub fn new(max_frame_size: usize) -> Self {
        Self { max_frame_size: max_frame_size.min(u32::MAX as usize) }
    }

    /// The largest body accepted, in bytes.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Appends one frame holding `envelope` to `out`. An envelope that would exceed the maximum
    /// is an error and leaves `out` as it was.
    pub fn encode(&self, envelope: &Envelope, out: &mut BytesMut) -> Result<(), WireError> {
        // The envelopes of the request path are written directly, the rest through serde.
        let body = |out: &mut BytesMut| match compact::encode(envelope, out) {
            true => Ok(()),
            false => cbor(envelope, out),
        };
        self.framed(out, body)
    }

    /// Appends one frame holding any serde value as CBOR, under the same length prefix and
    /// limit as envelopes: for the few messages that are not envelopes (an isolated actor's
    /// setup), so that every channel of beach frames alike.
    pub fn encode_value<T: serde::Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut BytesMut,
    ) -> Result<(), WireError> {
        self.framed(out, |out| cbor(value, out))
    }

    /// Appends a frame whose body `body` writes, under the length prefix; a failed or
    /// oversized body leaves `out` as it was.
    fn framed(
        &self,
        out: &mut BytesMut,
        body: impl FnOnce(&mut BytesMut) -> Result<(), WireError>,
    ) -> Result<(), WireError> {
        let start = out.len();
        out.put_u32(0);
        if let Err(e) = body(out) {
            out.truncate(start);
            return Err(e);
        }
        let len = out.len() - start - LENGTH_PREFIX;
        if len > self.max_frame_size {
            out.truncate(start);
            return Err(WireError::FrameTooLarge { len: len as u64, max: self.max_frame_size });
        }
        out[start..start + LENGTH_PREFIX].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }

    /// Phase one: `Ok(Some(n))` when `buf` starts with a whole frame of `n` bytes (prefix
    /// included), `Ok(None)` when more bytes are needed, an error when the announced length is
    /// refused. Nothing is allocated.
    pub fn check(&self, buf: &[u8]) -> Result<Option<usize>, WireError> {
        let Some(prefix) = buf.get(..LENGTH_PREFIX) else { return Ok(None) };
        let len = u32::from_be_bytes(prefix.try_into().expect("four bytes")) as usize;
        if len == 0 {
            return Err(WireError::EmptyFrame);
        }
        if len > self.max_frame_size {
            return Err(WireError::FrameTooLarge { len: len as u64, max: self.max_frame_size });
        }
        let total = LENGTH_PREFIX + len;
        Ok((buf.len() >= total).then_some(total))
    }

    /// Phase two, with phase one first: takes one whole frame off the front of `buf` and
    /// decodes it, or returns `Ok(None)` (leaving `buf` alone) when more bytes are needed.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Envelope>, WireError> {
        let Some(total) = self.check(buf)? else { return Ok(None) };
        let frame = buf.split_to(total);
        decode_body(&frame[LENGTH_PREFIX..]).map(Some)
    }

    /// [`FrameCodec::decode`] for a frame made by [`FrameCodec::encode_value`].
    pub fn decode_value<T: serde::de::DeserializeOwned>(
        &self,
        buf: &mut BytesMut,
    ) -> Result<Option<T>, WireError> {
        let Some(total) = self.check(buf)? else { return Ok(None) };
        let frame = buf.split_to(total);
        decode_cbor(&frame[LENGTH_PREFIX..]).map(Some)
    }
}

/// Decodes a frame body (the bytes after the length prefix) into an envelope.
///
/// Requests, one-way messages and successful replies in their usual encoding are read with
/// minicbor's decoder directly (see `compact.rs`); the rest of the envelopes on every request's path decode with
/// `minicbor-serde`, about four times faster than `ciborium` on them; their fields are
/// scalars, strings and opaque byte strings, so input cannot nest deeper than their schema.
/// Every other envelope may carry user [`crate::value::Value`]s nested to any depth, and
/// decodes with `ciborium`, whose recursion limit keeps hostile nesting off the stack.
pub fn decode_body(body: &[u8]) -> Result<Envelope, WireError> {
    if let Some(envelope) = compact::decode_fast(body) {
        return Ok(envelope);
    }
    if compact::on_request_path(body) {
        return compact::decode(body);
    }
    decode_cbor(body)
}

/// Appends `value` as CBOR with `ciborium`.
fn cbor<T: serde::Serialize + ?Sized>(value: &T, out: &mut BytesMut) -> Result<(), WireError> {
    ciborium::into_writer(value, out.writer()).map_err(|e| WireError::Encode(e.to_string()))
}

/// Decodes a whole frame body as CBOR with `ciborium`: bytes left over are an error.
fn decode_cbor<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    let mut rest = body;
    let value =
        ciborium::from_reader(&mut rest).map_err(|e| WireError::Malformed(e.to_string()))?;
    if rest.has_remaining() {
        return Err(WireError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests;
