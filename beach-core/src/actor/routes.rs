//! Requests as the node that routed them saw them, for metrics: a [`RouteObserver`] hears of
//! every request a node's handles made (its actors', its embedding program's, its gateway's)
//! when it ended, with its outcome and how long it took, retries included.

use std::time::Duration;

use super::RequestError;
use crate::model::{ActorId, Realm};
use crate::routing::Failure;
use crate::value::Payload;

/// One request that ended, as [`RouteObserver::routed`] hears of it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Routed<'a> {
    /// The realm it was sent in.
    pub realm: &'a Realm,
    /// The category it asked; empty for a handle to one actor.
    pub category: &'a str,
    /// Its kind.
    pub kind: &'a str,
    /// How it ended.
    pub outcome: &'a Result<Payload, RequestError>,
    /// From the first attempt to the outcome.
    pub took: Duration,
    /// Each retry: the attempt that failed and how, and where the next one went; what the
    /// retry rule (DESIGN §5) allowed.
    pub retried: &'a [Retry],
    /// Whether the request let timeouts be retried.
    pub retry_timeouts: bool,
    /// Whether it was an `affinity` request with a key.
    pub keyed: bool,
}

/// One retry of a request, as [`Routed::retried`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retry {
    /// The actor whose attempt failed.
    pub from: ActorId,
    /// How it failed.
    pub failure: Failure,
    /// Whether the directory still listed it when the next attempt was picked.
    pub from_listed: bool,
    /// The actor the next attempt went to.
    pub to: ActorId,
    /// For a keyed request, the key's owner among the actors listed at the next attempt (an
    /// actor that joined since may own the key now).
    pub key_owner: Option<ActorId>,
}

/// Hears of the requests a node routed (see `Node::observe_routes`), or a client made (see
/// `Beach::observe_routes`). Called on the
/// requesting task once per request, so it must be quick: count, do not wait.
pub trait RouteObserver: Send + Sync + 'static {
    /// A request ended.
    fn routed(&self, request: &Routed<'_>);
}
