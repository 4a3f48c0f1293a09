//! Actors: the [`Actor`] trait, what a handler receives ([`Request`]) and returns
//! ([`Response`]), the [`Context`] of an actor's services, and the [`Registry`] of actor types a
//! node can spawn.
//!
//! Handlers run **concurrently** on one actor (as in py-beach: A may ask B, which asks A, without
//! deadlock), so they take `&self`; keep mutable state behind a lock or atomics.
//!
//! ```
//! use async_trait::async_trait;
//! use beach_core::actor::{Actor, Context, InitError, Request, Response};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Time { time: f64 }
//!
//! /// Answers `ping` with the time.
//! struct Pong;
//!
//! #[async_trait]
//! impl Actor for Pong {
//!     async fn init(_ctx: &Context) -> Result<Self, InitError> {
//!         Ok(Pong)
//!     }
//!
//!     async fn handle(&self, ctx: &Context, request: Request) -> Response {
//!         match request.kind() {
//!             "ping" => Response::ok(&Time { time: ctx.unix_time() }),
//!             _ => Response::unsupported(),
//!         }
//!     }
//! }
//! ```

mod context;
mod counter;
mod error;
mod fanout;
mod group;
mod handle;
mod message;
mod port;
mod registry;
mod request;
mod routes;
mod source;
mod stats;

use async_trait::async_trait;

pub use crate::model::Origin;
pub use context::Context;
pub(crate) use context::ContextParts;
pub use counter::{Counter, Rate};
pub(crate) use error::CallError;
pub use error::RequestError;
pub use fanout::Replies;
pub use group::Group;
pub use handle::{Handle, OnFailure, RequestOptions};
pub use message::{Message, Messages};
pub(crate) use port::Port;
pub use registry::Registry;
pub use registry::panic_message;
pub use request::{Request, Response};
pub use routes::{Retry, RouteObserver, Routed};
pub use source::{OfferedType, TypeSource};
pub use stats::{ActorStats, LatencyHistogram};

/// Runs actors spawned with `isolated: true` somewhere else than in the node's process (the
/// `beach-node` daemon runs each in a child process). A node without one refuses isolated
/// spawns.
#[async_trait]
pub trait Isolation: Send + Sync + std::fmt::Debug + 'static {
    /// Starts the actor `ctx.id()` described by `spec` and returns a stand-in that forwards
    /// requests to it. Returns after the actor's `init` succeeded, or with its error. When the
    /// actor's process dies, the stand-in calls [`Context::stop_self`] so the actor leaves the
    /// directory.
    ///
    /// The child reaches the cluster through its node: `node` takes the child's connection
    /// as a client that needs no key ([`crate::transport::AdoptClient`]).
    async fn spawn(
        &self,
        spec: &crate::wire::SpawnSpec,
        ctx: &Context,
        node: &dyn crate::transport::AdoptClient,
    ) -> Result<std::sync::Arc<dyn Actor>, InitError>;
}

/// Why an actor could not start; it becomes the spawn's error, message included.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InitError(pub String);

impl InitError {
    /// An init error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<String> for InitError {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for InitError {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// An actor: constructed by [`Actor::init`], then serving requests with [`Actor::handle`]
/// until stopped, when [`Actor::drain`] and [`Actor::deinit`] run.
#[async_trait]
pub trait Actor: Send + Sync + 'static {
    /// Builds the actor from its context (parameters, resources, handles). An error aborts the
    /// spawn and is reported to whoever spawned it. The spawn returns only after this
    /// succeeded.
    async fn init(ctx: &Context) -> Result<Self, InitError>
    where
        Self: Sized;

    /// Serves one request. Runs concurrently with other calls; a panic becomes an
    /// `exception` reply and the actor keeps serving.
    ///
    /// The node starts a handler where a request arrives (the caller's task for a caller on
    /// the same node, the connection's reader otherwise) and moves it to a task of its own at
    /// its first `.await` that waits: a handler that never waits is answered with no task or
    /// timer at all. So keep long computations behind an `.await` (for instance
    /// `tokio::task::spawn_blocking`), as in any async code. One-way messages (`shoot`,
    /// `broadcast`) always run in a task of their own, and handlers started inside one another
    /// (an actor asking actors of its own node, which ask others...) move to tasks past a few
    /// levels, so a long chain costs tasks, not stack.
    async fn handle(&self, ctx: &Context, request: Request) -> Response;

    /// Called when the actor is asked to stop, before in-flight requests are waited for
    /// (within the grace period). Only called for actors spawned as `drainable`.
    async fn drain(&self, _ctx: &Context) {}

    /// Called once after the actor stopped serving.
    async fn deinit(&self, _ctx: &Context) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine holds actors as `Arc<dyn Actor>`: this must compile.
    #[test]
    fn actor_is_object_safe() {
        fn takes(_: Option<&dyn Actor>) {}
        takes(None);
    }
}
