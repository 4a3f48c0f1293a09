//! Reconciliation, a pure function: a deployment's spec, the replicas the directory shows and
//! the nodes that may host one go in; what to start and what to stop comes out. The node
//! that acts for the deployment runs it every sync period and does what it says (see
//! `node/deploy.rs`); the same function under a property test shows it converges.
//!
//! The rules:
//! - A replica is *updated* when it was started for the spec's current template and runs on
//!   a node that may host it; every other replica is *old*.
//! - While fewer than the desired count are updated, new ones start, never more than
//!   `max_surge` above the desired count in all; old ones stop only while the count stays at
//!   least `max_unavailable` below the desired one. With the default (1, 0) a rollout goes
//!   one replica at a time and the category never shrinks.
//! - Once enough are updated, every old replica stops, and updated ones beyond the desired
//!   count stop in a fixed order: from the node with the most replicas of the deployment
//!   (ties: the greater node id), the youngest there first. Two reconcilers that saw the same
//!   replicas (after a partition heals) trim the same ones.
//! - With `per_node`, the same rules hold on each node separately, and replicas on a node that
//!   may no longer host one stop.
//!
//! A replica appears in the directory once its `init` returned, so every replica seen is
//! ready: "not ready first" in the scale-down order is the spawns still in flight, which are
//! not stopped because they are not seen; the next period sees them and trims if need be.

use std::collections::BTreeMap;

use super::spec::{DeploymentSpec, Replicas};
use crate::model::{ActorId, NodeId};

/// A replica of a deployment as the directory shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// The actor.
    pub id: ActorId,
    /// The template version it was started for.
    pub template: u64,
    /// When it started (milliseconds since the Unix epoch; 0 when unknown, never expires).
    pub born_ms: u64,
}

/// New replicas to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// On this node (`per_node`), or `None` to place them by the spec's strategy.
    pub node: Option<NodeId>,
    /// How many.
    pub count: u32,
}

/// What to do now for one deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Replicas to start.
    pub start: Vec<Start>,
    /// Replicas to stop (drained first).
    pub stop: Vec<ActorId>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.start.is_empty() && self.stop.is_empty()
    }
}

/// How many replicas of a deployment there are, and how many are updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// The replicas wanted: `replicas`, or `per_node` times the nodes that may host one.
    pub desired: u32,
    /// The replicas running.
    pub running: u32,
    /// The replicas running for the current template on a node that may host them.
    pub updated: u32,
}

impl Counts {
    /// Whether the deployment is where its spec says: exactly the desired replicas, all
    /// updated.
    pub fn complete(&self) -> bool {
        self.running == self.desired && self.updated == self.desired
    }
}

/// The counts of a deployment at `template` whose replicas are `replicas`, with `nodes` the
/// nodes that may host one.
pub fn counts(
    spec: &DeploymentSpec,
    template: u64,
    replicas: &[Replica],
    nodes: &[NodeId],
) -> Counts {
    let desired = match spec.wanted() {
        Replicas::Total(n) => n,
        Replicas::PerNode(n) => n.saturating_mul(nodes.len() as u32),
    };
    let updated = replicas.iter().filter(|r| is_updated(r, template, nodes)).count() as u32;
    Counts { desired, running: replicas.len() as u32, updated }
}

/// What to do for a deployment at `template` whose replicas are `replicas`, with `nodes` the
/// nodes that may host one (alive, offering the type, not drained), at `now_ms` (milliseconds
/// since the Unix epoch, for `max_age`).
pub fn reconcile(
    spec: &DeploymentSpec,
    template: u64,
    replicas: &[Replica],
    nodes: &[NodeId],
    now_ms: u64,
) -> Plan {
    // One expired replica at a time counts as old, and only once nothing else is: it is
    // replaced like a rollout replaces, the new one running before the old one stops.
    let expired = expired(spec, template, replicas, nodes, now_ms);
    let replicas: Vec<Replica> = replicas
        .iter()
        .map(|r| match &expired {
            Some(id) if &r.id == id => Replica { template: 0, ..r.clone() },
            _ => r.clone(),
        })
        .collect();
    let replicas = replicas.as_slice();
    let surge = spec.rollout.max_surge;
    let unavailable = spec.rollout.max_unavailable;
    match spec.wanted() {
        Replicas::Total(desired) => {
            let (updated, old): (Vec<&Replica>, Vec<&Replica>) =
                replicas.iter().partition(|r| is_updated(r, template, nodes));
            let (start, stop) = one_set(desired, surge, unavailable, updated, old, nodes);
            let start = (start > 0).then_some(Start { node: None, count: start });
            Plan { start: start.into_iter().collect(), stop }
        }
        Replicas::PerNode(each) => {
            let mut plan = Plan::default();
            let mut by_node: BTreeMap<&NodeId, Vec<&Replica>> = BTreeMap::new();
            for r in replicas {
                by_node.entry(r.id.node()).or_default().push(r);
            }
            for (node, on_it) in &by_node {
                if !nodes.contains(node) {
                    plan.stop.extend(on_it.iter().map(|r| r.id.clone()));
                }
            }
            for node in nodes {
                let on_it = by_node.get(node).cloned().unwrap_or_default();
                let (updated, old): (Vec<&Replica>, Vec<&Replica>) =
                    on_it.into_iter().partition(|r| r.template == template);
                let (start, stop) = one_set(each, surge, unavailable, updated, old, nodes);
                if start > 0 {
                    plan.start.push(Start { node: Some(node.clone()), count: start });
                }
                plan.stop.extend(stop);
            }
            plan
        }
    }
}

/// The replica to recycle now for `max_age`, if any: the one furthest past its age (each
/// replica's age limit shortened by up to a tenth, by a hash of its id, so replicas started
/// together expire apart), and only while every replica is updated and none is missing
/// (counting the expired one: while its replacement starts, there is one more).
fn expired(
    spec: &DeploymentSpec,
    template: u64,
    replicas: &[Replica],
    nodes: &[NodeId],
    now_ms: u64,
) -> Option<ActorId> {
    let max_age = spec.max_age?.as_millis() as u64;
    let c = counts(spec, template, replicas, nodes);
    if c.updated != c.running || c.updated < c.desired {
        return None;
    }
    replicas
        .iter()
        .filter(|r| r.born_ms > 0)
        .filter_map(|r| {
            let spread = xxhash_rust::xxh3::xxh3_64(r.id.to_string().as_bytes()) % 1000;
            let limit = max_age - max_age / 10 * spread / 1000;
            let age = now_ms.saturating_sub(r.born_ms);
            (age > limit).then(|| (age - limit, r.id.clone()))
        })
        .max()
        .map(|(_, id)| id)
}

fn is_updated(r: &Replica, template: u64, nodes: &[NodeId]) -> bool {
    r.template == template && nodes.contains(r.id.node())
}

/// The rules for one set of `desired` replicas: how many to start and which to stop.
fn one_set(
    desired: u32,
    surge: u32,
    unavailable: u32,
    updated: Vec<&Replica>,
    old: Vec<&Replica>,
    nodes: &[NodeId],
) -> (u32, Vec<ActorId>) {
    let (u, o) = (updated.len() as u32, old.len() as u32);
    let old = old_first(old, nodes);
    if u >= desired {
        let mut stop: Vec<ActorId> = old.into_iter().map(|r| r.id.clone()).collect();
        stop.extend(surplus(&updated, (u - desired) as usize));
        return (0, stop);
    }
    let total = u + o;
    let keep = desired.saturating_sub(unavailable);
    let stopping = o.min(total.saturating_sub(keep));
    let start = (desired - u).min((desired + surge).saturating_sub(total - stopping));
    (start, old.into_iter().take(stopping as usize).map(|r| r.id.clone()).collect())
}

/// Old replicas in the order they go: those on nodes that may no longer host one, then the
/// oldest template, then the surplus order.
fn old_first<'a>(old: Vec<&'a Replica>, nodes: &[NodeId]) -> Vec<&'a Replica> {
    let mut groups: BTreeMap<(bool, u64), Vec<&Replica>> = BTreeMap::new();
    for r in old {
        groups.entry((nodes.contains(r.id.node()), r.template)).or_default().push(r);
    }
    let mut ordered = Vec::new();
    for group in groups.into_values() {
        let n = group.len();
        let ids = surplus(&group, n);
        ordered.extend(ids.iter().filter_map(|id| group.iter().find(|r| &r.id == id).copied()));
    }
    ordered
}

/// `n` of `replicas` to stop: each from the node with the most of them left (ties: the
/// greater node id), the youngest (highest sequence number) there.
fn surplus(replicas: &[&Replica], n: usize) -> Vec<ActorId> {
    let mut by_node: BTreeMap<&NodeId, Vec<&ActorId>> = BTreeMap::new();
    for r in replicas {
        by_node.entry(r.id.node()).or_default().push(&r.id);
    }
    for ids in by_node.values_mut() {
        ids.sort_by_key(|id| id.seq());
    }
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let Some((_, ids)) = by_node
            .iter_mut()
            .filter(|(_, ids)| !ids.is_empty())
            .max_by_key(|(node, ids)| (ids.len(), **node))
        else {
            break;
        };
        out.push(ids.pop().expect("not empty").clone());
    }
    out
}

/// The node that acts for the deployment `name`: the rendezvous winner of the name among
/// `nodes` (alive, not drained), so no election is needed and a dead reconciler's duty moves
/// by membership alone. `None` when there are no nodes.
pub fn reconciler<'a>(
    name: &str,
    nodes: impl IntoIterator<Item = &'a NodeId>,
) -> Option<&'a NodeId> {
    nodes.into_iter().max_by_key(|n| (duty_score(name, n), *n))
}

/// The score of `node` for the deployment `name`: xxh3 over a fixed byte layout, the same in
/// every process and build.
fn duty_score(name: &str, node: &NodeId) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&(name.len() as u64).to_le_bytes());
    h.update(name.as_bytes());
    h.update(node.endpoint().as_str().as_bytes());
    h.update(&node.generation().to_le_bytes());
    h.digest()
}
