//! The envelopes: every message that travels between nodes, clients and isolated actor
//! processes.
//!
//! User data is always a [`Payload`] (pre-encoded CBOR), so a node routes and forwards requests
//! without decoding what is inside them.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::directory::{Digest, Partition, PartitionDelta};
use crate::model::{ActorId, ActorType, Category, NodeId, Realm};
use crate::placement::Strategy;
use crate::value::{Payload, Value};

/// One message on a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Envelope {
    /// A step of the connection handshake; nothing else is accepted before it completes.
    Handshake(Handshake),
    /// A request to one actor that expects a [`Reply`].
    Request(ActorCall),
    /// A message to one actor that expects no reply (shoot, broadcast).
    OneWay(ActorCall),
    /// The answer to an [`ActorCall`].
    Reply(Reply),
    /// An administrative call (spawn, stop, directory, ...).
    Admin(AdminCall),
    /// The answer to an [`AdminCall`].
    AdminReply(AdminReply),
    /// A SWIM packet for the membership layer, opaque here.
    Membership(Bytes),
    /// Anti-entropy: the sender's directory digest; answered with [`Envelope::Partitions`].
    Digest(Digest),
    /// Anti-entropy: whole partitions newer than the receiver's digest said, and the sender's
    /// own digest so the receiver can send back what the sender lacks.
    Partitions {
        /// The partitions the receiver lacks or holds an older version of.
        partitions: Vec<Partition>,
        /// The sender's digest, present when the sender wants the receiver's newer partitions.
        digest: Option<Digest>,
    },
    /// The fast path: a change to the sender's own partition.
    Delta(PartitionDelta),
    /// The deployments and drained nodes the sender knows (all of them every sync period to
    /// one peer, a change to every member at once); the receiver keeps the later copy of each.
    Deployments(crate::deploy::DeploySync),
    /// A client asks its entry node for the directory: the client's digest.
    ViewRequest(Digest),
    /// The answer to [`Envelope::ViewRequest`]: the live nodes and the partitions newer than
    /// the client's digest. Clients hold a read-only copy of the directory this way.
    View {
        /// The nodes alive, the answering node included.
        alive: Vec<NodeId>,
        /// The partitions the client lacks or holds an older version of.
        partitions: Vec<Partition>,
        /// Some were left out to keep the answer small: the client asks again (its digest
        /// now names what it got) until an answer says no more.
        #[serde(default)]
        more: bool,
    },
    /// Closing an idle connection between two nodes: the sender sends no new requests or
    /// news on it (they go on a new connection), still answers what it was asked, and
    /// closes its half once the other side said `Bye` too and neither waits for an answer,
    /// so no queued frame is lost (see `link::reap`).
    Bye,
}

/// The handshake, in the order its steps are sent.
///
/// 1. The connecting side sends [`Handshake::Hello`].
/// 2. The accepting side checks version and cluster name and answers [`Handshake::Welcome`]
///    (or [`Handshake::Refused`]). With a cluster secret, its proof covers both nonces.
/// 3. With a cluster secret, the connecting side checks that proof and sends its own
///    [`Handshake::Proof`]; only then does either side accept other envelopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Handshake {
    /// Step 1: who is connecting, to which cluster, with which protocol version.
    Hello {
        /// The connecting side's [`super::PROTOCOL_VERSION`].
        version: u16,
        /// The cluster it wants to join or talk to.
        cluster: String,
        /// Who is connecting.
        peer: Peer,
        /// A fresh random nonce for the secret proof.
        nonce: Bytes,
        /// With a cluster secret, the id of the key the connecting side will prove (see
        /// [`crate::auth`]). Absent in protocol version 1, whose hello still decodes so
        /// that its version can be refused in words.
        #[serde(default)]
        key_id: Option<Bytes>,
    },
    /// Step 2: the accepting node's identity and nonce, and its proof of the secret.
    Welcome {
        /// The accepting side's protocol version.
        version: u16,
        /// The accepting node.
        node: NodeId,
        /// A fresh random nonce for the secret proof.
        nonce: Bytes,
        /// HMAC of both nonces under the cluster secret, when one is configured.
        proof: Option<Bytes>,
    },
    /// Step 3: the connecting side's proof of the secret.
    Proof {
        /// HMAC of both nonces (in the other order) under the cluster secret.
        proof: Bytes,
    },
    /// The connection is refused; the reason is logged on both sides.
    Refused {
        /// Why, in words.
        reason: String,
    },
}

impl Handshake {
    /// Step 1 for `peer` joining or talking to `cluster` with this build's protocol version,
    /// proving no key (a cluster without a secret), with an all-zero nonce: for tools and
    /// tests that speak the protocol by hand. Nodes and clients use
    /// [`crate::auth::handshake::Connector`].
    pub fn hello(cluster: &str, peer: Peer) -> Self {
        Handshake::Hello {
            version: super::PROTOCOL_VERSION,
            cluster: cluster.to_owned(),
            peer,
            nonce: Bytes::from_static(&[0; super::NONCE_LEN]),
            key_id: None,
        }
    }
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Peer {
    /// A cluster member.
    Node(NodeId),
    /// An outside client (a program, the CLI, the HTTP gateway); not a member.
    Client {
        /// A name for logs.
        name: String,
    },
}

/// A request to one actor. On the wire, a CBOR array of its fields in this order (see
/// `compact.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct ActorCall {
    /// The request id, chosen by the caller and kept across retries so a handler can
    /// de-duplicate.
    pub id: u64,
    /// The actor it is for.
    pub to: ActorId,
    /// The realm the caller addressed; an actor of another realm answers `wrong dest`.
    pub realm: Realm,
    /// The request type, such as `ping`.
    pub kind: String,
    /// The request data.
    pub data: Payload,
    /// Milliseconds left before the caller gives up, as of sending. Carried as a duration, not
    /// a clock reading, because nodes' clocks are not synchronised.
    pub timeout_ms: u64,
    /// The caller's ident, checked against the actor's trusted idents.
    pub ident: Option<String>,
    /// Which attempt this is (0 for the first); retries go to another actor.
    pub attempt: u32,
}

/// The answer to an [`ActorCall`]. On the wire, a CBOR array of its fields in this order.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The id of the request answered.
    pub id: u64,
    /// The attempt answered: a late reply to an earlier attempt is told apart from the
    /// current one.
    pub attempt: u32,
    /// The reply data, or the error.
    pub result: Result<Payload, RemoteError>,
}

/// An error reply: a message that clients match on (see [`crate::ErrorCode`]) and optional
/// data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteError {
    /// The error message, such as `queue full` or `timeout`.
    pub error: String,
    /// Data the handler attached to the error.
    pub data: Option<Payload>,
}

impl RemoteError {
    /// What a caller gets when its request, or the reply to it, could not be sent because it
    /// does not fit in a frame (`what`: `request` or `reply`). It names the sizes, and like
    /// every error outside the retried codes it is final: another actor would fare no better.
    pub fn too_large(what: &str, error: &super::WireError) -> Self {
        RemoteError { error: format!("{what} too large: {error}"), data: None }
    }
}

/// An administrative call, made by a client or forwarded between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminCall {
    /// The call id, echoed in the [`AdminReply`].
    pub id: u64,
    /// The admin token, required when the cluster configures one (`unprivileged` otherwise).
    pub token: Option<String>,
    /// What to do.
    pub op: AdminOp,
}

/// The administrative operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AdminOp {
    /// Add actors (placing them first, unless the spec names the node it was sent to). Boxed:
    /// the spec is large and rare, and every envelope is as large as its largest variant.
    Spawn(Box<SpawnSpec>),
    /// Stop actors by id or by category prefix.
    Stop {
        /// The realm of the category prefixes.
        realm: Realm,
        /// Actors to stop by id.
        ids: Vec<ActorId>,
        /// Stop every actor in a category starting with one of these.
        categories: Vec<String>,
        /// Milliseconds to wait before stopping.
        delay_ms: u64,
    },
    /// Stop every actor in every realm.
    Flush,
    /// A deployment call (`beach deploy ...`).
    Deploy(crate::deploy::DeployOp),
    /// Do `op` on the receiving node only: what an entry node sends to the node that owns
    /// the actors concerned, or to every node when it fans a cluster-wide call out.
    OnNode(Box<AdminOp>),
    /// Add a category to a live actor.
    AddCategory {
        /// The actor.
        id: ActorId,
        /// The category to add.
        category: Category,
    },
    /// Remove a category from a live actor.
    RemoveCategory {
        /// The actor.
        id: ActorId,
        /// The category to remove.
        category: Category,
    },
    /// The directory of a realm, optionally only categories starting with a prefix.
    Directory {
        /// The realm.
        realm: Realm,
        /// Only categories starting with this.
        prefix: String,
        /// Where the previous page ended (its last category and actor), to ask for the
        /// next; `None` for the first page.
        #[serde(default)]
        after: Option<(Category, ActorId)>,
    },
    /// The members of the cluster as the answering node sees them.
    Nodes,
    /// CPU and memory of every node.
    Health,
    /// Per-actor load and statistics.
    Load,
    /// Per-node actor metadata, private parameters masked.
    Metadata,
    /// The actor types nodes offer, with where each comes from; only those of `realm` and
    /// named `actor_type` when given.
    Types {
        /// Only this realm's types.
        realm: Option<Realm>,
        /// Only the type of this name.
        actor_type: Option<ActorType>,
    },
}

/// Everything that describes actors to add.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpawnSpec {
    /// The realm the actors live in.
    pub realm: Realm,
    /// The registered actor type.
    pub actor_type: ActorType,
    /// The categories the actors join.
    pub categories: Vec<Category>,
    /// How to choose the node.
    pub strategy: Strategy,
    /// The strategy's hint (a category or a node), when it takes one.
    pub hint: Option<String>,
    /// A node already chosen; set when the entry node forwards a placed spawn to its target.
    pub node: Option<NodeId>,
    /// Parameters for init; keys starting with `_` are private.
    pub parameters: BTreeMap<String, Value>,
    /// Logical resource name to category, given to init.
    pub resources: BTreeMap<String, Category>,
    /// Run each actor in its own child process.
    pub isolated: bool,
    /// The ident the actor's own requests carry.
    pub ident: Option<String>,
    /// Idents allowed to call the actor; empty means everyone.
    pub trusted: BTreeSet<String>,
    /// How many requests the actor serves at once; `None` for no limit.
    pub n_concurrent: Option<u32>,
    /// Who owns the actor, for bookkeeping.
    pub owner: Option<String>,
    /// Whether the actor has a drain hook to wait for.
    pub drainable: bool,
    /// How many actors to add.
    pub count: u32,
    /// Only compute and return the placement.
    pub dry_run: bool,
    /// Log every request the actors receive, and how each ends (py-beach's
    /// `beach_trace_enabled`).
    #[serde(default)]
    pub trace: bool,
    /// The actors' own log level (`trace`, `debug`, `info`, `warn` or `error`): their lines
    /// are logged at it whatever the node's level (see the node's logging).
    #[serde(default)]
    pub log_level: Option<String>,
    /// The deployment that starts these actors (set by its reconciler, never by hand): its
    /// name and template version go into their directory entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<crate::deploy::Owner>,
    /// Nodes placement leaves out (a deployment's reconciler avoids nodes above their memory
    /// watermark).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub avoid: Vec<NodeId>,
}

/// The log levels an actor may be spawned with.
pub const LOG_LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

/// The most actors one spawn may ask for: far more than any real use, few enough that placing
/// them cannot stall a node.
pub const MAX_SPAWN_COUNT: u32 = 100_000;

impl SpawnSpec {
    /// The checks that need no node: a count from 1 to [`MAX_SPAWN_COUNT`] and at least one
    /// category. Made by the client before sending and by the node on receiving (other
    /// clients may send anything).
    pub fn check_shape(&self) -> Result<(), String> {
        if self.count == 0 || self.count > MAX_SPAWN_COUNT {
            return Err(format!("count must be from 1 to {MAX_SPAWN_COUNT}, not {}", self.count));
        }
        if self.categories.is_empty() {
            return Err("an actor needs at least one category".to_owned());
        }
        if let Some(level) = &self.log_level
            && !LOG_LEVELS.contains(&level.as_str())
        {
            return Err(format!("log level {level:?} is not one of {}", LOG_LEVELS.join(", ")));
        }
        Ok(())
    }
}

/// The answer to an [`AdminCall`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminReply {
    /// The id of the call answered.
    pub id: u64,
    /// The answer, or an error message (`unprivileged`, a spawn's init error, ...).
    pub result: Result<AdminAnswer, String>,
}

/// An actor changed by an admin call, with its owner's partition version after the change, so
/// the caller can show the change before the owner's partition reaches it (read-your-writes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActorRecord {
    /// The actor.
    pub id: ActorId,
    /// Its entry after the change (before it, for a stopped actor).
    pub entry: crate::directory::Entry,
    /// The owner's partition version after the change.
    pub version: u64,
}

/// The most actor ids one page of a directory answer carries: far below the frame limit
/// however long the ids, so a directory of any size can be read.
pub const DIRECTORY_PAGE: usize = 50_000;

/// The answers to the administrative operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AdminAnswer {
    /// The actors added.
    Spawned(Vec<ActorRecord>),
    /// A dry run's placement: the node and the reason for each actor.
    Placement(Vec<(NodeId, String)>),
    /// The actors stopped.
    Stopped(Vec<ActorRecord>),
    /// The actor whose categories changed.
    Recategorized(ActorRecord),
    /// How many actors a flush stopped.
    Flushed(u64),
    /// Done, nothing to report.
    Done,
    /// A page of a realm's directory: category to actor ids, in order, at most
    /// [`DIRECTORY_PAGE`] ids; `next` is where the next page starts, `None` on the last.
    Directory {
        /// The categories and their actors on this page.
        categories: BTreeMap<Category, Vec<ActorId>>,
        /// Pass as `after` to ask for the next page.
        next: Option<(Category, ActorId)>,
    },
    /// The members.
    Nodes(Vec<NodeInfo>),
    /// Health per node.
    Health(Vec<NodeHealth>),
    /// Load per actor.
    Load(Vec<ActorLoad>),
    /// Metadata per node.
    Metadata(Vec<NodeMetadata>),
    /// The actor types offered, one entry per (realm, type, origin, version) with the nodes
    /// that offer it.
    Types(Vec<TypeOffer>),
    /// The answer to a deployment call.
    Deploy(crate::deploy::DeployAnswer),
    /// An operation over several nodes that some of them failed: what was done (a
    /// `Spawned`, `Stopped` or `Flushed`), and each failure, naming its node.
    Partial {
        /// What the nodes that succeeded did.
        done: Box<AdminAnswer>,
        /// Why the others failed.
        errors: Vec<String>,
    },
}

/// An actor type some nodes offer in a realm: what `beach types` lists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TypeOffer {
    /// The realm.
    pub realm: Realm,
    /// The type's name.
    pub actor_type: ActorType,
    /// Where the nodes get it from; for a name that several origins offer, the one the nodes
    /// use.
    pub origin: crate::model::Origin,
    /// The sha256 of its program, for a code directory's type.
    pub sha256: Option<String>,
    /// The nodes that offer it, sorted.
    pub nodes: Vec<NodeId>,
}

/// A member as one node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Its identity.
    pub id: NodeId,
    /// `alive` or `suspect`.
    pub state: String,
    /// How many actors it hosts.
    pub actors: u64,
    /// Drained for maintenance (`beach drain`): nothing new is placed on it.
    #[serde(default)]
    pub drained: bool,
}

/// A node's resource use, as fractions of its capacity (0.0 to 1.0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeHealth {
    /// The node.
    pub node: NodeId,
    /// CPU use.
    pub cpu: f64,
    /// Memory use.
    pub memory: f64,
}

/// One actor's load and statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The actor's own counters (py-beach's `zSet`/`zInc`) and rates.
    #[serde(default)]
    pub custom: BTreeMap<String, f64>,
    /// Requests answered per second, over the last whole second.
    #[serde(default)]
    pub per_second: f64,
}

/// The actors of one node, described.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeMetadata {
    /// The node.
    pub node: NodeId,
    /// Its actors.
    pub actors: Vec<ActorMetadata>,
}

/// One actor, described; private parameters are shown as `<PRIVATE>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Whether its drain hook runs when it is stopped (absent from older nodes: `false`).
    #[serde(default)]
    pub drainable: bool,
}

impl Envelope {
    /// About how many bytes this envelope holds in memory and on the wire: what a queue of
    /// envelopes is bounded by. Payloads and byte strings count exactly; structured parts
    /// count a fixed amount per item.
    pub fn approx_size(&self) -> usize {
        const ITEM: usize = 128;
        const BASE: usize = 64;
        let partitions =
            |ps: &[Partition]| -> usize { ps.iter().map(|p| BASE + p.entries.len() * ITEM).sum() };
        BASE + match self {
            Envelope::Handshake(_) => BASE,
            Envelope::Request(r) | Envelope::OneWay(r) => {
                r.data.as_bytes().len() + r.kind.len() + r.ident.as_ref().map_or(0, String::len)
            }
            Envelope::Reply(r) => match &r.result {
                Ok(p) => p.as_bytes().len(),
                Err(e) => e.error.len() + e.data.as_ref().map_or(0, |d| d.as_bytes().len()),
            },
            Envelope::Admin(a) => match &a.op {
                AdminOp::Spawn(spec) => ITEM * 4 + spec.parameters.len() * ITEM,
                _ => ITEM,
            },
            Envelope::AdminReply(a) => match &a.result {
                Err(e) => e.len(),
                Ok(AdminAnswer::Spawned(r) | AdminAnswer::Stopped(r)) => r.len() * ITEM,
                Ok(AdminAnswer::Placement(p)) => p.len() * ITEM,
                Ok(AdminAnswer::Directory { categories, .. }) => {
                    categories.values().map(|v| ITEM + v.len() * ITEM).sum()
                }
                Ok(AdminAnswer::Nodes(n)) => n.len() * ITEM,
                Ok(AdminAnswer::Health(n)) => n.len() * ITEM,
                Ok(AdminAnswer::Load(n)) => n.len() * ITEM,
                Ok(AdminAnswer::Metadata(n)) => n.len() * ITEM * 4,
                Ok(_) => ITEM,
            },
            Envelope::Membership(b) => b.len(),
            Envelope::Deployments(s) => (s.records.len() * 4 + s.cordons.len()) * ITEM,
            Envelope::Digest(d) | Envelope::ViewRequest(d) => d.versions.len() * ITEM,
            Envelope::Partitions { partitions: ps, digest } => {
                partitions(ps) + digest.as_ref().map_or(0, |d| d.versions.len() * ITEM)
            }
            Envelope::Delta(d) => d.changes.len() * ITEM,
            Envelope::View { alive, partitions: ps, .. } => alive.len() * ITEM + partitions(ps),
            Envelope::Bye => 0,
        }
    }
}
