//! A small discrete-event simulation: nodes exchange packets with seeded latency, time is
//! virtual, and the trace of events is compared across runs.

use std::collections::{BTreeMap, BTreeSet};

use rand::RngExt;

use super::*;
use crate::rng::{derive, seeded};
use foca::State;

struct Sim {
    base: Instant,
    now: Instant,
    seed: u64,
    rng: NodeRng,
    nodes: BTreeMap<Endpoint, Membership>,
    silenced: BTreeSet<Endpoint>,
    /// Packets in flight: (arrival, sequence) → (to, data).
    in_flight: BTreeMap<(Instant, u64), (Endpoint, Bytes)>,
    seq: u64,
    trace: Vec<String>,
    events: Vec<(Duration, Endpoint, MembershipEvent)>,
}

fn endpoint(i: usize) -> Endpoint {
    Endpoint::new(format!("10.0.0.{i}:4999")).unwrap()
}

impl Sim {
    fn new(seed: u64) -> Self {
        let base = Instant::now();
        Self {
            base,
            now: base,
            seed,
            rng: seeded(seed),
            nodes: BTreeMap::new(),
            silenced: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            seq: 0,
            trace: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Starts node `i` with generation `generation`, announcing to node 0.
    fn start(&mut self, i: usize, generation: u64) -> NodeId {
        self.start_seeded(i, generation, vec![endpoint(0)])
    }

    /// Starts node `i` announcing to `seeds`.
    fn start_seeded(&mut self, i: usize, generation: u64, seeds: Vec<Endpoint>) -> NodeId {
        let id = NodeId::new(endpoint(i), generation);
        let rng = derive(self.seed, (i as u64) << 32 | generation);
        let mut m = Membership::new(id.clone(), seeds, &MembershipConfig::default(), rng).unwrap();
        m.start(self.now);
        self.nodes.insert(endpoint(i), m);
        self.silenced.remove(&endpoint(i));
        self.pump();
        id
    }

    fn pump(&mut self) {
        let eps: Vec<Endpoint> = self.nodes.keys().cloned().collect();
        for ep in eps {
            let m = self.nodes.get_mut(&ep).unwrap();
            while let Some(t) = m.poll_transmit() {
                if self.silenced.contains(&ep) {
                    continue;
                }
                let latency = Duration::from_micros(self.rng.random_range(200..3_000));
                self.seq += 1;
                self.in_flight.insert((self.now + latency, self.seq), (t.to, t.data));
            }
            while let Some(e) = m.poll_event() {
                let at = self.now - self.base;
                self.trace.push(format!("{}ms {ep} {e:?}", at.as_millis()));
                self.events.push((at, ep.clone(), e));
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next_packet = self.in_flight.keys().next().map(|k| k.0);
            let next_timer = self
                .nodes
                .iter()
                .filter(|(ep, _)| !self.silenced.contains(*ep))
                .filter_map(|(_, m)| m.poll_timeout())
                .min();
            let Some(next) = [next_packet, next_timer].into_iter().flatten().min() else { break };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            while let Some(entry) = self.in_flight.first_entry() {
                if entry.key().0 > self.now {
                    break;
                }
                let (to, data) = entry.remove();
                if self.silenced.contains(&to) {
                    continue;
                }
                if let Some(m) = self.nodes.get_mut(&to) {
                    let _ = m.handle_packet(self.now, &data);
                }
            }
            for (ep, m) in self.nodes.iter_mut() {
                if !self.silenced.contains(ep) {
                    m.handle_timeout(self.now);
                }
            }
            self.pump();
        }
        self.now = end;
    }

    fn members_of(&self, i: usize) -> Vec<NodeId> {
        self.nodes[&endpoint(i)].members().cloned().collect()
    }
}

fn five_nodes(seed: u64) -> (Sim, Vec<NodeId>) {
    let mut sim = Sim::new(seed);
    let ids = (0..5).map(|i| sim.start(i, 1)).collect();
    sim.run_for(Duration::from_secs(5));
    (sim, ids)
}

#[test]
fn an_introduction_joins_a_node_membership_never_met() {
    let (mut sim, ids) = five_nodes(3);
    // Node 7 has no seeds: nothing would ever bring it and the five together.
    let stranger = sim.start_seeded(7, 1, vec![]);
    sim.run_for(Duration::from_secs(5));
    assert!(sim.members_of(7).is_empty());
    sim.pump();
    let now = sim.now;
    let m = sim.nodes.get_mut(&endpoint(1)).unwrap();
    // Itself, members it knows and generation 0 are not introduced.
    m.introduce(now, [&ids[1], &ids[2], &NodeId::new(endpoint(9), 0)]);
    assert!(m.poll_transmit().is_none());
    // An unknown id out of order is introduced too.
    m.introduce(now, [&ids[4], &NodeId::new(endpoint(0), 99), &ids[3]]);
    assert!(m.poll_transmit().is_some());
    while m.poll_transmit().is_some() {}
    m.introduce(now, [&stranger]);
    sim.pump();
    sim.run_for(Duration::from_millis(100));
    assert!(sim.members_of(1).contains(&stranger), "{:?}", sim.trace);
    assert!(sim.members_of(7).contains(&ids[1]), "{:?}", sim.trace);
    // From there gossip and the periodic announces do the rest.
    sim.run_for(Duration::from_secs(15));
    assert_eq!(sim.members_of(7), ids, "{:?}", sim.trace);
    for i in 0..5 {
        assert!(sim.members_of(i).contains(&stranger), "node {i} learnt the stranger");
    }
}

#[test]
fn introductions_are_bounded_per_call() {
    let mut sim = Sim::new(1);
    sim.start_seeded(0, 1, vec![]);
    let strangers: Vec<NodeId> = (10..20).map(|i| NodeId::new(endpoint(i), 1)).collect();
    let now = sim.now;
    let m = sim.nodes.get_mut(&endpoint(0)).unwrap();
    m.introduce(now, &strangers);
    let mut sent = 0;
    while m.poll_transmit().is_some() {
        sent += 1;
    }
    assert_eq!(sent, MAX_INTRODUCTIONS);
}

#[test]
fn all_nodes_learn_each_other() {
    for seed in 0..5 {
        let (sim, ids) = five_nodes(seed);
        for (i, me) in ids.iter().enumerate() {
            let expected: Vec<NodeId> = ids.iter().filter(|n| *n != me).cloned().collect();
            assert_eq!(sim.members_of(i), expected, "node {i} with BEACH_SIM_SEED={seed}");
        }
    }
}

#[test]
fn a_silenced_node_is_declared_down_everywhere() {
    for seed in 0..5 {
        let (mut sim, ids) = five_nodes(seed);
        let t0 = sim.now - sim.base;
        sim.silenced.insert(endpoint(4));
        sim.run_for(Duration::from_secs(15));
        for i in 0..4 {
            assert!(
                !sim.members_of(i).contains(&ids[4]),
                "node {i} still lists node 4 (BEACH_SIM_SEED={seed})"
            );
            let when = sim
                .events
                .iter()
                .find(|(_, ep, e)| {
                    *ep == endpoint(i) && *e == MembershipEvent::Down(ids[4].clone())
                })
                .map(|(at, ..)| *at - t0)
                .unwrap_or_else(|| panic!("node {i} saw no Down (BEACH_SIM_SEED={seed})"));
            assert!(
                when < Duration::from_secs(10),
                "detection took {when:?} (BEACH_SIM_SEED={seed})"
            );
        }
    }
}

#[test]
fn a_restarted_node_replaces_its_old_self() {
    for seed in 0..5 {
        let (mut sim, ids) = five_nodes(seed);
        // Node 2 dies and comes back at once with a new generation, before anyone notices.
        let new = sim.start(2, 2);
        sim.run_for(Duration::from_secs(10));
        for i in [0, 1, 3, 4] {
            let members = sim.members_of(i);
            assert!(
                members.contains(&new),
                "node {i} lacks the new node 2 (BEACH_SIM_SEED={seed})"
            );
            assert!(
                !members.contains(&ids[2]),
                "node {i} still lists the old node 2 (BEACH_SIM_SEED={seed})"
            );
            let replaced = sim.events.iter().any(|(_, ep, e)| {
                *ep == endpoint(i)
                    && matches!(e, MembershipEvent::Renamed { from, to } if *from == ids[2] && *to == new)
            });
            assert!(replaced, "node {i} saw no rename (BEACH_SIM_SEED={seed}): {:#?}", sim.trace);
        }
        assert_eq!(sim.members_of(2).len(), 4);
    }
}

#[test]
fn a_node_that_leaves_is_dropped_without_suspicion() {
    let (mut sim, ids) = five_nodes(3);
    let t0 = sim.now;
    sim.nodes.get_mut(&endpoint(1)).unwrap().leave(sim.now);
    sim.pump();
    // The goodbye packets are in flight; the node itself does no more.
    sim.nodes.remove(&endpoint(1));
    // Well under probe period + suspect timeout (4s): nobody had to suspect it.
    sim.run_for(Duration::from_secs(2));
    for i in [0, 2, 3, 4] {
        assert!(!sim.members_of(i).contains(&ids[1]), "node {i} kept a node that left");
    }
    assert!(sim.now - t0 <= Duration::from_secs(2));
}

#[test]
fn a_lone_node_keeps_announcing_until_a_seed_appears() {
    let mut sim = Sim::new(9);
    sim.start(1, 1);
    sim.run_for(Duration::from_secs(5));
    assert!(sim.members_of(1).is_empty());
    sim.start(0, 1);
    sim.run_for(Duration::from_secs(3));
    assert_eq!(sim.members_of(1).len(), 1, "{:#?}", sim.trace);
    assert_eq!(sim.members_of(0).len(), 1);
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let run = |seed| {
        let (mut sim, _) = five_nodes(seed);
        sim.silenced.insert(endpoint(3));
        sim.run_for(Duration::from_secs(10));
        sim.start(3, 2);
        sim.run_for(Duration::from_secs(5));
        sim.trace
    };
    let a = run(42);
    assert!(!a.is_empty());
    assert_eq!(a, run(42));
    assert_ne!(a, run(43), "a different seed should time things differently");
}

#[test]
fn generation_zero_is_reserved() {
    let id = NodeId::new(endpoint(0), 0);
    let err = Membership::new(id, vec![], &MembershipConfig::default(), seeded(1)).unwrap_err();
    assert!(matches!(err, MembershipError::ReservedGeneration(_)));
}

#[test]
fn garbage_packets_are_errors() {
    let id = NodeId::new(endpoint(0), 1);
    let mut m = Membership::new(id, vec![], &MembershipConfig::default(), seeded(1)).unwrap();
    let now = Instant::now();
    assert!(m.handle_packet(now, b"\xff\x00garbage").is_err());
    assert!(m.handle_packet(now, &[]).is_err());
    assert!(m.is_alone());
}

/// A member table as a peer's state sync sends it, listing `members`.
fn state_table(members: &[Member<SwimIdentity>]) -> Vec<u8> {
    let mut data = vec![TAG_STATE];
    ciborium::into_writer(&members, &mut data).unwrap();
    data
}

#[test]
fn gossip_cannot_ban_an_endpoint_with_a_generation_from_the_far_future() {
    let mut sim = Sim::new(31);
    let a = sim.start(0, 1_000);
    let b = sim.start(1, 1_000);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.members_of(0), vec![b.clone()]);
    // Node 0's clock: generations are start times in microseconds.
    let clock = UNIX_EPOCH + Duration::from_micros(1_000);
    sim.nodes.get_mut(&endpoint(0)).unwrap().set_clock(clock);
    // Someone lists node 1's endpoint at the largest generation, down, and at an absurd
    // renewal: believed, it would take the endpoint from node 1 for good.
    let forged = NodeId::new(endpoint(1), u64::MAX);
    let table = state_table(&[Member::new(SwimIdentity::new(forged, 65_535), 0, State::Down)]);
    let now = sim.now;
    let m = sim.nodes.get_mut(&endpoint(0)).unwrap();
    m.handle_packet(now, &table).unwrap();
    sim.pump();
    sim.run_for(Duration::from_secs(10));
    assert_eq!(sim.members_of(0), vec![b], "node 1 was evicted by gossip");
    // A table longer than any cluster is refused whole.
    let many: Vec<Member<SwimIdentity>> = (0..MAX_TABLE as u64 + 1)
        .map(|i| {
            Member::new(SwimIdentity::new(NodeId::new(endpoint(9), i + 1), 0), 0, State::Alive)
        })
        .collect();
    let now = sim.now;
    let err = sim.nodes.get_mut(&endpoint(0)).unwrap().handle_packet(now, &state_table(&many));
    assert!(err.unwrap_err().to_string().contains("at most"));
    let _ = a;
}

#[test]
fn a_peers_table_cannot_declare_a_live_member_down_or_jump_its_renewal() {
    let mut sim = Sim::new(32);
    sim.start(0, 1_000);
    let b = sim.start(1, 1_000);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.members_of(0), vec![b.clone()]);
    let now = sim.now;
    let claims = [
        Member::new(SwimIdentity::new(b.clone(), 0), 60_000, State::Down),
        Member::new(SwimIdentity::new(b.clone(), 65_535), 0, State::Alive),
    ];
    for claim in claims {
        sim.nodes
            .get_mut(&endpoint(0))
            .unwrap()
            .handle_packet(now, &state_table(&[claim]))
            .unwrap();
    }
    sim.pump();
    sim.run_for(Duration::from_secs(10));
    assert_eq!(sim.members_of(0), vec![b], "node 0 took a third party's word for it");
    let renewals: Vec<u16> =
        sim.nodes[&endpoint(0)].foca.iter_membership_state().map(|m| m.id().renewal()).collect();
    assert!(renewals.iter().all(|&r| r < 2), "{renewals:?}");
}

#[test]
fn a_peers_word_that_a_member_is_down_makes_it_suspect_and_a_dead_one_goes() {
    let mut sim = Sim::new(33);
    let ids: Vec<NodeId> = (0..30).map(|i| sim.start(i, 1)).collect();
    sim.run_for(Duration::from_secs(10));
    assert_eq!(sim.members_of(0).len(), 29);
    // Node 29 dies; a peer tells node 0, which has not probed it since.
    sim.silenced.insert(endpoint(29));
    let victim = sim.nodes[&endpoint(0)]
        .foca
        .iter_membership_state()
        .find(|m| m.id().node() == &ids[29])
        .cloned()
        .unwrap();
    let claim = Member::new(victim.id().clone(), victim.incarnation() + 7, State::Down);
    let now = sim.now;
    sim.nodes.get_mut(&endpoint(0)).unwrap().handle_packet(now, &state_table(&[claim])).unwrap();
    let state = |sim: &Sim| {
        sim.nodes[&endpoint(0)]
            .foca
            .iter_membership_state()
            .find(|m| m.id().node() == &ids[29])
            .map(|m| (m.state(), m.incarnation()))
    };
    assert_eq!(state(&sim), Some((State::Suspect, victim.incarnation())), "suspected, not taken");
    // The suspicion times out (3 s) long before a probe round over 29 members would end.
    sim.pump();
    sim.run_for(Duration::from_millis(3_200));
    assert!(!sim.members_of(0).contains(&ids[29]), "{:?}", state(&sim));
}

#[test]
fn ids_not_in_a_set_are_found_in_sorted_input_and_in_any_order() {
    let id = |i: usize, g: u64| NodeId::new(endpoint(i), g);
    let set: BTreeSet<NodeId> = [id(1, 1), id(3, 1), id(5, 1), id(7, 1)].into_iter().collect();
    let sorted = [id(0, 1), id(1, 1), id(3, 2), id(5, 1), id(8, 1)];
    assert_eq!(not_in(&set, &sorted), [&sorted[0], &sorted[2], &sorted[4]]);
    let shuffled = [id(7, 1), id(1, 1), id(2, 1), id(5, 1), id(0, 1), id(7, 1), id(9, 1)];
    assert_eq!(not_in(&set, &shuffled), [&shuffled[2], &shuffled[4], &shuffled[6]]);
    assert!(not_in(&BTreeSet::new(), &[] as &[NodeId]).is_empty());
}

#[test]
fn a_drained_queue_gives_back_a_bursts_room() {
    let mut queue: VecDeque<u32> = (0..10_000).collect();
    assert!(queue.capacity() >= 10_000);
    while pop_and_shrink(&mut queue).is_some() {}
    assert!(queue.capacity() <= KEPT_CAPACITY, "{}", queue.capacity());
    // A small queue keeps its room: no allocation per message in the usual case.
    let mut queue: VecDeque<u32> = VecDeque::with_capacity(16);
    queue.push_back(1);
    let room = queue.capacity();
    while pop_and_shrink(&mut queue).is_some() {}
    assert_eq!(queue.capacity(), room);
}
