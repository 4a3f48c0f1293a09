//! Admin calls: a node answers for the whole cluster by placing spawns, forwarding changes to
//! the owning nodes (as [`AdminOp::OnNode`]) and fanning queries out to every node.
//!
//! A change made through a node is applied on the owner, and the owner's answer (with its new
//! partition version) is recorded in this node's directory before the call returns, so the
//! caller sees its own writes at once; the rest of the cluster converges within a sync period.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::NodeInner;
use crate::ErrorCode;
use crate::auth::{Role, constant_time_eq};
use crate::directory::Entry;
use crate::model::{ActorId, NodeId};
use crate::placement::{self, ClusterView, NodeLoad, PlacementRequest, Strategy};
use crate::wire::{ActorRecord, AdminAnswer, AdminOp, SpawnSpec};

/// How long a node waits for another node's answer to a health query during placement.
const HEALTH_WAIT: Duration = Duration::from_secs(2);

impl AdminOp {
    /// Whether the operation changes the cluster and so needs the admin token.
    pub fn needs_token(&self) -> bool {
        match self {
            AdminOp::Spawn(_)
            | AdminOp::Stop { .. }
            | AdminOp::Flush
            | AdminOp::AddCategory { .. }
            | AdminOp::RemoveCategory { .. } => true,
            AdminOp::OnNode(op) => op.needs_token(),
            AdminOp::Deploy(op) => op.changes(),
            AdminOp::Directory { .. }
            | AdminOp::Nodes
            | AdminOp::Health
            | AdminOp::Load
            | AdminOp::Metadata
            | AdminOp::Types { .. } => false,
        }
    }
}

impl NodeInner {
    /// Answers an admin call for the cluster from a peer of role `from`.
    pub(crate) async fn handle_admin(
        self: &Arc<Self>,
        op: AdminOp,
        token: Option<String>,
        from: Role,
    ) -> Result<AdminAnswer, String> {
        let reads_metadata = matches!(&op, AdminOp::Metadata)
            || matches!(&op, AdminOp::OnNode(o) if **o == AdminOp::Metadata);
        let needs_token = op.needs_token() || (self.config.metadata_needs_token && reads_metadata);
        if needs_token && !self.may_administer(token.as_deref(), from) {
            return Err(ErrorCode::Unprivileged.as_str().to_owned());
        }
        match op {
            AdminOp::OnNode(op) => self.handle_on_node(*op).await,
            AdminOp::Deploy(crate::deploy::DeployOp::Take(_)) if from != Role::Node => {
                Err("only nodes send deployment records".to_owned())
            }
            AdminOp::Deploy(op) => self.handle_deploy(op, token).await,
            AdminOp::Spawn(spec) => self.spawn_placed(*spec, token).await,
            AdminOp::Stop { realm, ids, categories, delay_ms } => {
                if delay_ms > 0 {
                    self.runtime.sleep(Duration::from_millis(delay_ms)).await;
                }
                let mut targets: Vec<ActorId> = ids;
                {
                    let st = self.lock();
                    for prefix in &categories {
                        targets.extend(st.directory.lookup(&realm, prefix));
                    }
                }
                targets.sort();
                targets.dedup();
                let mut by_owner: BTreeMap<NodeId, Vec<ActorId>> = BTreeMap::new();
                for id in targets {
                    by_owner.entry(id.node().clone()).or_default().push(id);
                }
                let calls = by_owner.into_iter().map(|(owner, ids)| {
                    let op = AdminOp::Stop {
                        realm: realm.clone(),
                        ids,
                        categories: vec![],
                        delay_ms: 0,
                    };
                    let token = token.clone();
                    async move { (owner.clone(), self.on_node(owner, op, token).await) }
                });
                let mut stopped = Vec::new();
                let mut errors = Vec::new();
                for (owner, answer) in futures::future::join_all(calls).await {
                    match answer {
                        Ok(AdminAnswer::Stopped(records)) => stopped.extend(own(&owner, records)),
                        Ok(other) => errors.push(format!("{owner}: unexpected answer {other:?}")),
                        Err(e) => errors.push(format!("{owner}: {e}")),
                    }
                }
                self.learn_records(&stopped, false);
                Ok(partial(AdminAnswer::Stopped(stopped), errors))
            }
            AdminOp::Flush => {
                let mut total = 0;
                let mut errors = Vec::new();
                for answer in self.on_every_node(AdminOp::Flush, token).await {
                    match answer {
                        Ok(AdminAnswer::Flushed(n)) => total += n,
                        Ok(other) => errors.push(format!("unexpected answer {other:?}")),
                        Err(e) => errors.push(e),
                    }
                }
                Ok(partial(AdminAnswer::Flushed(total), errors))
            }
            op @ (AdminOp::AddCategory { .. } | AdminOp::RemoveCategory { .. }) => {
                let owner = match &op {
                    AdminOp::AddCategory { id, .. } | AdminOp::RemoveCategory { id, .. } => {
                        id.node().clone()
                    }
                    _ => unreachable!("matched above"),
                };
                let answer = self.on_node(owner, op, token).await?;
                if let AdminAnswer::Recategorized(r) = &answer {
                    self.learn_records(std::slice::from_ref(r), true);
                }
                Ok(answer)
            }
            op @ (AdminOp::Directory { .. } | AdminOp::Nodes) => self.handle_on_node(op).await,
            op @ (AdminOp::Health | AdminOp::Load | AdminOp::Metadata) => {
                let mut merged: Option<AdminAnswer> = None;
                for answer in self.on_every_node(op, token).await {
                    let Ok(answer) = answer else { continue };
                    merged = Some(match (merged, answer) {
                        (None, a) => a,
                        (Some(AdminAnswer::Health(mut a)), AdminAnswer::Health(b)) => {
                            a.extend(b);
                            AdminAnswer::Health(a)
                        }
                        (Some(AdminAnswer::Load(mut a)), AdminAnswer::Load(b)) => {
                            a.extend(b);
                            AdminAnswer::Load(a)
                        }
                        (Some(AdminAnswer::Metadata(mut a)), AdminAnswer::Metadata(b)) => {
                            a.extend(b);
                            AdminAnswer::Metadata(a)
                        }
                        (Some(a), _) => a,
                    });
                }
                merged.ok_or_else(|| "no node answered".to_owned())
            }
            op @ AdminOp::Types { .. } => {
                let mut offers = Vec::new();
                for answer in self.on_every_node(op, token).await {
                    if let Ok(AdminAnswer::Types(t)) = answer {
                        offers.extend(t);
                    }
                }
                Ok(AdminAnswer::Types(super::types::merge_offers(offers)))
            }
        }
    }

    /// Whether a caller of role `from` holding `token` may change the cluster: with no admin
    /// token configured, anyone; a node that proved the cluster secret, on its own authority
    /// (clients' tokens are never forwarded between nodes); else whoever holds the token,
    /// compared in constant time.
    fn may_administer(&self, token: Option<&str>, from: Role) -> bool {
        let Some(wanted) = &self.config.admin_token else { return true };
        if from == Role::Node && self.links.authenticates() {
            return true;
        }
        token.is_some_and(|t| constant_time_eq(t.as_bytes(), wanted.as_bytes()))
    }

    /// The token to forward with an admin call to another node: none when nodes authenticate
    /// each other (they act on their own authority, and a token never leaves the node it was
    /// given to); without a cluster secret nothing is authenticated, so the caller's token
    /// goes along.
    pub(super) fn forwarded_token(&self, token: Option<String>) -> Option<String> {
        if self.links.authenticates() { None } else { token }
    }

    /// Does `op` on `node`: here directly, elsewhere as a forwarded [`AdminOp::OnNode`].
    async fn on_node(
        self: &Arc<Self>,
        node: NodeId,
        op: AdminOp,
        token: Option<String>,
    ) -> Result<AdminAnswer, String> {
        if node == self.id {
            return self.handle_on_node(op).await;
        }
        if !self.lock().membership.members().any(|m| *m == node) {
            return Err(format!("node {node} is not a live member"));
        }
        let wait = self.config.request_timeout_default;
        let token = self.forwarded_token(token);
        self.links.admin(node.endpoint(), token, AdminOp::OnNode(Box::new(op)), wait).await
    }

    /// Does `op` on every live node, this one included, concurrently.
    pub(super) async fn on_every_node(
        self: &Arc<Self>,
        op: AdminOp,
        token: Option<String>,
    ) -> Vec<Result<AdminAnswer, String>> {
        let mut nodes: Vec<NodeId> = self.lock().membership.members().cloned().collect();
        nodes.push(self.id.clone());
        let calls = nodes.into_iter().map(|n| self.on_node(n, op.clone(), token.clone()));
        futures::future::join_all(calls).await
    }

    /// Records other owners' answers in this node's directory (read-your-writes).
    fn learn_records(&self, records: &[ActorRecord], present: bool) {
        let mut st = self.lock();
        for r in records {
            st.directory.learn(&r.id, present.then(|| r.entry.clone()), r.version);
        }
    }

    /// Places `spec.count` actors by the spec's strategy and spawns them on their nodes.
    async fn spawn_placed(
        self: &Arc<Self>,
        spec: SpawnSpec,
        token: Option<String>,
    ) -> Result<AdminAnswer, String> {
        spec.check_shape()?;
        if !self.config.allows(&spec.realm, &spec.actor_type) {
            return Err(format!(
                "realm {} does not offer actor type {}",
                spec.realm, spec.actor_type
            ));
        }
        if let Some(node) = spec.node.clone() {
            let answer = self.on_node(node, AdminOp::Spawn(Box::new(spec)), token).await?;
            if let AdminAnswer::Spawned(records) = &answer {
                self.learn_records(records, true);
            }
            return Ok(answer);
        }
        let (mut offering, members) = self.offering_nodes(&spec, token.clone()).await;
        // Nothing new goes to a drained node, or to one the caller avoids.
        let before = offering.len();
        offering.retain(|n| !self.lock().deploy.set.is_drained(n) && !spec.avoid.contains(n));
        if offering.is_empty() && before > 0 {
            return Err(format!(
                "every node offering actor type {} in realm {} is drained or above its memory watermark",
                spec.actor_type, spec.realm
            ));
        }
        if offering.is_empty() {
            return Err(format!(
                "unknown actor type {:?}: none of the {members} live nodes offers it in realm {}",
                spec.actor_type.as_str(),
                spec.realm
            ));
        }
        let view = self.cluster_view(&spec, offering.clone(), token.clone()).await;
        let mut request = PlacementRequest::new(spec.strategy, spec.hint.as_deref());
        // Placement runs outside the node lock, on a generator forked from the node's: a big
        // batch must not stall membership, serving or other admin calls.
        let mut rng = {
            let mut st = self.lock();
            request.previous = st.roundrobin_previous.clone();
            crate::rng::seeded(rand::RngExt::random(&mut st.rng))
        };
        let placed =
            placement::place_batch(&view, &request, spec.count as usize, &mut rng, spec.dry_run)
                .map_err(|e| e.to_string())?;
        if spec.strategy == Strategy::Roundrobin && !spec.dry_run {
            self.lock().roundrobin_previous = placed.last().map(|p| p.node.clone());
        }
        let chosen: Vec<NodeId> = placed.iter().map(|p| p.node.clone()).collect();
        let offered = if offering.len() < members {
            format!(
                "; {} of {members} nodes offer {} in realm {}",
                offering.len(),
                spec.actor_type,
                spec.realm
            )
        } else {
            String::new()
        };
        let reasons: Vec<(NodeId, String)> =
            placed.into_iter().map(|p| (p.node, format!("{}{offered}", p.explanation))).collect();
        if spec.dry_run {
            return Ok(AdminAnswer::Placement(reasons));
        }
        let tally = placement::tally(&chosen);
        let calls = tally.into_iter().map(|(node, count)| {
            let spec = SpawnSpec { node: Some(node.clone()), count: count as u32, ..spec.clone() };
            let op = AdminOp::Spawn(Box::new(spec));
            let token = token.clone();
            async move { (node.clone(), self.on_node(node, op, token).await) }
        });
        let mut records = Vec::new();
        let mut errors = Vec::new();
        for (node, answer) in futures::future::join_all(calls).await {
            match answer {
                Ok(AdminAnswer::Spawned(r)) => records.extend(own(&node, r)),
                Ok(other) => errors.push(format!("{node}: unexpected answer {other:?}")),
                Err(e) => errors.push(e),
            }
        }
        self.learn_records(&records, true);
        // Actors that did start stay: the caller gets them and the failures.
        match (records.is_empty(), errors.is_empty()) {
            (_, true) => Ok(AdminAnswer::Spawned(records)),
            (true, false) => Err(errors.join("; ")),
            (false, false) => Ok(partial(AdminAnswer::Spawned(records), errors)),
        }
    }

    /// The live nodes that offer the spec's type in its realm (asked now: a code directory
    /// may differ from node to node, and change), and how many live nodes there are. A node
    /// that does not answer within [`HEALTH_WAIT`] is left out.
    async fn offering_nodes(
        self: &Arc<Self>,
        spec: &SpawnSpec,
        token: Option<String>,
    ) -> (Vec<NodeId>, usize) {
        let offers = self.offers(&spec.realm, &spec.actor_type, token).await;
        let members = offers.len();
        (offers.into_iter().filter(|(_, o)| *o == Some(true)).map(|(n, _)| n).collect(), members)
    }

    /// What every live node (this one included), sorted, says when asked whether it offers
    /// `actor_type` in `realm`: `Some(true)` or `Some(false)`, or `None` when it did not
    /// answer within [`HEALTH_WAIT`].
    pub(super) async fn offers(
        self: &Arc<Self>,
        realm: &crate::model::Realm,
        actor_type: &crate::model::ActorType,
        token: Option<String>,
    ) -> Vec<(NodeId, Option<bool>)> {
        let mut nodes: Vec<NodeId> = self.lock().membership.members().cloned().collect();
        nodes.push(self.id.clone());
        nodes.sort();
        let op =
            AdminOp::Types { realm: Some(realm.clone()), actor_type: Some(actor_type.clone()) };
        let calls = nodes.into_iter().map(|n| {
            let op = op.clone();
            let token = self.forwarded_token(token.clone());
            async move {
                let answer = if n == self.id {
                    self.handle_on_node(op).await
                } else {
                    let call = self.links.admin(
                        n.endpoint(),
                        token,
                        AdminOp::OnNode(Box::new(op)),
                        HEALTH_WAIT,
                    );
                    crate::runtime::timeout(&*self.runtime, HEALTH_WAIT, call)
                        .await
                        .unwrap_or_else(|| Err(ErrorCode::Timeout.as_str().to_owned()))
                };
                let offers = match answer {
                    Ok(AdminAnswer::Types(t)) => Some(!t.is_empty()),
                    _ => None,
                };
                (n, offers)
            }
        });
        futures::future::join_all(calls).await
    }

    /// The `nodes` with what placement needs to know: hint counts, and load for the
    /// `resource` strategy.
    async fn cluster_view(
        self: &Arc<Self>,
        spec: &SpawnSpec,
        nodes: Vec<NodeId>,
        token: Option<String>,
    ) -> ClusterView {
        let counts = match (&spec.hint, spec.strategy) {
            (Some(hint), Strategy::Affinity | Strategy::Repulsion) => {
                self.lock().directory.count_by_node(&spec.realm, hint)
            }
            _ => BTreeMap::new(),
        };
        let mut loads: BTreeMap<NodeId, (f64, f64)> = BTreeMap::new();
        if spec.strategy == Strategy::Resource {
            let calls = nodes.iter().map(|n| {
                let n = n.clone();
                let token = token.clone();
                async move {
                    let answer = if n == self.id {
                        self.handle_on_node(AdminOp::Health).await
                    } else {
                        crate::runtime::timeout(
                            &*self.runtime,
                            HEALTH_WAIT,
                            self.links.admin(
                                n.endpoint(),
                                token,
                                AdminOp::OnNode(Box::new(AdminOp::Health)),
                                HEALTH_WAIT,
                            ),
                        )
                        .await
                        .unwrap_or_else(|| Err(ErrorCode::Timeout.as_str().to_owned()))
                    };
                    (n, answer)
                }
            });
            for (n, answer) in futures::future::join_all(calls).await {
                // A node that does not answer counts as fully loaded.
                let load = match answer {
                    Ok(AdminAnswer::Health(h)) => {
                        h.first().map_or((1.0, 1.0), |h| (h.cpu, h.memory))
                    }
                    _ => (1.0, 1.0),
                };
                loads.insert(n, load);
            }
        }
        ClusterView::new(
            nodes
                .into_iter()
                .map(|id| {
                    let (cpu, memory) = loads.get(&id).copied().unwrap_or((0.0, 0.0));
                    let hint_matches = counts.get(&id).copied().unwrap_or(0);
                    NodeLoad { id, cpu, memory, hint_matches }
                })
                .collect(),
        )
    }
}

/// The entry of a spawned actor, as the directory records it.
pub(crate) fn entry_of(spec: &SpawnSpec) -> Entry {
    Entry {
        realm: spec.realm.clone(),
        actor_type: spec.actor_type.clone(),
        categories: Arc::new(spec.categories.iter().cloned().collect()),
        owner: spec.deployment.clone(),
    }
}

/// `done`, or a [`AdminAnswer::Partial`] of it when some nodes failed.
fn partial(done: AdminAnswer, errors: Vec<String>) -> AdminAnswer {
    if errors.is_empty() { done } else { AdminAnswer::Partial { done: Box::new(done), errors } }
}

/// The records of `answering`'s own actors: a node answers for what it hosts, nothing else.
fn own(answering: &NodeId, records: Vec<ActorRecord>) -> Vec<ActorRecord> {
    let total = records.len();
    let own: Vec<ActorRecord> = records.into_iter().filter(|r| r.id.node() == answering).collect();
    if own.len() < total {
        tracing::warn!(node = %answering, "ignored {} records of other nodes' actors", total - own.len());
    }
    own
}
