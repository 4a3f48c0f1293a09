//! The client side of handles: members come from the client's copy of the directory, requests
//! go straight to the hosting node.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use rand::{RngExt, SeedableRng};

use super::ClientInner;
use crate::actor::{CallError, Port};
use crate::model::{ActorId, NodeId, Realm};
use crate::rng::NodeRng;
use crate::runtime::Runtime;
use crate::value::Payload;
use crate::wire::{self, AdminAnswer, AdminOp, Envelope};

/// What an actor hosted outside any node (an isolated actor's process) does when it stops
/// itself.
pub(crate) type StopSelf = Arc<dyn Fn() + Send + Sync>;

/// The longest a client waits for its entry node to look a category up.
const LOOKUP_WAIT: Duration = Duration::from_secs(2);

pub(crate) struct ClientPort {
    client: Arc<ClientInner>,
    stop_self: Option<StopSelf>,
}

impl ClientPort {
    pub(crate) fn new(client: Arc<ClientInner>, stop_self: Option<StopSelf>) -> Self {
        Self { client, stop_self }
    }
}

#[async_trait]
impl Port for ClientPort {
    fn runtime(&self) -> &dyn Runtime {
        &*self.client.runtime
    }

    fn members(&self, realm: &Realm, prefix: &str) -> Vec<ActorId> {
        self.client.view.lock().expect("client lock").lookup(realm, prefix)
    }

    fn subcategories(&self, realm: &Realm, root: &str) -> BTreeMap<String, Vec<ActorId>> {
        self.client.view.lock().expect("client lock").subcategories(realm, root)
    }

    /// The local copy had nobody: ask the entry node, whose view is fresher, for at most
    /// [`LOOKUP_WAIT`] and never beyond the request's own time.
    async fn resolve(
        &self,
        realm: &Realm,
        prefix: &str,
        wait: Duration,
    ) -> Result<Vec<ActorId>, String> {
        let entry = self.client.entry.lock().expect("client lock").clone();
        let op =
            AdminOp::Directory { realm: realm.clone(), prefix: prefix.to_owned(), after: None };
        match self.client.links.admin(&entry, None, op, wait.min(LOOKUP_WAIT)).await {
            // The first page is plenty to route a request.
            Ok(AdminAnswer::Directory { categories, .. }) => {
                let mut ids: Vec<ActorId> = categories.into_values().flatten().collect();
                ids.sort();
                ids.dedup();
                Ok(ids)
            }
            Ok(other) => Err(format!("unexpected answer to a look-up: {other:?}")),
            Err(e) => Err(format!("look-up at {entry} failed: {e}")),
        }
    }

    fn local_node(&self) -> Option<&NodeId> {
        None
    }

    /// Through the entry, every node is as near as any other: random picks stay uniform
    /// instead of favouring the entry's own actors.
    fn reach(&self, actor: &ActorId) -> crate::routing::Reach {
        let reach = self.client.links.reach(actor);
        if self.client.options.through_entry {
            // Every request goes through the entry node, connected or not.
            crate::routing::Reach { failing: false, connected: true, ..reach }
        } else {
            reach
        }
    }

    fn fork_rng(&self) -> NodeRng {
        NodeRng::seed_from_u64(self.client.rng.lock().expect("client lock").random())
    }

    fn next_request_id(&self) -> u64 {
        self.client.next_request_id.fetch_add(1, Ordering::Relaxed)
    }

    fn default_timeout(&self) -> Duration {
        self.client.options.request_timeout
    }

    async fn call(&self, request: wire::ActorCall) -> Result<Payload, CallError> {
        if self.client.options.through_entry {
            let entry = self.client.entry.lock().expect("client lock").clone();
            return self.client.links.call_via(entry, request).await;
        }
        self.client.links.call(request).await
    }

    fn tell(&self, request: wire::ActorCall) -> bool {
        let to = if self.client.options.through_entry {
            self.client.entry.lock().expect("client lock").clone()
        } else {
            request.to.node().endpoint().clone()
        };
        self.client.links.send(&to, Envelope::OneWay(request))
    }

    fn routes(&self) -> Option<&dyn crate::actor::RouteObserver> {
        self.client.routes.get().map(|r| &**r)
    }

    fn pending(&self, actor: &ActorId) -> u64 {
        self.client.links.in_flight(actor)
    }

    fn stop_actor(&self, _id: &ActorId) {
        if let Some(stop) = &self.stop_self {
            stop();
        }
    }
}
