//! What a handle needs from the node or client (or test) it belongs to.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use super::{CallError, RouteObserver};
use crate::model::{ActorId, NodeId, Realm};
use crate::rng::NodeRng;
use crate::runtime::Runtime;
use crate::value::Payload;
use crate::wire;

/// What a handle needs from the node or client it belongs to.
#[async_trait]
pub(crate) trait Port: Send + Sync + 'static {
    fn runtime(&self) -> &dyn Runtime;
    /// The members of `realm` whose category starts with `prefix`, from the local view.
    fn members(&self, realm: &Realm, prefix: &str) -> Vec<ActorId>;
    fn subcategories(&self, realm: &Realm, root: &str) -> BTreeMap<String, Vec<ActorId>>;
    /// Asks an authoritative source when the local view has no member (a client asks its
    /// entry node); a node's own view is authoritative, so by default the local view answers.
    /// `Err` says why it could not be asked (unreachable, unprivileged): not the same as "no
    /// actors". It waits at most `wait` (what remains of the request's time).
    async fn resolve(
        &self,
        realm: &Realm,
        prefix: &str,
        _wait: std::time::Duration,
    ) -> Result<Vec<ActorId>, String> {
        Ok(self.members(realm, prefix))
    }
    fn local_node(&self) -> Option<&NodeId>;
    /// How `actor` looks from this port, for routing: one look-up.
    fn reach(&self, actor: &ActorId) -> crate::routing::Reach;
    fn fork_rng(&self) -> NodeRng;
    fn next_request_id(&self) -> u64;
    fn default_timeout(&self) -> Duration;
    /// Sends one attempt and waits for its reply until `request.timeout_ms` runs out.
    async fn call(&self, request: wire::ActorCall) -> Result<Payload, CallError>;
    /// Sends a one-way message; `false` when it could not even be sent.
    fn tell(&self, request: wire::ActorCall) -> bool;
    /// Requests in flight from this port to `actor`.
    fn pending(&self, actor: &ActorId) -> u64;
    /// Stops a hosted actor (an actor stopping itself); nothing for a client.
    fn stop_actor(&self, id: &ActorId);
    /// Who hears of each request's outcome (a node's metrics); none for a client.
    fn routes(&self) -> Option<&dyn RouteObserver> {
        None
    }
}

/// Routing sees a member as the port does.
impl crate::routing::Nearness for dyn Port {
    fn reach(&self, actor: &ActorId) -> crate::routing::Reach {
        Port::reach(self, actor)
    }
}
