//! What the client's read calls return. These are the API's types, made from the wire's
//! answers: the wire can change behind a protocol version without breaking programs, and each
//! type is `#[non_exhaustive]` so that fields can be added.

use std::collections::BTreeMap;
use std::fmt;

use crate::model::{ActorId, ActorType, Category, NodeId, Realm};
use crate::value::Value;
use crate::wire;

/// How the node answering sees a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodeState {
    /// Answering its probes.
    Alive,
    /// Missed its probes lately: it may be down, or slow, or cut off.
    Suspect,
    /// A state this client does not know (a newer node's).
    Unknown,
}

impl NodeState {
    /// How the CLI and the wire write it: `alive`, `suspect`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Alive => "alive",
            NodeState::Suspect => "suspect",
            NodeState::Unknown => "unknown",
        }
    }

    fn of_wire(state: &str) -> Self {
        match state {
            "alive" => NodeState::Alive,
            "suspect" => NodeState::Suspect,
            _ => NodeState::Unknown,
        }
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member of the cluster.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NodeInfo {
    /// Its identity.
    pub id: NodeId,
    /// How the node answering sees it.
    pub state: NodeState,
    /// How many actors it hosts.
    pub actors: u64,
    /// Drained for maintenance (`beach drain`): nothing new is placed on it.
    pub drained: bool,
}

impl From<wire::NodeInfo> for NodeInfo {
    fn from(n: wire::NodeInfo) -> Self {
        Self { state: NodeState::of_wire(&n.state), id: n.id, actors: n.actors, drained: n.drained }
    }
}

/// An actor type that nodes offer in a realm, as `beach types` lists it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TypeInfo {
    /// The realm.
    pub realm: Realm,
    /// The type's name.
    pub actor_type: ActorType,
    /// Where these nodes get it from (the one they use when several offer the name).
    pub origin: crate::model::Origin,
    /// The sha256 of its program, for a code directory's type: nodes with different files
    /// are listed apart.
    pub sha256: Option<String>,
    /// The nodes that offer it, sorted.
    pub nodes: Vec<NodeId>,
}

impl From<wire::TypeOffer> for TypeInfo {
    fn from(t: wire::TypeOffer) -> Self {
        Self {
            realm: t.realm,
            actor_type: t.actor_type,
            origin: t.origin,
            sha256: t.sha256,
            nodes: t.nodes,
        }
    }
}

/// A node's resource use, as fractions of its capacity (0.0 to 1.0).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NodeHealth {
    /// The node.
    pub node: NodeId,
    /// CPU use.
    pub cpu: f64,
    /// Memory use.
    pub memory: f64,
}

impl From<wire::NodeHealth> for NodeHealth {
    fn from(h: wire::NodeHealth) -> Self {
        Self { node: h.node, cpu: h.cpu, memory: h.memory }
    }
}

/// One actor's load and statistics.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ActorLoad {
    /// The actor.
    pub id: ActorId,
    /// Requests being served now.
    pub in_flight: u64,
    /// Requests received.
    pub received: u64,
    /// Requests answered (successes and errors).
    pub replied: u64,
    /// Requests refused with `queue full`.
    pub queue_full: u64,
    /// Requests dropped unanswered because their deadline passed before they were served.
    pub dropped: u64,
    /// Error replies by message.
    pub errors: BTreeMap<String, u64>,
    /// Mean latency in milliseconds.
    pub mean_ms: f64,
    /// Median latency in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency in milliseconds.
    pub p99_ms: f64,
    /// The actor's own counters (py-beach's `zSet`/`zInc`, `Context::counter`) and rates
    /// (`Context::rate`, in events per second).
    pub custom: BTreeMap<String, f64>,
    /// Requests answered per second, over the last whole second.
    pub per_second: f64,
}

impl From<wire::ActorLoad> for ActorLoad {
    fn from(l: wire::ActorLoad) -> Self {
        Self {
            id: l.id,
            in_flight: l.in_flight,
            received: l.received,
            replied: l.replied,
            queue_full: l.queue_full,
            dropped: l.dropped,
            errors: l.errors,
            mean_ms: l.mean_ms,
            p50_ms: l.p50_ms,
            p99_ms: l.p99_ms,
            custom: l.custom,
            per_second: l.per_second,
        }
    }
}

/// The actors of one node, described.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NodeMetadata {
    /// The node.
    pub node: NodeId,
    /// Its actors.
    pub actors: Vec<ActorMetadata>,
}

impl From<wire::NodeMetadata> for NodeMetadata {
    fn from(m: wire::NodeMetadata) -> Self {
        Self { node: m.node, actors: m.actors.into_iter().map(Into::into).collect() }
    }
}

/// One actor, described; private parameters are shown as `<PRIVATE>`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ActorMetadata {
    /// The actor.
    pub id: ActorId,
    /// Its registered type.
    pub actor_type: ActorType,
    /// Its realm.
    pub realm: Realm,
    /// Its categories.
    pub categories: Vec<Category>,
    /// Its parameters, private ones masked.
    pub params: BTreeMap<String, Value>,
    /// Whether it runs in its own process.
    pub isolated: bool,
    /// Its owner.
    pub owner: Option<String>,
    /// Whether its drain hook runs when it is stopped.
    pub drainable: bool,
}

impl From<wire::ActorMetadata> for ActorMetadata {
    fn from(a: wire::ActorMetadata) -> Self {
        Self {
            id: a.id,
            actor_type: a.actor_type,
            realm: a.realm,
            categories: a.categories,
            params: a.params,
            isolated: a.isolated,
            owner: a.owner,
            drainable: a.drainable,
        }
    }
}
