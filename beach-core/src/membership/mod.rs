//! Membership: which nodes are alive, by SWIM (the `foca` crate), behind a driver of our own.
//!
//! [`Membership`] is a sans-IO state machine in the manner of quinn-proto: packets come in
//! through [`Membership::handle_packet`], time through [`Membership::handle_timeout`] (with
//! `now` as an argument: it never reads a clock), and the caller drains what it must do:
//! [`Membership::poll_transmit`] (bytes to send to an endpoint),
//! [`Membership::poll_timeout`] (when to call back) and [`Membership::poll_event`] (nodes up,
//! down, renamed; this node idle or active again).
//!
//! Timers are kept in one queue ordered by (deadline, sequence), so two timers due at the same
//! instant always fire in the order they were set, and the same seed gives the same run.
//!
//! A starting node announces itself to every seed, and announces again every
//! [`MembershipConfig::announce_interval`] for as long as it knows no other member.
//!
//! Stragglers: SWIM spreads an update by piggybacking it a limited number of times, so in a
//! large cluster a node can miss that a member went down and would only find out by probing it
//! itself, up to a whole round of probe periods later. So every
//! [`MembershipConfig::state_sync_interval`] each node also sends the members it knows to be
//! down to one random member, which applies them: anti-entropy for membership.
//!
//! Packets carry a leading tag byte: [`TAG_SWIM`] for foca's own packets, [`TAG_STATE`] for a
//! member table.

mod identity;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use foca::{
    AccumulatingRuntime, Foca, Member, NoCustomBroadcast, OwnedNotification, PeriodicParams, Timer,
};
use rand::RngExt;

use identity::CborCodec;

/// How far ahead of this node's clock a member's generation may be (clocks differ a little).
const GENERATION_LEEWAY: Duration = Duration::from_secs(3600);

/// The most members one state table may list.
pub const MAX_TABLE: usize = 4096;
pub use identity::SwimIdentity;

use crate::config::ClusterConfig;
use crate::model::{Endpoint, NodeId};
use crate::rng::NodeRng;

/// Tuning of the membership protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipConfig {
    /// How often a random member is probed.
    pub probe_interval: Duration,
    /// How long a suspected member has to refute before it is declared down.
    pub suspect_timeout: Duration,
    /// How often a node that knows no other member announces itself to the seeds again.
    pub announce_interval: Duration,
    /// The largest membership packet, in bytes. Packets ride on a reliable transport, so they
    /// may be far larger than a UDP datagram; larger packets carry more updates each.
    pub max_packet_size: usize,
    /// The cluster size foca tunes its dissemination for.
    pub expected_cluster_size: u32,
    /// How often the list of down members is sent to one random member.
    pub state_sync_interval: Duration,
}

/// The most entries a drained queue keeps room for: a burst (a join brings a notification
/// and an event per member) would otherwise keep its high-water mark on every node.
const KEPT_CAPACITY: usize = 256;

/// Pops the front of `queue`, and gives back a burst's room once it is empty.
fn pop_and_shrink<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let front = queue.pop_front();
    if front.is_none() && queue.capacity() > KEPT_CAPACITY {
        *queue = VecDeque::new();
    }
    front
}

/// The tag of a packet holding one of foca's messages.
pub const TAG_SWIM: u8 = 0;
/// The tag of a packet holding a list of members (CBOR list of foca members).
pub const TAG_STATE: u8 = 1;

impl Default for MembershipConfig {
    fn default() -> Self {
        Self {
            probe_interval: Duration::from_secs(1),
            suspect_timeout: Duration::from_secs(3),
            announce_interval: Duration::from_secs(1),
            max_packet_size: 16 * 1024,
            expected_cluster_size: 32,
            state_sync_interval: Duration::from_secs(2),
        }
    }
}

impl MembershipConfig {
    /// The membership settings of a cluster configuration.
    pub fn from_cluster(config: &ClusterConfig) -> Self {
        Self {
            probe_interval: config.probe_interval,
            suspect_timeout: config.suspect_timeout,
            state_sync_interval: config.probe_interval,
            ..Self::default()
        }
    }

    fn to_foca(&self) -> foca::Config {
        let size = NonZeroU32::new(self.expected_cluster_size.max(1)).expect("at least one");
        let mut c = foca::Config::new_lan(size);
        c.probe_period = self.probe_interval;
        // A reliable transport on a LAN answers well within half a period.
        c.probe_rtt = self.probe_interval / 2;
        c.suspect_to_down_after = self.suspect_timeout;
        c.max_packet_size = NonZeroUsize::new(self.max_packet_size.max(1024)).expect("non-zero");
        // Stragglers: ask one member for its view of the cluster every few seconds, so a node
        // that missed updates catches up without waiting for gossip to reach it.
        c.periodic_announce = Some(PeriodicParams {
            frequency: self.probe_interval * 5,
            num_members: NonZeroUsize::MIN,
        });
        // Healing: after a two-way partition each side has declared the other down, and no
        // gossip crosses over. Announcing to a few down members every few periods lets the
        // sides find each other again (the receiver tells the sender it is considered down,
        // the sender renews its identity and rejoins) within seconds of the network healing.
        c.periodic_announce_to_down_members = Some(PeriodicParams {
            frequency: self.probe_interval * 3,
            num_members: NonZeroUsize::new(2).expect("non-zero"),
        });
        c
    }
}

/// The most nodes [`Membership::introduce`] announces to at once.
pub const MAX_INTRODUCTIONS: usize = 4;

/// Something membership learnt, for the node to act on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MembershipEvent {
    /// A node joined (or came back after being declared down).
    Up(NodeId),
    /// A node left or was declared down.
    Down(NodeId),
    /// A node restarted: the same endpoint with a new generation. The old one is gone for good.
    Renamed {
        /// The old identity.
        from: NodeId,
        /// The new identity.
        to: NodeId,
    },
    /// This node knows no other member; it keeps announcing itself to the seeds.
    Idle,
    /// This node knows other members again.
    Active,
    /// This node was declared down by the others and rejoined under a renewed identity (its
    /// node id, and so its actors, are unchanged).
    Rejoined,
}

/// Bytes for the transport to deliver to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub to: Endpoint,
    /// The packet.
    pub data: Bytes,
}

/// Why membership refused something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// Generation 0 stands for "a seed whose generation is unknown" and cannot be a node's.
    #[error("node {0} has generation 0, which is reserved")]
    ReservedGeneration(NodeId),
    /// foca refused a packet (malformed, from ourselves, too large, ...).
    #[error("membership packet refused: {0}")]
    Packet(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DriverTimer {
    Swim(Timer<SwimIdentity>),
    Announce,
    StateSync,
    /// A suspicion this node took from a peer's word (see [`Membership::suspicion`]) is due:
    /// the member goes down if it did not refute (foca times out only suspicions of its own).
    Confirm(SwimIdentity, foca::Incarnation),
}

#[derive(Debug)]
struct Scheduled {
    at: Instant,
    seq: u64,
    timer: DriverTimer,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The membership state machine of one node.
pub struct Membership {
    foca: Foca<SwimIdentity, CborCodec, NodeRng, NoCustomBroadcast>,
    runtime: AccumulatingRuntime<SwimIdentity>,
    timers: BinaryHeap<Reverse<Scheduled>>,
    next_seq: u64,
    me: NodeId,
    seeds: Vec<Endpoint>,
    announce_interval: Duration,
    announcing: bool,
    state_sync_interval: Duration,
    rng: NodeRng,
    members: BTreeSet<NodeId>,
    events: VecDeque<MembershipEvent>,
    transmits: VecDeque<Transmit>,
    config: MembershipConfig,
    /// The cluster size foca is currently tuned for; retuned at each doubling.
    tuned_for: u32,
    /// The latest generation believed (see [`Membership::set_clock`]), shared with the codec.
    ceiling: Arc<AtomicU64>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("me", &self.me)
            .field("members", &self.members)
            .field("timers", &self.timers.len())
            .finish_non_exhaustive()
    }
}

impl Membership {
    /// The membership of node `me`, which will announce itself to `seeds` (its own endpoint
    /// among them is skipped). `rng` must be seeded for reproducible runs.
    pub fn new(
        me: NodeId,
        seeds: Vec<Endpoint>,
        config: &MembershipConfig,
        mut rng: NodeRng,
    ) -> Result<Self, MembershipError> {
        if me.generation() == 0 {
            return Err(MembershipError::ReservedGeneration(me));
        }
        let identity = SwimIdentity::new(me.clone(), 0);
        let own_rng = crate::rng::seeded(rng.random());
        let ceiling = Arc::new(AtomicU64::new(u64::MAX));
        let foca = Foca::new(
            identity,
            config.to_foca(),
            rng,
            CborCodec::new(me.endpoint().clone(), ceiling.clone()),
        );
        let mut m = Self {
            foca,
            runtime: AccumulatingRuntime::new(),
            timers: BinaryHeap::new(),
            next_seq: 0,
            me,
            seeds: Vec::new(),
            announce_interval: config.announce_interval,
            announcing: false,
            state_sync_interval: config.state_sync_interval,
            rng: own_rng,
            members: BTreeSet::new(),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            config: config.clone(),
            tuned_for: config.expected_cluster_size.max(1),
            ceiling,
        };
        m.set_seeds(seeds);
        Ok(m)
    }

    /// The members currently suspected of being down (they have `suspect_timeout` to refute),
    /// sorted.
    pub fn suspects(&self) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = self
            .foca
            .iter_membership_state()
            .filter(|m| m.state() == foca::State::Suspect && self.members.contains(m.id().node()))
            .map(|m| m.id().node().clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether a peer's member table may be believed about `m`. A table is one peer's word
    /// about third parties, so it is not taken for: a generation more than an hour ahead,
    /// a member this node holds alive declared down (this node's own probes decide that), or
    /// a renewal more than one ahead of the one this node knows (a jump that would win every
    /// later conflict).
    fn believable(&self, m: &Member<SwimIdentity>) -> bool {
        let node = m.id().node();
        if node.generation() > self.ceiling.load(AtomicOrdering::Relaxed)
            || !node.endpoint().is_dialable()
        {
            return false;
        }
        let known = self.foca.iter_membership_state().find(|k| k.id().node() == node);
        match known {
            Some(k) if k.state() != foca::State::Down => {
                m.state() != foca::State::Down
                    && m.id().renewal() <= k.id().renewal().saturating_add(1)
            }
            _ => true,
        }
    }

    /// What a peer's word that `m` is down, where this node holds it alive or suspect, is
    /// taken for: a suspicion of the identity this node knows, at the incarnation it knows,
    /// that this node times out itself. A live member
    /// refutes it as SWIM has members do (an incarnation one higher, no new identity); a dead
    /// one is declared down when the suspicion times out. Without it, a node that missed the
    /// news of a crash waited to probe the dead member itself, up to a whole round of probes
    /// (a hundred seconds in a cluster of a hundred nodes).
    fn suspicion(&self, m: &Member<SwimIdentity>) -> Option<Member<SwimIdentity>> {
        if m.state() != foca::State::Down {
            return None;
        }
        let known = self.foca.iter_membership_state().find(|k| k.id() == m.id())?;
        // Held suspect already (a suspicion gossiped by its prober, whose word that it went
        // down this node missed): the same, foca times out only its own suspicions.
        matches!(known.state(), foca::State::Alive | foca::State::Suspect)
            .then(|| Member::new(known.id().clone(), known.incarnation(), foca::State::Suspect))
    }

    /// Tells membership the wall clock: a member whose generation (its start, in
    /// microseconds since the Unix epoch, as `beach-node` chooses it) is more than an hour
    /// ahead of it is refused. Until called, any generation is believed.
    pub fn set_clock(&mut self, wall: SystemTime) {
        let micros = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
        let ceiling = u64::try_from(micros + GENERATION_LEEWAY.as_micros()).unwrap_or(u64::MAX);
        self.ceiling.store(ceiling, AtomicOrdering::Relaxed);
    }

    /// This node.
    pub fn me(&self) -> &NodeId {
        &self.me
    }

    /// Replaces the seeds (for instance after resolving their names again).
    pub fn set_seeds(&mut self, seeds: Vec<Endpoint>) {
        let mut seeds: Vec<Endpoint> =
            seeds.into_iter().filter(|s| s != self.me.endpoint()).collect();
        seeds.sort();
        seeds.dedup();
        self.seeds = seeds;
    }

    /// Joins: announces this node to every seed and keeps doing so while alone.
    pub fn start(&mut self, now: Instant) {
        self.announce_to_seeds(now);
        self.arm_announce(now);
        self.schedule(now + self.state_sync_interval, DriverTimer::StateSync);
    }

    /// Handles a membership packet received from a peer.
    pub fn handle_packet(&mut self, now: Instant, data: &[u8]) -> Result<(), MembershipError> {
        let result = match data.split_first() {
            Some((&TAG_SWIM, packet)) => self
                .foca
                .handle_data(packet, &mut self.runtime)
                .map_err(|e| MembershipError::Packet(e.to_string())),
            Some((&TAG_STATE, table)) => {
                match ciborium::from_reader::<Vec<Member<SwimIdentity>>, _>(table) {
                    Ok(members) if members.len() > MAX_TABLE => {
                        Err(MembershipError::Packet(format!(
                            "a member table of {} entries (at most {MAX_TABLE})",
                            members.len()
                        )))
                    }
                    Ok(members) => {
                        let mut suspected = Vec::new();
                        let believable: Vec<Member<SwimIdentity>> = members
                            .into_iter()
                            .filter_map(|m| {
                                if self.believable(&m) {
                                    return Some(m);
                                }
                                let s = self.suspicion(&m)?;
                                suspected.push((s.id().clone(), s.incarnation()));
                                Some(s)
                            })
                            .collect();
                        for (id, incarnation) in suspected {
                            let at = now + self.config.suspect_timeout;
                            self.schedule(at, DriverTimer::Confirm(id, incarnation));
                        }
                        self.foca
                            .apply_many(believable.into_iter(), true, &mut self.runtime)
                            .map_err(|e| MembershipError::Packet(e.to_string()))
                    }
                    Err(e) => Err(MembershipError::Packet(format!("bad member table: {e}"))),
                }
            }
            Some((tag, _)) => Err(MembershipError::Packet(format!("unknown packet tag {tag}"))),
            None => Err(MembershipError::Packet("empty packet".to_owned())),
        };
        self.drain(now);
        result
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse(s)) = self.timers.peek() {
            if s.at > now {
                break;
            }
            let Reverse(s) = self.timers.pop().expect("peeked");
            match s.timer {
                DriverTimer::Swim(t) => {
                    // A timer for a state foca has left (a member already gone) is harmless;
                    // foca reports it as an error we have nothing to do about.
                    let _ = self.foca.handle_timer(t, &mut self.runtime);
                }
                DriverTimer::Announce => {
                    self.announcing = false;
                    if self.foca.num_members() == 0 {
                        self.announce_to_seeds(s.at);
                        self.arm_announce(s.at);
                    }
                }
                DriverTimer::Confirm(id, incarnation) => {
                    let still = self.foca.iter_membership_state().any(|m| {
                        m.id() == &id
                            && m.state() == foca::State::Suspect
                            && m.incarnation() == incarnation
                    });
                    if still {
                        let down = Member::new(id, incarnation, foca::State::Down);
                        let _ =
                            self.foca.apply_many(std::iter::once(down), true, &mut self.runtime);
                    }
                }
                DriverTimer::StateSync => {
                    self.sync_members();
                    self.send_state();
                    self.schedule(s.at + self.state_sync_interval, DriverTimer::StateSync);
                }
            }
            self.drain(now);
        }
    }

    /// When [`Membership::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse(s)| s.at)
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        pop_and_shrink(&mut self.transmits)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<MembershipEvent> {
        pop_and_shrink(&mut self.events)
    }

    /// Tells the cluster this node is leaving; peers drop it without waiting for suspicion.
    pub fn leave(&mut self, now: Instant) {
        let _ = self.foca.leave_cluster(&mut self.runtime);
        self.drain(now);
    }

    /// The other nodes currently alive (or suspected but not yet down), sorted.
    pub fn members(&self) -> impl Iterator<Item = &NodeId> {
        self.members.iter()
    }

    /// How many other members are up.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// Whether this node knows no other member.
    pub fn is_alone(&self) -> bool {
        self.members.is_empty()
    }

    /// Announces this node to nodes it heard of elsewhere (the owners in a peer's directory
    /// digest) but membership has never seen, at most [`MAX_INTRODUCTIONS`] per call. Gossip
    /// spreads each arrival a bounded number of times, so in a large cluster that grew fast a
    /// node can miss a few; the directory's anti-entropy names every owner its peer knows, and
    /// an announce to a missed node makes the two learn each other within one round trip.
    /// Nodes foca knows in any state (down included) are left to it.
    pub fn introduce<'a>(&mut self, now: Instant, nodes: impl IntoIterator<Item = &'a NodeId>) {
        let unknown: Vec<&NodeId> = not_in(&self.members, nodes)
            .into_iter()
            .filter(|n| *n != &self.me && n.generation() != 0)
            .collect();
        if unknown.is_empty() {
            return;
        }
        let known: BTreeSet<&NodeId> =
            self.foca.iter_membership_state().map(|m| m.id().node()).collect();
        let fresh: Vec<Endpoint> = unknown
            .into_iter()
            .filter(|n| !known.contains(n))
            .take(MAX_INTRODUCTIONS)
            .map(|n| n.endpoint().clone())
            .collect();
        for endpoint in fresh {
            let _ = self.foca.announce(SwimIdentity::seed(endpoint), &mut self.runtime);
        }
        self.drain(now);
    }

    /// Sends the members known to be down to one random member.
    fn send_state(&mut self) {
        // Only the down members: a missed Down is what leaves a straggler routing to a dead
        // node, while arrivals spread through announces and gossip. The list is short (empty
        // in a healthy cluster), so this costs next to nothing even with a thousand members.
        let table: Vec<&Member<SwimIdentity>> =
            self.foca.iter_membership_state().filter(|m| m.state() == foca::State::Down).collect();
        if table.is_empty() || self.members.is_empty() {
            return;
        }
        let pick = self.rng.random_range(0..self.members.len());
        let to = self.members.iter().nth(pick).expect("in range").endpoint().clone();
        let mut data = vec![TAG_STATE];
        if ciborium::into_writer(&table, &mut data).is_ok() {
            self.transmits.push_back(Transmit { to, data: data.into() });
        }
    }

    fn announce_to_seeds(&mut self, now: Instant) {
        for seed in self.seeds.clone() {
            let _ = self.foca.announce(SwimIdentity::seed(seed), &mut self.runtime);
        }
        self.drain(now);
    }

    fn arm_announce(&mut self, now: Instant) {
        if !self.announcing && !self.seeds.is_empty() {
            self.announcing = true;
            self.schedule(now + self.announce_interval, DriverTimer::Announce);
        }
    }

    fn schedule(&mut self, at: Instant, timer: DriverTimer) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.timers.push(Reverse(Scheduled { at, seq, timer }));
    }

    /// Moves what foca produced into our queues, turning notifications into events.
    fn drain(&mut self, now: Instant) {
        let mut drained = 0usize;
        while let Some((to, data)) = self.runtime.to_send() {
            drained += 1;
            let mut tagged = Vec::with_capacity(data.len() + 1);
            tagged.push(TAG_SWIM);
            tagged.extend_from_slice(&data);
            self.transmits
                .push_back(Transmit { to: to.node().endpoint().clone(), data: tagged.into() });
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            drained += 1;
            self.schedule(now + after, DriverTimer::Swim(timer));
        }
        let mut reconcile = false;
        let mut rejoined = false;
        while let Some(n) = self.runtime.to_notify() {
            drained += 1;
            match n {
                OwnedNotification::MemberUp(id) => self.member_up(id.into_node()),
                OwnedNotification::MemberDown(id) if self.members.remove(id.node()) => {
                    self.events.push_back(MembershipEvent::Down(id.into_node()));
                }
                // Rare (restarts and renewals) and subtle: recompute from foca's state.
                OwnedNotification::Rename(..) => reconcile = true,
                OwnedNotification::Idle => {
                    self.events.push_back(MembershipEvent::Idle);
                    self.announce_to_seeds(now);
                    self.arm_announce(now);
                }
                OwnedNotification::Active => self.events.push_back(MembershipEvent::Active),
                OwnedNotification::Rejoin(_) => {
                    self.events.push_back(MembershipEvent::Rejoined);
                    rejoined = true;
                }
                // Defunct: declared down and could not rejoin, which cannot happen with a
                // renewable identity; foca keeps retrying through its own announces.
                _ => {}
            }
        }
        if drained > KEPT_CAPACITY {
            // A join's burst of updates (a notification per member) grew foca's queues, now
            // empty: a fresh runtime does not keep that room for good on every node.
            self.runtime = AccumulatingRuntime::new();
        }
        if reconcile {
            self.sync_members();
        }
        if rejoined {
            // foca 2.0's rejoin (a new identity) resets its connection state and voids every
            // timer, and only a later update brings the probe cycle back. When the members it
            // still lists send nothing (all of them dead, the live ones having declared this
            // node down), no update ever comes: the node would keep a dead member alive and
            // never find the others again (campaign seed 1564). An empty batch of updates
            // makes foca look at its members now and restart probing and announcing.
            let _ = self.foca.apply_many(std::iter::empty(), true, &mut self.runtime);
            self.drain(now);
        }
        self.retune();
    }

    /// A member came up: add it, and if an older generation of the same endpoint was a member,
    /// that one restarted into this one. Incremental, so a join costs O(log n) here rather
    /// than a pass over every member.
    fn member_up(&mut self, node: NodeId) {
        if node == self.me || self.members.contains(&node) {
            return;
        }
        let older = self
            .members
            .range(NodeId::new(node.endpoint().clone(), 0)..node.clone())
            .rfind(|n| n.endpoint() == node.endpoint())
            .cloned();
        self.members.insert(node.clone());
        match older {
            Some(from) => {
                self.members.remove(&from);
                self.events.push_back(MembershipEvent::Renamed { from, to: node });
            }
            None => self.events.push_back(MembershipEvent::Up(node)),
        }
    }

    /// Recomputes the member set from foca's and reports the difference: after a rename, and
    /// once per sync period as a safety net, so the events always end up agreeing with foca's
    /// state whatever order its notifications came in.
    ///
    /// It runs every probe period on every node, so the usual case (nothing differs) borrows
    /// foca's ids instead of cloning a thousand of them.
    fn sync_members(&mut self) {
        let now: BTreeSet<&NodeId> =
            self.foca.iter_members().map(|m| m.id().node()).filter(|n| *n != &self.me).collect();
        if now.len() == self.members.len() && now.iter().copied().eq(self.members.iter()) {
            return;
        }
        let mut downs: BTreeMap<Endpoint, NodeId> = self
            .members
            .iter()
            .filter(|n| !now.contains(n))
            .map(|n| (n.endpoint().clone(), n.clone()))
            .collect();
        let ups: Vec<NodeId> =
            now.iter().filter(|n| !self.members.contains(**n)).map(|n| (*n).clone()).collect();
        let now: BTreeSet<NodeId> = now.into_iter().cloned().collect();
        let mut out = Vec::new();
        for up in ups {
            match downs.remove(up.endpoint()) {
                Some(from) if from.generation() < up.generation() => {
                    out.push(MembershipEvent::Renamed { from, to: up });
                }
                Some(from) => {
                    out.push(MembershipEvent::Down(from));
                    out.push(MembershipEvent::Up(up));
                }
                None => out.push(MembershipEvent::Up(up)),
            }
        }
        self.events.extend(downs.into_values().map(MembershipEvent::Down));
        self.events.extend(out);
        self.members = now;
    }

    /// SWIM piggybacks each update a number of times that must grow with the logarithm of the
    /// cluster size to reach everyone; retune foca whenever the cluster doubles past the size
    /// it was tuned for.
    fn retune(&mut self) {
        let size = u32::try_from(self.members.len() + 1).unwrap_or(u32::MAX);
        if size <= self.tuned_for {
            return;
        }
        let target = size.next_power_of_two();
        let config = MembershipConfig { expected_cluster_size: target, ..self.config.clone() };
        if self.foca.set_config(config.to_foca()).is_ok() {
            self.tuned_for = target;
        }
    }
}

#[cfg(test)]
mod tests;

/// The ids of `nodes` that are not in `set`. Every directory digest names every member, so
/// this runs about once a second with the whole cluster: sorted input (a digest's) is merged
/// with the sorted set in one pass; an id out of order is looked up.
fn not_in<'a>(
    set: &BTreeSet<NodeId>,
    nodes: impl IntoIterator<Item = &'a NodeId>,
) -> Vec<&'a NodeId> {
    let mut known = set.iter().peekable();
    let mut last: Option<&NodeId> = None;
    let mut out = Vec::new();
    for n in nodes {
        let member = if last.is_some_and(|l| n < l) {
            set.contains(n)
        } else {
            while known.next_if(|k| *k < n).is_some() {}
            last = Some(n);
            known.peek() == Some(&n)
        };
        if !member {
            out.push(n);
        }
    }
    out
}
