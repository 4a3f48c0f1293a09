//! What a handler receives and returns.

use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ErrorCode;
use crate::actor::{Message, Messages};
use crate::value::{Payload, Value, ValueError};
use crate::wire::RemoteError;

/// A request as a handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    pub(crate) id: u64,
    pub(crate) kind: String,
    pub(crate) data: Payload,
    pub(crate) ident: Option<String>,
    pub(crate) attempt: u32,
    pub(crate) deadline: Instant,
}

impl Request {
    /// A request as a handler sees it, from its wire form; for hosts that run actors outside a
    /// node (an isolated actor's process). `deadline` is when the caller gives up.
    pub fn from_wire(request: crate::wire::ActorCall, deadline: Instant) -> Self {
        Self {
            id: request.id,
            kind: request.kind,
            data: request.data,
            ident: request.ident,
            attempt: request.attempt,
            deadline,
        }
    }

    /// The request type, such as `ping`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The request data, decoded into `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        self.data.decode()
    }

    /// This request as one of the messages of `M` (an enum made by
    /// [`messages!`](crate::messages)), decoded by its kind. `Err` is the answer to give
    /// instead: `request type not supported by actor` for a kind outside `M`, or an error
    /// naming the kind when the data is not that message.
    pub fn decode<M: Messages>(&self) -> Result<M, Response> {
        match M::decode(&self.kind, &self.data) {
            Some(decoded) => decoded.map_err(|e| self.bad_data(&e)),
            None => Err(Response::unsupported()),
        }
    }

    /// This request as the message `M`, for an actor that picks out one message without
    /// declaring a set; `Err` is the answer to give instead, as for [`Request::decode`].
    pub fn message<M: Message>(&self) -> Result<M, Response> {
        if self.kind != M::KIND {
            return Err(Response::unsupported());
        }
        self.data.decode().map_err(|e| self.bad_data(&e))
    }

    /// The answer to data that is not the message its kind names.
    fn bad_data(&self, e: &ValueError) -> Response {
        Response::error(format!("bad data for `{}`: {e}", self.kind))
    }

    /// The request data as a dynamic value.
    pub fn value(&self) -> Result<Value, ValueError> {
        self.data.to_value()
    }

    /// The raw request data.
    pub fn payload(&self) -> &Payload {
        &self.data
    }

    /// The request id: the same on every retry, so a handler can de-duplicate.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Which attempt this is, 0 for the first.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The caller's ident, if it sent one.
    pub fn ident(&self) -> Option<&str> {
        self.ident.as_deref()
    }

    /// When the caller gives up; work past it is wasted.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// A handler's answer: data, or an error message (with optional data) that the caller gets
/// as [`crate::actor::RequestError::Remote`].
#[derive(Debug, Clone, PartialEq)]
pub struct Response(pub(crate) Result<Payload, RemoteError>);

impl Response {
    /// Success with `data`. If `data` cannot be encoded, the caller gets an `exception` error
    /// saying why.
    pub fn ok<T: Serialize + ?Sized>(data: &T) -> Self {
        match Payload::encode(data) {
            Ok(p) => Response(Ok(p)),
            Err(e) => Self::error(format!("{}: {e}", ErrorCode::Exception.as_str())),
        }
    }

    /// Success with already-encoded data.
    pub fn payload(data: Payload) -> Self {
        Response(Ok(data))
    }

    /// A response from an answer as it travels: what an actor host relays.
    pub fn from_result(result: Result<Payload, RemoteError>) -> Self {
        Response(result)
    }

    /// Success without data.
    pub fn empty() -> Self {
        Response(Ok(Payload::null()))
    }

    /// An error with a message.
    pub fn error(message: impl Into<String>) -> Self {
        Response(Err(RemoteError { error: message.into(), data: None }))
    }

    /// An error with a message and data.
    pub fn error_with<T: Serialize + ?Sized>(message: impl Into<String>, data: &T) -> Self {
        Response(Err(RemoteError { error: message.into(), data: Payload::encode(data).ok() }))
    }

    /// The answer to a request type the actor does not handle:
    /// `request type not supported by actor`.
    pub fn unsupported() -> Self {
        Self::error(ErrorCode::Unsupported.as_str())
    }

    /// Whether this is a success.
    pub fn is_ok(&self) -> bool {
        self.0.is_ok()
    }

    /// The result inside.
    pub fn into_result(self) -> Result<Payload, RemoteError> {
        self.0
    }
}

impl<T: Serialize, E: std::fmt::Display> From<Result<T, E>> for Response {
    /// `Ok` data becomes a success, an `Err` becomes an error with its message, so handlers can
    /// use `?`-style helpers and convert at the end.
    fn from(r: Result<T, E>) -> Self {
        match r {
            Ok(v) => Response::ok(&v),
            Err(e) => Response::error(e.to_string()),
        }
    }
}
