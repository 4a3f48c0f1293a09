//! The actor directory: which actors exist, in which realm and categories, on which node.
//!
//! The directory is **owner-partitioned and owner-authoritative**: each node writes only its own
//! [`Partition`], and every write bumps that partition's version. Peers learn partitions two
//! ways:
//!
//! - the fast path: each change to a partition is pushed as a [`PartitionDelta`], applied only
//!   on top of exactly the version it was made from;
//! - the slow path, which correctness rests on (anti-entropy): a node sends its [`Digest`]
//!   (`owner → version`) to a peer, which works out every **whole** partition it holds newer
//!   than the digest says ([`Directory::handle_digest`]). Replacing whole partitions means a
//!   removal needs no tombstone: the newer partition simply lacks the entry. Between nodes,
//!   the node engine sends content only from its owner: a peer answers with its own partition
//!   and its digest, and what either side learns it lacks it asks the owner for directly
//!   ([`Directory::stale_owners`]), so no node can rewrite another's partition. (A client's
//!   read-only view is served whole by its entry node.)
//!
//! A partition is installed only while membership says its owner is alive
//! ([`Directory::node_up`]); a dead owner's partition is dropped at once
//! ([`Directory::node_down`]) and, since a node id is never alive again once a newer
//! generation of its endpoint is known, it never comes back.
//!
//! ```
//! use beach_core::directory::{Directory, Entry};
//! use beach_core::model::{Category, NodeId, Realm};
//!
//! let a: NodeId = "a:1#1".parse().unwrap();
//! let b: NodeId = "b:1#1".parse().unwrap();
//! let mut on_a = Directory::new(a.clone());
//! let mut on_b = Directory::new(b.clone());
//! on_b.node_up(&a);
//!
//! let pong = a.actor_id(1);
//! on_a.insert(pong.clone(), Entry::new(Realm::global(), "Pong", ["svc/pongers/1.2"]).unwrap()).unwrap();
//!
//! // Anti-entropy: b sends its digest, a answers with what b lacks.
//! let answer = on_a.handle_digest(&on_b.digest());
//! for p in answer.partitions { on_b.install(p); }
//! assert_eq!(on_b.lookup(&Realm::global(), "svc/pong"), vec![pong]);
//! ```

pub(crate) mod index;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{ActorId, ActorType, Category, Endpoint, ModelError, NodeId, Realm};
use index::CategoryIndex;

/// What the directory knows of one actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The realm the actor lives in.
    pub realm: Realm,
    /// Its registered type.
    pub actor_type: ActorType,
    /// The categories it belongs to; shared, so the actors of one spawn call (and every copy
    /// of an entry) hold one set between them.
    pub categories: Arc<BTreeSet<Category>>,
    /// The deployment that started it; `None` for an actor spawned by hand, which no
    /// deployment ever touches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<crate::deploy::Owner>,
}

impl Entry {
    /// An entry from names, validating each.
    pub fn new<C: AsRef<str>>(
        realm: Realm,
        actor_type: &str,
        categories: impl IntoIterator<Item = C>,
    ) -> Result<Self, ModelError> {
        Ok(Self {
            realm,
            actor_type: ActorType::new(actor_type)?,
            categories: Arc::new(
                categories.into_iter().map(Category::new).collect::<Result<_, _>>()?,
            ),
            owner: None,
        })
    }
}

/// The version a node's own partition starts at, empty. Every node knows that much of every
/// member without asking: a partition at this version (blank) is never fetched nor greeted
/// with, and a digest names a member whose partition is not held at this version, so that
/// nodes without actors converge without a connection from every node to every other (a
/// thousand-node cluster would otherwise open half a million as it starts). Asked for it, a
/// node sends it all the same.
pub const FIRST_VERSION: u64 = 1;

/// One node's part of the directory: all of its actors, at a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// The node that owns (hosts) these actors and alone writes this partition.
    pub owner: NodeId,
    /// Bumped by every write; a higher version replaces a lower one.
    pub version: u64,
    /// The actors.
    pub entries: BTreeMap<ActorId, Entry>,
}

impl Partition {
    /// An empty partition at version 0.
    pub fn empty(owner: NodeId) -> Self {
        Self { owner, version: 0, entries: BTreeMap::new() }
    }

    /// Never written: empty, at most at [`FIRST_VERSION`]. Every node knows that much of every
    /// member without being told.
    pub fn is_blank(&self) -> bool {
        self.version <= FIRST_VERSION && self.entries.is_empty()
    }
}

/// A summary of the partitions a node holds: owner → version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// The version held of each owner's partition (the owner's generation is part of its id).
    pub versions: BTreeMap<NodeId, u64>,
    /// Only the owners listed are asked about. A full digest (`false`) also asks for every
    /// owner it does not list; a partial one asks for the listed owners' partitions only
    /// (what a node sends a newcomer: "yours, please", not "everything you have").
    #[serde(default)]
    pub partial: bool,
}

impl Digest {
    /// A partial digest asking for `owner`'s partition if it is newer than `version`.
    pub fn for_owner(owner: NodeId, version: u64) -> Self {
        Self { versions: BTreeMap::from([(owner, version)]), partial: true }
    }
}

/// The most actors one answer to a full digest carries (at least one partition is always
/// sent). Anti-entropy runs every sync period, so a larger gap closes over a few rounds
/// instead of in one huge message.
pub const MAX_ANSWER_ENTRIES: usize = 16_384;

/// A change to one owner's partition, from version `base` to version `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionDelta {
    /// The owner whose partition changed.
    pub owner: NodeId,
    /// The version the changes apply on top of.
    pub base: u64,
    /// The version after the changes.
    pub version: u64,
    /// The changes, in order.
    pub changes: Vec<Change>,
}

/// One change to a partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// The actor was added or its entry replaced.
    Upsert {
        /// The actor.
        id: ActorId,
        /// Its new entry.
        entry: Entry,
    },
    /// The actor is gone.
    Remove {
        /// The actor.
        id: ActorId,
    },
}

/// What became of a [`PartitionDelta`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaOutcome {
    /// Applied: the partition is now at the delta's version.
    Applied,
    /// Already known: the partition held is at the delta's version or newer.
    Stale,
    /// The partition held is not at the delta's base (a delta was missed): ask the owner for
    /// its whole partition with a digest exchange.
    Gap,
    /// The owner is not alive in membership (or is this node): ignored.
    Ignored,
}

/// The answer to a peer's digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestAnswer {
    /// The partitions the peer lacks or holds an older version of.
    pub partitions: Vec<Partition>,
    /// This node's digest, when the peer holds something newer that this node wants back.
    pub want: Option<Digest>,
    /// Partitions the peer wanted were left out to keep the answer under
    /// [`MAX_ANSWER_ENTRIES`]: ask again.
    pub truncated: bool,
}

/// Why a write to the directory was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// A node may only write its own partition.
    #[error("actor {id} belongs to node {}, not to this node", id.node())]
    NotOwner {
        /// The actor.
        id: ActorId,
    },
    /// No such actor in this node's partition.
    #[error("no actor {id} on this node")]
    UnknownActor {
        /// The actor.
        id: ActorId,
    },
}

/// One node's view of the whole directory: its own partition, which it writes, and the
/// partitions of live peers, which it replaces as newer ones arrive.
#[derive(Debug, Clone)]
pub struct Directory {
    own: Partition,
    /// Changes to `own` not yet taken by [`Directory::take_delta`], made on top of
    /// `pending_base`.
    pending: Vec<Change>,
    pending_base: u64,
    peers: BTreeMap<NodeId, Partition>,
    alive: BTreeSet<NodeId>,
    /// The newest generation seen per endpoint: an older generation is dead for good.
    newest_generation: BTreeMap<Endpoint, u64>,
    index: CategoryIndex,
    /// Changes to other owners' actors learnt from their direct answers to admin calls, ahead
    /// of their partitions: `(owner's version after the change, entry or None if removed)`.
    /// Dropped as soon as the owner's partition reaches that version.
    learnt: BTreeMap<ActorId, (u64, Option<Entry>)>,
}

impl Directory {
    /// An empty directory for node `me`.
    pub fn new(me: NodeId) -> Self {
        let mut newest_generation = BTreeMap::new();
        newest_generation.insert(me.endpoint().clone(), me.generation());
        let own = Partition { version: FIRST_VERSION, ..Partition::empty(me) };
        Self {
            own,
            pending: Vec::new(),
            pending_base: FIRST_VERSION,
            peers: BTreeMap::new(),
            alive: BTreeSet::new(),
            newest_generation,
            index: CategoryIndex::default(),
            learnt: BTreeMap::new(),
        }
    }

    /// This node's identity.
    pub fn me(&self) -> &NodeId {
        &self.own.owner
    }

    /// This node's own partition.
    pub fn own(&self) -> &Partition {
        &self.own
    }

    // ----- writes to the own partition -----

    /// Adds an actor of this node, or replaces its entry.
    pub fn insert(&mut self, id: ActorId, entry: Entry) -> Result<(), DirectoryError> {
        self.check_owner(&id)?;
        if let Some(old) = self.own.entries.insert(id.clone(), entry.clone()) {
            self.index.remove(&id, &old);
        }
        self.index.add(&id, &entry);
        self.record(Change::Upsert { id, entry });
        Ok(())
    }

    /// Removes an actor of this node; returns its entry, or `None` if it was not there.
    pub fn remove(&mut self, id: &ActorId) -> Option<Entry> {
        let old = self.own.entries.remove(id)?;
        self.index.remove(id, &old);
        self.record(Change::Remove { id: id.clone() });
        Some(old)
    }

    /// Adds a category to a live actor of this node; `false` if it already had it.
    pub fn add_category(
        &mut self,
        id: &ActorId,
        category: Category,
    ) -> Result<bool, DirectoryError> {
        self.edit_categories(id, |cats| cats.insert(category))
    }

    /// Removes a category from a live actor of this node; `false` if it did not have it.
    pub fn remove_category(
        &mut self,
        id: &ActorId,
        category: &Category,
    ) -> Result<bool, DirectoryError> {
        self.edit_categories(id, |cats| cats.remove(category))
    }

    fn edit_categories(
        &mut self,
        id: &ActorId,
        edit: impl FnOnce(&mut BTreeSet<Category>) -> bool,
    ) -> Result<bool, DirectoryError> {
        self.check_owner(id)?;
        let Some(entry) = self.own.entries.get(id) else {
            return Err(DirectoryError::UnknownActor { id: id.clone() });
        };
        let mut entry = entry.clone();
        if !edit(Arc::make_mut(&mut entry.categories)) {
            return Ok(false);
        }
        self.insert(id.clone(), entry)?;
        Ok(true)
    }

    fn check_owner(&self, id: &ActorId) -> Result<(), DirectoryError> {
        if id.node() == self.me() {
            Ok(())
        } else {
            Err(DirectoryError::NotOwner { id: id.clone() })
        }
    }

    fn record(&mut self, change: Change) {
        self.own.version += 1;
        self.pending.push(change);
    }

    /// The changes made to the own partition since the last call, as one delta to push to
    /// peers; `None` when nothing changed.
    pub fn take_delta(&mut self) -> Option<PartitionDelta> {
        if self.pending.is_empty() {
            return None;
        }
        let delta = PartitionDelta {
            owner: self.own.owner.clone(),
            base: self.pending_base,
            version: self.own.version,
            changes: std::mem::take(&mut self.pending),
        };
        self.pending_base = self.own.version;
        Some(delta)
    }

    // ----- membership -----

    /// Membership says `node` is alive: its partition may now be installed. Returns `false`
    /// (and changes nothing) for this node itself or for a generation older than one already
    /// seen at the same endpoint, which is dead for good. A newer generation drops the older
    /// generation's partition at once.
    pub fn node_up(&mut self, node: &NodeId) -> bool {
        if node == self.me() {
            return false;
        }
        let newest = self.newest_generation.entry(node.endpoint().clone()).or_insert(0);
        if node.generation() < *newest {
            return false;
        }
        if node.generation() > *newest {
            *newest = node.generation();
            // Ids sort by endpoint, then generation: the older generations at this endpoint
            // are one range, found without a scan of every member (a join of a thousand
            // nodes calls this a thousand times on every node).
            let older_range = NodeId::new(node.endpoint().clone(), 0)..node.clone();
            let older: Vec<NodeId> = self
                .alive
                .range(older_range.clone())
                .chain(self.peers.range(older_range).map(|(n, _)| n))
                .cloned()
                .collect();
            for n in older {
                self.node_down(&n);
            }
        }
        self.alive.insert(node.clone());
        true
    }

    /// Membership says `node` is dead (or was renamed): its partition is dropped and will not
    /// be installed again unless membership says it is alive again. When it was the newest
    /// generation at its endpoint, the endpoint is forgotten: a node restarted there after
    /// its clock stepped back (a lower generation) may join again.
    pub fn node_down(&mut self, node: &NodeId) {
        self.alive.remove(node);
        let endpoint = node.endpoint();
        if self.newest_generation.get(endpoint) == Some(&node.generation())
            && node != self.me()
            && !self.alive.iter().any(|n| n.endpoint() == endpoint)
        {
            self.newest_generation.remove(endpoint);
        }
        self.learnt.retain(|id, _| id.node() != node);
        if let Some(p) = self.peers.remove(node) {
            for (id, entry) in &p.entries {
                self.index.remove(id, entry);
            }
        }
    }

    /// The peers membership says are alive.
    pub fn alive(&self) -> impl Iterator<Item = &NodeId> {
        self.alive.iter()
    }

    // ----- anti-entropy -----

    /// This node's digest: the version of every partition it holds, its own included.
    pub fn digest(&self) -> Digest {
        // Every live member is named, at FIRST_VERSION when no partition of it is held (see
        // there): whoever reads the digest meets them all, and asks for none of those.
        let mut versions: BTreeMap<NodeId, u64> =
            self.alive.iter().map(|n| (n.clone(), FIRST_VERSION)).collect();
        versions.insert(self.own.owner.clone(), self.own.version);
        versions.extend(self.peers.values().map(|p| (p.owner.clone(), p.version)));
        Digest { versions, partial: false }
    }

    /// What a node answers a peer's digest with, when partitions travel only from their owners:
    /// this node's own partition if the peer's is older (or missing from a full digest), and
    /// whether this node holds a newer partition of anyone else than the peer does (then the
    /// peer should see this node's digest and fetch those from their owners).
    pub fn own_answer(&self, theirs: &Digest) -> (Option<Partition>, bool) {
        // A full digest that does not name a partition holds it at most at its empty first
        // version.
        let older = |p: &Partition| match theirs.versions.get(&p.owner) {
            Some(&v) => v < p.version,
            None => !theirs.partial && !p.is_blank(),
        };
        let own = older(&self.own).then(|| self.own.clone());
        (own, self.peers.values().any(older))
    }

    /// The live owners (other than this node) whose partition `theirs` says is newer than the
    /// one held here, each with the version held: what to ask those owners for directly.
    pub fn stale_owners(&self, theirs: &Digest) -> Vec<(NodeId, u64)> {
        theirs
            .versions
            .iter()
            .filter(|(owner, _)| *owner != self.me() && self.alive.contains(*owner))
            .filter_map(|(owner, &v)| {
                // Not holding a partition is as good as holding its empty first version: a
                // node that never wrote its partition is not asked for it.
                let held = self.peers.get(owner).map_or(FIRST_VERSION, |p| p.version);
                (v > held).then(|| (owner.clone(), held))
            })
            .collect()
    }

    /// A partial digest asking `owner` for its own partition if it is newer than the one held.
    pub fn digest_for(&self, owner: &NodeId) -> Digest {
        Digest::for_owner(owner.clone(), self.partition(owner).map_or(0, |p| p.version))
    }

    /// Answers a peer's digest: every partition held (own included) that the peer lacks or
    /// holds an older version of, and this node's digest if the peer holds a newer version of
    /// a partition of a live owner.
    pub fn handle_digest(&self, theirs: &Digest) -> DigestAnswer {
        let mut partitions = Vec::new();
        let mut entries = 0;
        let wanted = std::iter::once(&self.own).chain(self.peers.values()).filter(|p| match theirs
            .versions
            .get(&p.owner)
        {
            Some(&v) => v < p.version,
            None => !theirs.partial && !p.is_blank(),
        });
        let mut truncated = false;
        for p in wanted {
            if !partitions.is_empty() && entries + p.entries.len() > MAX_ANSWER_ENTRIES {
                truncated = true;
                break;
            }
            entries += p.entries.len();
            partitions.push(p.clone());
        }
        let they_have_newer = theirs.versions.iter().any(|(owner, &v)| {
            self.alive.contains(owner) && self.peers.get(owner).is_none_or(|p| p.version < v)
        });
        DigestAnswer { partitions, want: they_have_newer.then(|| self.digest()), truncated }
    }

    /// Installs a whole partition if its owner is alive, it is not this node's own, every
    /// entry belongs to the owner, and it is newer than the one held. Returns whether it was
    /// installed.
    pub fn install(&mut self, partition: Partition) -> bool {
        if !self.alive.contains(&partition.owner)
            || self.peers.get(&partition.owner).is_some_and(|p| p.version >= partition.version)
            || partition.entries.keys().any(|id| id.node() != &partition.owner)
        {
            return false;
        }
        if let Some(old) = self.peers.remove(&partition.owner) {
            for (id, entry) in &old.entries {
                self.index.remove(id, entry);
            }
        }
        for (id, entry) in &partition.entries {
            self.index.add(id, entry);
        }
        self.forget_learnt(&partition.owner, partition.version);
        self.peers.insert(partition.owner.clone(), partition);
        true
    }

    /// Records a change to another node's actor that its owner reported directly (the answer
    /// to a spawn, stop or category change made through this node), so queries show it
    /// before the owner's partition arrives: read-your-writes for admin calls. `entry` is the
    /// actor's entry after the change, `None` when it was stopped; `version` is the owner's
    /// partition version after the change. Ignored for this node's own actors, for a change
    /// the held partition already includes, and for an owner not alive (an answer that
    /// arrives after its owner was declared down would otherwise list its actor for good).
    pub fn learn(&mut self, id: &ActorId, entry: Option<Entry>, version: u64) {
        let owner = id.node();
        if owner == self.me()
            || !self.alive.contains(owner)
            || self.newest_generation.get(owner.endpoint()).is_some_and(|&g| g > owner.generation())
            || self.peers.get(owner).is_some_and(|p| p.version >= version)
            || self.learnt.get(id).is_some_and(|(v, _)| *v >= version)
        {
            return;
        }
        self.learnt.insert(id.clone(), (version, entry));
    }

    fn forget_learnt(&mut self, owner: &NodeId, version: u64) {
        if !self.learnt.is_empty() {
            self.learnt.retain(|id, (v, _)| id.node() != owner || *v > version);
        }
    }

    /// Applies a delta on top of the partition held, if that is exactly at the delta's base.
    pub fn apply_delta(&mut self, delta: &PartitionDelta) -> DeltaOutcome {
        if !self.alive.contains(&delta.owner) {
            return DeltaOutcome::Ignored;
        }
        if delta.changes.iter().any(|c| change_id(c).node() != &delta.owner) {
            return DeltaOutcome::Ignored;
        }
        // Not holding a partition is as good as holding its empty first version.
        let held = self.peers.get(&delta.owner).map_or(FIRST_VERSION, |p| p.version);
        if held >= delta.version {
            return DeltaOutcome::Stale;
        }
        if held != delta.base {
            return DeltaOutcome::Gap;
        }
        let partition = self
            .peers
            .entry(delta.owner.clone())
            .or_insert_with(|| Partition::empty(delta.owner.clone()));
        for change in &delta.changes {
            match change {
                Change::Upsert { id, entry } => {
                    if let Some(old) = partition.entries.insert(id.clone(), entry.clone()) {
                        self.index.remove(id, &old);
                    }
                    self.index.add(id, entry);
                }
                Change::Remove { id } => {
                    if let Some(old) = partition.entries.remove(id) {
                        self.index.remove(id, &old);
                    }
                }
            }
        }
        partition.version = delta.version;
        self.forget_learnt(&delta.owner, delta.version);
        DeltaOutcome::Applied
    }

    // ----- queries -----

    /// Every actor in `realm` with a category starting with `prefix`, sorted, each once.
    pub fn lookup(&self, realm: &Realm, prefix: &str) -> Vec<ActorId> {
        let mut ids = self.index.lookup(realm, prefix);
        if self.learnt.is_empty() {
            return ids;
        }
        ids.retain(|id| !self.learnt.contains_key(id));
        for (id, (_, entry)) in &self.learnt {
            if entry.as_ref().is_some_and(|e| {
                e.realm == *realm && e.categories.iter().any(|c| c.matches(prefix))
            }) {
                ids.push(id.clone());
            }
        }
        ids.sort();
        ids
    }

    /// The categories of `realm` starting with `prefix`, each with its actors.
    pub fn categories(&self, realm: &Realm, prefix: &str) -> BTreeMap<Category, Vec<ActorId>> {
        let mut cats = self.index.categories(realm, prefix);
        if self.learnt.is_empty() {
            return cats;
        }
        for ids in cats.values_mut() {
            ids.retain(|id| !self.learnt.contains_key(id));
        }
        for (id, (_, entry)) in &self.learnt {
            let Some(e) = entry.as_ref().filter(|e| e.realm == *realm) else { continue };
            for c in e.categories.iter().filter(|c| c.matches(prefix)) {
                let ids = cats.entry(c.clone()).or_default();
                ids.push(id.clone());
                ids.sort();
            }
        }
        cats.retain(|_, ids| !ids.is_empty());
        cats
    }

    /// The sub-categories one level below `root`, each with the actors it reaches, for group
    /// handles: with `svc/a/1` and `svc/b/2` present, root `svc/` gives `svc/a/` and `svc/b/`.
    /// A category with no further `/` is its own sub-category (`svc/c` under `svc/`).
    pub fn subcategories(&self, realm: &Realm, root: &str) -> BTreeMap<String, Vec<ActorId>> {
        if self.learnt.is_empty() {
            return self.index.subcategories(realm, root);
        }
        let mut groups: BTreeMap<String, std::collections::BTreeSet<ActorId>> = BTreeMap::new();
        for (c, ids) in self.categories(realm, root) {
            if let Some(g) = index::subcategory(c.as_str(), root) {
                groups.entry(g.to_owned()).or_default().extend(ids);
            }
        }
        groups.into_iter().map(|(g, ids)| (g, ids.into_iter().collect())).collect()
    }

    /// The entry of an actor, if it is known and its owner alive (or this node).
    pub fn entry(&self, id: &ActorId) -> Option<&Entry> {
        if let Some((_, learnt)) = self.learnt.get(id) {
            return learnt.as_ref();
        }
        self.partition(id.node())?.entries.get(id)
    }

    /// The partition of `owner`, if held.
    pub fn partition(&self, owner: &NodeId) -> Option<&Partition> {
        if owner == self.me() { Some(&self.own) } else { self.peers.get(owner) }
    }

    /// All partitions held, this node's own first.
    pub fn partitions(&self) -> impl Iterator<Item = &Partition> {
        std::iter::once(&self.own).chain(self.peers.values())
    }

    /// How many actors in `realm` with a category starting with `prefix` each node hosts
    /// (nodes with none are absent); placement's view of a hint category.
    pub fn count_by_node(&self, realm: &Realm, prefix: &str) -> BTreeMap<NodeId, usize> {
        let mut counts = BTreeMap::new();
        for id in self.lookup(realm, prefix) {
            *counts.entry(id.node().clone()).or_insert(0) += 1;
        }
        counts
    }

    /// The realms that have actors, sorted.
    pub fn realms(&self) -> Vec<Realm> {
        self.index.realms()
    }

    /// How many actors are known, in every realm.
    pub fn len(&self) -> usize {
        self.partitions().map(|p| p.entries.len()).sum()
    }

    /// Whether no actor is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn change_id(change: &Change) -> &ActorId {
    match change {
        Change::Upsert { id, .. } | Change::Remove { id } => id,
    }
}

#[cfg(test)]
mod tests;
