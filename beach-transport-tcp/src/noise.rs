//! The encrypted channel of a cluster with a secret: every connection is a Noise session
//! (`Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s`) keyed by a pre-shared key derived from the
//! cluster secret, and every byte after its two handshake messages is AEAD-protected.
//!
//! On the wire, before anything else:
//!
//! 1. The connecting side sends a 13-byte preamble in clear: `BCH`, the channel version (2),
//!    the role it claims (0 node, 1 client) and the 8-byte id of its key. The accepting side
//!    picks the key of that role with that id (a node accepts each of its secrets, so secrets
//!    rotate without downtime); the preamble is the Noise prologue, so changing it in flight
//!    breaks the handshake.
//! 2. Two Noise handshake messages, each a `u16` big-endian length and the message: ephemeral
//!    keys, mixed with the pre-shared key from the first message on (`psk0`). Only a holder of
//!    the key completes it; a relay without it sees random bytes and can change none.
//! 3. Records: a `u16` length and at most 65 535 bytes of ciphertext, carrying the ordinary
//!    frame stream of `beach_core::wire` inside.
//!
//! The key admits a role (a client key cannot open a node's channel), and the beach
//! handshake inside the channel then proves role and identity again, bound to both nonces.

use beach_core::auth::{ChannelKey, Credentials, KEY_ID_LEN, Role};
use beach_core::transport::TransportError;
use bytes::{Buf, BytesMut};
use snow::StatelessTransportState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PATTERN: &str = "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s";
const MAGIC: &[u8; 3] = b"BCH";
const CHANNEL_VERSION: u8 = 2;
/// The preamble's length: magic, version, role, key id.
pub(crate) const PREAMBLE_LEN: usize = 3 + 1 + 1 + KEY_ID_LEN;
/// The largest Noise message.
const MAX_MESSAGE: usize = 65_535;
/// The authentication tag each record carries.
const TAG: usize = 16;
/// The most plaintext one record carries.
pub(crate) const MAX_PLAIN: usize = MAX_MESSAGE - TAG;

/// The channel keys of one side.
#[derive(Debug, Clone)]
pub(crate) struct NoiseKeys {
    offer: ChannelKey,
    accept: Vec<ChannelKey>,
}

impl NoiseKeys {
    pub(crate) fn new(credentials: &Credentials) -> Self {
        Self { offer: credentials.channel_offer(), accept: credentials.channel_accepts() }
    }
}

/// One direction's cipher of an established session, with its own nonce counter (TCP keeps
/// records in order, so the counters of both ends stay in step).
pub(crate) struct Cipher {
    state: std::sync::Arc<StatelessTransportState>,
    nonce: u64,
}

impl Cipher {
    /// Appends the records carrying `plain` to `out`.
    pub(crate) fn seal(&mut self, plain: &[u8], out: &mut BytesMut) -> Result<(), String> {
        for chunk in plain.chunks(MAX_PLAIN) {
            let len = chunk.len() + TAG;
            let start = out.len();
            out.extend_from_slice(&(len as u16).to_be_bytes());
            out.resize(start + 2 + len, 0);
            self.state
                .write_message(self.nonce, chunk, &mut out[start + 2..])
                .map_err(|e| format!("cannot encrypt: {e}"))?;
            self.nonce += 1;
        }
        Ok(())
    }

    /// Moves every whole record of `raw` into `plain`, decrypted; a record that does not
    /// decrypt (changed in flight, or another key) is an error.
    pub(crate) fn open(&mut self, raw: &mut BytesMut, plain: &mut BytesMut) -> Result<(), String> {
        while raw.len() >= 2 {
            let len = usize::from(u16::from_be_bytes([raw[0], raw[1]]));
            if len < TAG {
                return Err(format!("an encrypted record of {len} bytes"));
            }
            if raw.len() < 2 + len {
                break;
            }
            // Decrypted straight into the frame buffer, where the codec reads it.
            let start = plain.len();
            plain.resize(start + len, 0);
            let n = self
                .state
                .read_message(self.nonce, &raw[2..2 + len], &mut plain[start..])
                .map_err(|_| "a record failed authentication".to_owned())?;
            plain.truncate(start + n);
            self.nonce += 1;
            raw.advance(2 + len);
        }
        Ok(())
    }
}

/// The two ciphers of an established session: (sending, receiving).
pub(crate) type Ciphers = (Cipher, Cipher);

fn ciphers(state: StatelessTransportState) -> Ciphers {
    let state = std::sync::Arc::new(state);
    let cipher = |state| Cipher { state, nonce: 0 };
    (cipher(state.clone()), cipher(state))
}

fn role_byte(role: Role) -> u8 {
    match role {
        Role::Node => 0,
        Role::Client => 1,
    }
}

fn params() -> snow::params::NoiseParams {
    PATTERN.parse().expect("a valid Noise pattern")
}

async fn write_message(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(2 + msg.len());
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg);
    s.write_all(&out).await
}

async fn read_message(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut msg).await?;
    Ok(msg)
}

fn fail(addr: &str, reason: String) -> TransportError {
    TransportError::Handshake { addr: addr.to_owned(), reason }
}

/// The connecting side: preamble and the first message, then the answer.
pub(crate) async fn connect(
    s: &mut TcpStream,
    keys: &NoiseKeys,
    addr: &str,
) -> Result<Ciphers, TransportError> {
    let mut preamble = Vec::with_capacity(PREAMBLE_LEN);
    preamble.extend_from_slice(MAGIC);
    preamble.push(CHANNEL_VERSION);
    preamble.push(role_byte(keys.offer.role));
    preamble.extend_from_slice(&keys.offer.id);
    let mut hs = snow::Builder::new(params())
        .psk(0, &keys.offer.psk)
        .and_then(|b| b.prologue(&preamble))
        .and_then(|b| b.build_initiator())
        .map_err(|e| fail(addr, format!("noise: {e}")))?;
    let mut msg = vec![0u8; MAX_MESSAGE];
    let n = hs.write_message(&[], &mut msg).map_err(|e| fail(addr, format!("noise: {e}")))?;
    let io = |e: std::io::Error| fail(addr, e.to_string());
    s.write_all(&preamble).await.map_err(io)?;
    write_message(s, &msg[..n]).await.map_err(io)?;
    let answer = read_message(s).await.map_err(|e| {
        fail(
            addr,
            format!(
                "the node closed the encrypted handshake ({e}): it does not hold this side's key (another secret_file, or none?)"
            ),
        )
    })?;
    hs.read_message(&answer, &mut msg).map_err(|_| {
        fail(addr, "the node's answer does not prove the key (another secret_file?)".to_owned())
    })?;
    hs.into_stateless_transport_mode().map(ciphers).map_err(|e| fail(addr, format!("noise: {e}")))
}

/// Why an incoming connection was not accepted; the plain answer to send, if any.
pub(crate) struct Refusal {
    pub(crate) reason: String,
    /// A peer that spoke plain beach (no secret) gets a refusal it can read.
    pub(crate) plain_answer: bool,
}

/// The accepting side: reads the preamble, picks the key, answers the first message.
pub(crate) async fn accept(s: &mut TcpStream, keys: &NoiseKeys) -> Result<Ciphers, Refusal> {
    let refuse = |reason: String| Refusal { reason, plain_answer: false };
    let mut preamble = [0u8; PREAMBLE_LEN];
    s.read_exact(&mut preamble[..4]).await.map_err(|e| refuse(e.to_string()))?;
    if &preamble[..3] != MAGIC {
        return Err(Refusal {
            reason: "the peer spoke without encryption (does it have the secret_file?)".to_owned(),
            plain_answer: true,
        });
    }
    if preamble[3] != CHANNEL_VERSION {
        return Err(refuse(format!("channel version {} is not {CHANNEL_VERSION}", preamble[3])));
    }
    s.read_exact(&mut preamble[4..]).await.map_err(|e| refuse(e.to_string()))?;
    let role = match preamble[4] {
        0 => Role::Node,
        1 => Role::Client,
        other => return Err(refuse(format!("unknown role {other}"))),
    };
    let id = &preamble[5..];
    let Some(key) = keys.accept.iter().find(|k| k.role == role && k.id == id) else {
        return Err(refuse(
            match role {
                Role::Node => "the peer's cluster secret is not this node's (another secret_file?)",
                Role::Client => "the client's key is not this cluster's (another secret_file?)",
            }
            .to_owned(),
        ));
    };
    let mut hs = snow::Builder::new(params())
        .psk(0, &key.psk)
        .and_then(|b| b.prologue(&preamble))
        .and_then(|b| b.build_responder())
        .map_err(|e| refuse(format!("noise: {e}")))?;
    let first = read_message(s).await.map_err(|e| refuse(e.to_string()))?;
    let mut msg = vec![0u8; MAX_MESSAGE];
    hs.read_message(&first, &mut msg)
        .map_err(|_| refuse("the encrypted handshake does not prove the key".to_owned()))?;
    let n = hs.write_message(&[], &mut msg).map_err(|e| refuse(format!("noise: {e}")))?;
    write_message(s, &msg[..n]).await.map_err(|e| refuse(e.to_string()))?;
    hs.into_stateless_transport_mode().map(ciphers).map_err(|e| refuse(format!("noise: {e}")))
}
