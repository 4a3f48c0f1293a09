//! The transport facade: how the engine reaches other nodes.
//!
//! A transport opens and accepts **connections** that carry whole [`Envelope`]s in order, in
//! both directions, with many requests in flight on each (the engine multiplexes by id). The TCP
//! transport frames them on sockets; the in-memory transport hands them over in process. All
//! traits here are object-safe: the engine holds an `Arc<dyn Transport>`.

mod cork;
mod pipe;
mod queued;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::auth::Credentials;
use crate::config::ClusterConfig;
use crate::model::Endpoint;
use crate::wire::{Envelope, WireError};

pub(crate) use cork::{corked, is_corked};
pub use pipe::pipe;
pub use queued::QueuedListener;

/// Why a transport operation failed; each variant says which address and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Could not open a connection.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The address dialled.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The peer was reached but the transport's own handshake (the encrypted channel of a
    /// cluster with a secret) failed: a different key, most often.
    #[error("handshake with {addr} failed: {reason}")]
    Handshake {
        /// The address dialled.
        addr: String,
        /// Why.
        reason: String,
    },
    /// Could not listen.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The connection failed while in use.
    #[error("connection with {addr} failed: {reason}")]
    Io {
        /// The peer's address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The peer sent a frame that is not an envelope; the connection is closed.
    #[error("bad frame from {addr}: {error}")]
    Frame {
        /// The peer's address.
        addr: String,
        /// What was wrong.
        error: WireError,
    },
    /// The connection is closed.
    #[error("connection with {addr} is closed")]
    Closed {
        /// The peer's address.
        addr: String,
    },
}

/// Makes a transport for one identity, from the credentials it proves (`None` in a cluster
/// without a secret) and the cluster's settings (its frame limit, ...): how a builder gets the
/// transport it defaults to (`TcpTransport::make`).
pub type MakeTransport = fn(Option<&Credentials>, &ClusterConfig) -> Arc<dyn Transport>;

/// How a builder gets its transport: made already, made from the credentials when building,
/// or not chosen (an error naming the setters).
#[derive(Clone, Debug, Default)]
pub(crate) enum TransportChoice {
    #[default]
    Unset,
    Given(Arc<dyn Transport>),
    Make(MakeTransport),
}

impl TransportChoice {
    /// The transport for an identity proving `credentials`; `who` names the builder's facade
    /// method in the error (`Beach::builder()`).
    pub(crate) fn resolve(
        &self,
        credentials: Option<&Credentials>,
        config: &ClusterConfig,
        who: &str,
    ) -> Result<Arc<dyn Transport>, String> {
        match self {
            TransportChoice::Given(t) => Ok(t.clone()),
            TransportChoice::Make(make) => Ok(make(credentials, config)),
            TransportChoice::Unset => Err(format!(
                "no transport: set one with .transport(..) or .transport_with(..) (the beach crate's {who} starts from TCP)"
            )),
        }
    }
}

/// Takes a child process's connection as a client that needs no key, whose requests it
/// relays: what a node offers its [`crate::actor::Isolation`] (`node::ChildLinks`).
pub trait AdoptClient: Send + Sync + fmt::Debug {
    /// Serves `conn` as the connection of a child's client.
    fn adopt_client(&self, conn: Connection);
}

/// A transport holding one connection made beforehand, handed out to the first `connect`,
/// whatever the endpoint: how an isolated actor's client reaches the cluster only through the
/// socket its node gave it. Later connects fail, saying so; it never listens.
#[derive(Debug)]
pub struct Preconnected {
    connection: std::sync::Mutex<Option<Connection>>,
}

impl Preconnected {
    /// A transport that will hand out `connection`, once.
    pub fn new(connection: Connection) -> Self {
        Self { connection: std::sync::Mutex::new(Some(connection)) }
    }
}

#[async_trait]
impl Transport for Preconnected {
    async fn connect(&self, to: &Endpoint) -> Result<Connection, TransportError> {
        self.connection.lock().expect("preconnected lock").take().ok_or_else(|| {
            TransportError::Connect {
                addr: to.to_string(),
                reason: "this client reaches the cluster only through the connection it was given, which closed".to_owned(),
            }
        })
    }

    async fn bind(&self, at: &Endpoint) -> Result<Box<dyn Listener>, TransportError> {
        Err(TransportError::Bind {
            addr: at.to_string(),
            reason: "a preconnected transport does not listen".to_owned(),
        })
    }
}

/// Opens and accepts connections.
#[async_trait]
pub trait Transport: Send + Sync + fmt::Debug + 'static {
    /// Opens a connection to the node listening at `to`.
    async fn connect(&self, to: &Endpoint) -> Result<Connection, TransportError>;

    /// Starts listening at `at`.
    async fn bind(&self, at: &Endpoint) -> Result<Box<dyn Listener>, TransportError>;
}

/// Accepts incoming connections.
#[async_trait]
pub trait Listener: Send + fmt::Debug {
    /// Waits for the next connection.
    async fn accept(&mut self) -> Result<Connection, TransportError>;

    /// The endpoint actually bound (with the real port when port 0 was asked for).
    fn local_endpoint(&self) -> Endpoint;
}

/// An envelope of a batch that a transport did not send because it cannot carry it (larger
/// than its frame limit); the rest of the batch was sent and the connection is intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Its position in the batch.
    pub index: usize,
    /// Why.
    pub error: WireError,
}

/// What [`FrameSink::send_now`] did with an envelope.
#[derive(Debug)]
pub enum SentNow {
    /// Written; with `pending`, part of it waits in the sink for the next
    /// [`FrameSink::send`] (the connection would not take it all at once).
    Sent {
        /// Bytes wait to be flushed.
        pending: bool,
    },
    /// Not attempted: the envelope is to go through [`FrameSink::send`] (this transport does
    /// not write without waiting, the envelope does not fit in a frame, or bytes of an
    /// earlier envelope still wait).
    NotNow,
    /// The connection failed; nothing of the envelope was delivered whole.
    Failed(TransportError),
}

/// Sends envelopes on a connection.
#[async_trait]
pub trait FrameSink: Send {
    /// Sends a batch of envelopes in order, after whatever [`FrameSink::send_now`] left
    /// pending (an empty batch only flushes that); a transport writes them with as few system
    /// calls as it can. An envelope it cannot carry is left out and returned, so that the
    /// engine fails that one message alone (a request too large for a frame must not cost the
    /// connection, and every other call on it).
    async fn send(&mut self, batch: &[Envelope]) -> Result<Vec<Refused>, TransportError>;

    /// Writes one envelope without waiting, if this transport can: what a caller on an idle
    /// connection does instead of handing the envelope to the connection's writer task (a
    /// thread wake-up each way on a request's path). What the connection does not take at
    /// once stays in the sink, flushed by the next [`FrameSink::send`]. The default writes
    /// nothing ([`SentNow::NotNow`]): every envelope goes through `send`.
    fn send_now(&mut self, envelope: &Envelope) -> SentNow {
        let _ = envelope;
        SentNow::NotNow
    }

    /// Bytes written to the network since the last call, for metrics; 0 for a transport
    /// that moves no bytes (in memory).
    fn take_bytes(&mut self) -> u64 {
        0
    }
}

/// The largest frame accepted before the handshake is done: enough for any handshake step,
/// far too little for an unauthenticated party to make a node allocate much.
pub const PREAUTH_MAX_FRAME_SIZE: usize = 4 * 1024;

/// Receives envelopes from a connection.
#[async_trait]
pub trait FrameStream: Send {
    /// The next envelope; `Ok(None)` when the peer closed the connection cleanly.
    async fn recv(&mut self) -> Result<Option<Envelope>, TransportError>;

    /// The handshake is done: lift the limits that hold before it (a transport that frames
    /// bytes accepts frames of at most [`PREAUTH_MAX_FRAME_SIZE`] until then).
    fn authenticated(&mut self) {}

    /// Whether data already received waits to be decoded: the next [`FrameStream::recv`]
    /// returns without waiting for the peer. The engine queues its answers while it is so,
    /// so that the answers to a burst of requests leave in one write.
    fn buffered(&self) -> bool {
        false
    }

    /// Bytes read from the network since the last call, for metrics; 0 for a transport that
    /// moves no bytes (in memory).
    fn take_bytes(&mut self) -> u64 {
        0
    }
}

/// An open connection, in two halves so that reading and writing run in separate tasks.
pub struct Connection {
    /// The peer's address, for logs and errors.
    pub peer: String,
    /// The sending half.
    pub sink: Box<dyn FrameSink>,
    /// The receiving half.
    pub stream: Box<dyn FrameStream>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").field("peer", &self.peer).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    /// The engine holds these as trait objects: this must compile.
    #[test]
    fn transport_traits_are_object_safe() {
        fn takes(
            _: Option<&dyn super::Transport>,
            _: Option<&dyn super::Listener>,
            _: Option<&dyn super::FrameSink>,
            _: Option<&dyn super::FrameStream>,
        ) {
        }
        takes(None, None, None, None);
    }
}
