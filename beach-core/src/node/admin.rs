//! Admin calls: a node answers for the whole cluster by placing spawns, forwarding changes to
//! the owning nodes (as [`AdminOp::OnNode`]) and fanning queries out to every node.
//!
//! A change made through a node is applied on the owner, and the owner's answer (with its new
//! partition version) is recorded in this node's directory before the call returns, so the
//! caller sees its own writes at once; the rest of the cluster converges within a sync period.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::NodeInner;
use crate::ErrorCode;
use crate::auth::{Role, constant_time_eq};
use crate::directory::Entry;
use crate::model::{ActorId, NodeId};
use crate::placement::{self, ClusterView, NodeLoad, PlacementRequest, Strategy};
use crate::wire::{
    ActorLoad, ActorMetadata, ActorRecord, AdminAnswer, AdminOp, NodeHealth, NodeInfo,
    NodeMetadata, SpawnSpec,
};

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
            AdminOp::Directory { .. }
            | AdminOp::Nodes
            | AdminOp::Health
            | AdminOp::Load
            | AdminOp::Metadata => false,
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
        }
    }

    /// Answers an admin call about this node only.
    fn handle_on_node(self: &Arc<Self>, op: AdminOp) -> BoxFuture<'_, Result<AdminAnswer, String>> {
        Box::pin(async move {
            match op {
                AdminOp::Spawn(spec) => {
                    if spec.node.as_ref().is_some_and(|n| *n != self.id) {
                        return Err(ErrorCode::WrongDest.as_str().to_owned());
                    }
                    self.spawn_local(&spec).await.map(AdminAnswer::Spawned)
                }
                AdminOp::Stop { ids, .. } => {
                    let mine: Vec<ActorId> =
                        ids.into_iter().filter(|id| id.node() == &self.id).collect();
                    Ok(AdminAnswer::Stopped(self.stop_local(&mine, false).await))
                }
                AdminOp::Flush => {
                    let ids: Vec<ActorId> = self.lock().actors.keys().cloned().collect();
                    Ok(AdminAnswer::Flushed(self.stop_local(&ids, false).await.len() as u64))
                }
                AdminOp::AddCategory { id, category }
                | AdminOp::RemoveCategory { id, category }
                    if id.node() != &self.id || !self.lock().actors.contains_key(&id) =>
                {
                    let _ = category;
                    Err(format!(
                        "{}: no actor {id} on node {}",
                        ErrorCode::WrongDest.as_str(),
                        self.id
                    ))
                }
                AdminOp::AddCategory { id, category } => {
                    self.recategorize(&id, |d| d.add_category(&id, category))
                }
                AdminOp::RemoveCategory { id, category } => {
                    self.recategorize(&id, |d| d.remove_category(&id, &category))
                }
                AdminOp::Directory { realm, prefix, after } => {
                    let all = self.lock().directory.categories(&realm, &prefix);
                    Ok(directory_page(all, after.as_ref()))
                }
                AdminOp::Nodes => {
                    let st = self.lock();
                    let suspects = st.membership.suspects();
                    let info = |id: &NodeId| NodeInfo {
                        id: id.clone(),
                        state: if suspects.contains(id) { "suspect" } else { "alive" }.to_owned(),
                        actors: st.directory.partition(id).map_or(0, |p| p.entries.len() as u64),
                    };
                    let mut nodes: Vec<NodeInfo> = st.membership.members().map(info).collect();
                    nodes.push(info(&self.id));
                    nodes.sort_by(|a, b| a.id.cmp(&b.id));
                    Ok(AdminAnswer::Nodes(nodes))
                }
                AdminOp::Health => {
                    let (cpu, memory) = self.load();
                    Ok(AdminAnswer::Health(vec![NodeHealth { node: self.id.clone(), cpu, memory }]))
                }
                AdminOp::Load => {
                    let st = self.lock();
                    let loads = st
                        .actors
                        .values()
                        .map(|c| {
                            let latency = c.stats.latency();
                            ActorLoad {
                                id: c.id.clone(),
                                in_flight: c.stats.in_flight(),
                                received: c.stats.received_count(),
                                replied: c.stats.replied_count(),
                                queue_full: c.stats.queue_full_count(),
                                dropped: c.stats.dropped_count(),
                                errors: c.stats.errors(),
                                mean_ms: latency.mean().as_secs_f64() * 1000.0,
                                p50_ms: latency.quantile(0.5).as_secs_f64() * 1000.0,
                                p99_ms: latency.quantile(0.99).as_secs_f64() * 1000.0,
                            }
                        })
                        .collect();
                    Ok(AdminAnswer::Load(loads))
                }
                AdminOp::Metadata => {
                    let st = self.lock();
                    let actors = st
                        .actors
                        .values()
                        .map(|c| ActorMetadata {
                            id: c.id.clone(),
                            actor_type: c.spec.actor_type.clone(),
                            realm: c.realm.clone(),
                            categories: st
                                .directory
                                .entry(&c.id)
                                .map(|e| e.categories.iter().cloned().collect())
                                .unwrap_or_default(),
                            params: c.public_params(),
                            isolated: c.spec.isolated,
                            owner: c.spec.owner.clone(),
                            drainable: c.spec.drainable,
                        })
                        .collect();
                    Ok(AdminAnswer::Metadata(vec![NodeMetadata { node: self.id.clone(), actors }]))
                }
                AdminOp::OnNode(_) => Err("admin calls cannot be nested".to_owned()),
            }
        })
    }

    fn recategorize(
        &self,
        id: &ActorId,
        edit: impl FnOnce(
            &mut crate::directory::Directory,
        ) -> Result<bool, crate::directory::DirectoryError>,
    ) -> Result<AdminAnswer, String> {
        let mut st = self.lock();
        edit(&mut st.directory).map_err(|e| e.to_string())?;
        let entry = st.directory.entry(id).cloned().ok_or_else(|| format!("no actor {id}"))?;
        let version = st.directory.own().version;
        self.push_delta(&mut st);
        Ok(AdminAnswer::Recategorized(ActorRecord { id: id.clone(), entry, version }))
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
    fn forwarded_token(&self, token: Option<String>) -> Option<String> {
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
    async fn on_every_node(
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
        self.check_spawnable(&spec)?;
        if let Some(node) = spec.node.clone() {
            let answer = self.on_node(node, AdminOp::Spawn(Box::new(spec)), token).await?;
            if let AdminAnswer::Spawned(records) = &answer {
                self.learn_records(records, true);
            }
            return Ok(answer);
        }
        let view = self.cluster_view(&spec, token.clone()).await;
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
        let reasons: Vec<(NodeId, String)> =
            placed.into_iter().map(|p| (p.node, p.explanation.to_string())).collect();
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

    /// The live nodes with what placement needs to know: hint counts, and load for the
    /// `resource` strategy.
    async fn cluster_view(
        self: &Arc<Self>,
        spec: &SpawnSpec,
        token: Option<String>,
    ) -> ClusterView {
        let (mut nodes, counts) = {
            let st = self.lock();
            let mut nodes: Vec<NodeId> = st.membership.members().cloned().collect();
            nodes.push(self.id.clone());
            let counts = match (&spec.hint, spec.strategy) {
                (Some(hint), Strategy::Affinity | Strategy::Repulsion) => {
                    st.directory.count_by_node(&spec.realm, hint)
                }
                _ => BTreeMap::new(),
            };
            (nodes, counts)
        };
        nodes.sort();
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

/// The page of `all` that starts after `after`: at most [`crate::wire::DIRECTORY_PAGE`] ids, in
/// (category, id) order.
fn directory_page(
    all: BTreeMap<crate::model::Category, Vec<ActorId>>,
    after: Option<&(crate::model::Category, ActorId)>,
) -> AdminAnswer {
    let mut categories: BTreeMap<crate::model::Category, Vec<ActorId>> = BTreeMap::new();
    let mut taken = 0;
    for (category, mut ids) in all {
        if after.is_some_and(|(c, _)| category < *c) {
            continue;
        }
        // The cursor compares ids: they must come in order.
        ids.sort_unstable();
        for id in ids {
            if after.is_some_and(|(c, last)| category == *c && id <= *last) {
                continue;
            }
            if taken == crate::wire::DIRECTORY_PAGE {
                let next = categories
                    .iter()
                    .next_back()
                    .and_then(|(c, ids)| Some((c.clone(), ids.last()?.clone())));
                return AdminAnswer::Directory { categories, next };
            }
            categories.entry(category.clone()).or_default().push(id);
            taken += 1;
        }
    }
    AdminAnswer::Directory { categories, next: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Category;

    #[test]
    fn directory_pages_cover_everything_once_in_order() {
        let node: NodeId = "10.0.0.1:4999#1".parse().unwrap();
        let mut all: BTreeMap<Category, Vec<ActorId>> = BTreeMap::new();
        for (c, n) in [("a", 70_000u64), ("b", 3), ("c", 60_000)] {
            let ids = (0..n).map(|i| node.actor_id(i + 1)).collect::<Vec<_>>();
            all.insert(Category::new(c).unwrap(), ids);
        }
        let mut got: BTreeMap<Category, Vec<ActorId>> = BTreeMap::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let AdminAnswer::Directory { categories, next } =
                directory_page(all.clone(), after.as_ref())
            else {
                panic!()
            };
            pages += 1;
            assert!(
                categories.values().map(Vec::len).sum::<usize>() <= crate::wire::DIRECTORY_PAGE
            );
            for (c, ids) in categories {
                got.entry(c).or_default().extend(ids);
            }
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(got, all);
    }
}
