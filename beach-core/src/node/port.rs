//! The node side of handles: actors' requests resolve members from the node's directory and go
//! out through its links (or straight to a hosted actor).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use rand::{RngExt, SeedableRng};
use tokio::sync::oneshot;

use super::NodeInner;
use super::cell::{ReplyTo, Served};
use crate::ErrorCode;
use crate::actor::{CallError, Port, RouteObserver};
use crate::model::{ActorId, NodeId, Realm};
use crate::rng::NodeRng;
use crate::runtime::{Runtime, timeout};
use crate::value::Payload;
use crate::wire::{self, Envelope};

/// A node's [`Port`]: held by every hosted actor's context and handles. It holds the node
/// weakly, so actors do not keep a stopped node alive.
pub(crate) struct NodePort {
    node: Weak<NodeInner>,
    id: NodeId,
    runtime: Arc<dyn Runtime>,
    default_timeout: Duration,
    /// Who hears of each request (set once, by `Node::observe_routes`).
    pub(super) routes: OnceLock<Arc<dyn RouteObserver>>,
}

impl NodePort {
    /// The port of the node `node` refers to (made while the node itself is being built).
    pub(crate) fn new(
        node: Weak<NodeInner>,
        id: NodeId,
        runtime: Arc<dyn Runtime>,
        default_timeout: Duration,
    ) -> Self {
        Self { node, id, runtime, default_timeout, routes: OnceLock::new() }
    }
}

#[async_trait]
impl Port for NodePort {
    fn runtime(&self) -> &dyn Runtime {
        &*self.runtime
    }

    fn members(&self, realm: &Realm, prefix: &str) -> Vec<ActorId> {
        self.node.upgrade().map(|n| n.lock().directory.lookup(realm, prefix)).unwrap_or_default()
    }

    fn subcategories(&self, realm: &Realm, root: &str) -> BTreeMap<String, Vec<ActorId>> {
        self.node
            .upgrade()
            .map(|n| n.lock().directory.subcategories(realm, root))
            .unwrap_or_default()
    }

    fn local_node(&self) -> Option<&NodeId> {
        Some(&self.id)
    }

    fn reach(&self, actor: &ActorId) -> crate::routing::Reach {
        self.node.upgrade().map_or(crate::routing::Reach::UNKNOWN, |n| n.links.reach(actor))
    }

    fn fork_rng(&self) -> NodeRng {
        let seed = self.node.upgrade().map_or(0, |n| n.lock().rng.random());
        NodeRng::seed_from_u64(seed)
    }

    fn next_request_id(&self) -> u64 {
        self.node.upgrade().map_or(0, |n| n.next_request_id())
    }

    fn default_timeout(&self) -> Duration {
        self.default_timeout
    }

    async fn call(&self, request: wire::ActorCall) -> Result<Payload, CallError> {
        let Some(node) = self.node.upgrade() else {
            return Err(CallError::Unreachable("node stopped".into()));
        };
        if request.to.node() != &self.id {
            let links = node.links.clone();
            drop(node);
            return links.call(request).await;
        }
        // A hosted actor: no connection, no encoding, and for a handler that does not wait,
        // no task, channel or timer either.
        let actor = request.to.clone();
        let wait = Duration::from_millis(request.timeout_ms);
        let running = match node.start_serving(request) {
            Served::Done(Some(result)) => return result.map_err(CallError::Remote),
            Served::Done(None) => return Err(CallError::Timeout),
            Served::Running(running) => running,
        };
        let (tx, rx) = oneshot::channel();
        node.links.begin_local(&actor);
        running.finish(ReplyTo::Local(tx));
        let links = node.links.clone();
        drop(node);
        let result = timeout(&*self.runtime, wait, rx).await;
        links.end_local(&actor);
        match result {
            Some(Ok(r)) => r.map_err(CallError::Remote),
            // The actor stopped while serving: as if it had never been here.
            Some(Err(_)) => Err(CallError::Remote(wire::RemoteError {
                error: ErrorCode::WrongDest.as_str().into(),
                data: None,
            })),
            None => Err(CallError::Timeout),
        }
    }

    fn tell(&self, request: wire::ActorCall) -> bool {
        let Some(node) = self.node.upgrade() else { return false };
        if request.to.node() == &self.id {
            node.serve(request, ReplyTo::Nobody);
            true
        } else {
            let to = request.to.node().endpoint().clone();
            node.links.send(&to, Envelope::OneWay(request))
        }
    }

    fn pending(&self, actor: &ActorId) -> u64 {
        self.node.upgrade().map_or(0, |n| n.links.in_flight(actor))
    }

    fn routes(&self) -> Option<&dyn RouteObserver> {
        self.routes.get().map(|r| &**r)
    }

    fn stop_actor(&self, id: &ActorId) {
        if let Some(node) = self.node.upgrade() {
            let id = id.clone();
            let n = node.clone();
            node.spawn_task(async move {
                n.stop_local(&[id], false).await;
            });
        }
    }
}
