//! How a request fails: one attempt ([`CallError`], inside beach) and the whole request
//! ([`RequestError`], what callers get).

use crate::ErrorCode;
use crate::routing::{Failure, RoutingError};
use crate::value::{Payload, ValueError};
use crate::wire::RemoteError;

/// How one attempt failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CallError {
    /// Not sent: the node could not be reached.
    Unreachable(String),
    /// Sent, then the connection or the node failed before the reply.
    Lost(String),
    Timeout,
    Remote(RemoteError),
}

impl CallError {
    pub(super) fn failure(&self) -> Failure {
        match self {
            CallError::Unreachable(_) => Failure::Code(ErrorCode::Unreachable),
            CallError::Lost(_) => Failure::Lost,
            CallError::Timeout => Failure::Code(ErrorCode::Timeout),
            CallError::Remote(r) => Failure::of_message(&r.error),
        }
    }
}

impl From<CallError> for RequestError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Unreachable(why) | CallError::Lost(why) => RequestError::Unreachable(why),
            CallError::Timeout => RequestError::Timeout,
            CallError::Remote(r) => RequestError::Remote { error: r.error, data: r.data },
        }
    }
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No actor matches the category (answered at once, not after the timeout).
    #[error("no actor in category {category:?}")]
    NoActors {
        /// The category asked.
        category: String,
    },
    /// No reply before the deadline, on every attempt.
    #[error("timeout")]
    Timeout,
    /// The actor's node could not be reached.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The actor answered with an error (see [`crate::ErrorCode`] for the fixed ones).
    #[error("{error}")]
    Remote {
        /// The error message.
        error: String,
        /// Data attached to the error.
        data: Option<Payload>,
    },
    /// The request could not be routed (affinity without a key).
    #[error(transparent)]
    Routing(#[from] RoutingError),
    /// The request data could not be encoded, or the reply decoded.
    #[error(transparent)]
    Payload(#[from] ValueError),
}

impl RequestError {
    /// The error message as clients match on it: `timeout`, `queue full`, `unauthorized`, a
    /// handler's own message, ...
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The fixed error this is, if it is one: what to match on (never the message text).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            RequestError::NoActors { .. } => Some(ErrorCode::NoActors),
            RequestError::Timeout => Some(ErrorCode::Timeout),
            RequestError::Unreachable(_) => Some(ErrorCode::Unreachable),
            RequestError::Remote { error, .. } => ErrorCode::of_message(error),
            RequestError::Routing(_) | RequestError::Payload(_) => None,
        }
    }

    /// Whether this is the fixed error `code`.
    pub fn is(&self, code: ErrorCode) -> bool {
        self.code() == Some(code)
    }
}
