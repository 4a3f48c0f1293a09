use super::*;
use proptest::prelude::*;

fn node(i: usize) -> NodeId {
    format!("n{i}:1#1").parse().unwrap()
}

fn entry(cats: &[&str]) -> Entry {
    Entry::new(Realm::global(), "Pong", cats.iter().copied()).unwrap()
}

fn realm() -> Realm {
    Realm::global()
}

#[test]
fn writes_are_owner_only_and_bump_the_version() {
    let mut d = Directory::new(node(0));
    let foreign = node(1).actor_id(1);
    assert_eq!(
        d.insert(foreign.clone(), entry(&["x"])),
        Err(DirectoryError::NotOwner { id: foreign.clone() })
    );
    let id = node(0).actor_id(1);
    assert_eq!(d.own().version, FIRST_VERSION);
    d.insert(id.clone(), entry(&["x"])).unwrap();
    assert_eq!(d.own().version, 2);
    assert!(d.add_category(&id, Category::new("y").unwrap()).unwrap());
    assert!(!d.add_category(&id, Category::new("y").unwrap()).unwrap());
    assert_eq!(d.own().version, 3);
    assert!(d.remove_category(&id, &Category::new("x").unwrap()).unwrap());
    assert_eq!(d.lookup(&realm(), "x"), vec![]);
    assert_eq!(d.lookup(&realm(), "y"), vec![id.clone()]);
    assert!(d.remove(&id).is_some());
    assert!(d.remove(&id).is_none());
    assert_eq!(d.own().version, 5);
    assert_eq!(
        d.add_category(&id, Category::new("z").unwrap()),
        Err(DirectoryError::UnknownActor { id })
    );
}

#[test]
fn prefix_queries_follow_py_beach_and_stay_in_their_realm() {
    let mut d = Directory::new(node(0));
    let other = Realm::new("other").unwrap();
    let ids: Vec<_> = (0..4).map(|i| node(0).actor_id(i)).collect();
    d.insert(ids[0].clone(), entry(&["pongers"])).unwrap();
    d.insert(ids[1].clone(), entry(&["pingers", "svc/a/1"])).unwrap();
    d.insert(ids[2].clone(), entry(&["svc/b/2", "svc/c"])).unwrap();
    d.insert(ids[3].clone(), Entry::new(other.clone(), "Pong", ["pongers"]).unwrap()).unwrap();
    assert_eq!(d.lookup(&realm(), "p"), vec![ids[0].clone(), ids[1].clone()]);
    assert_eq!(d.lookup(&realm(), "p/"), vec![]);
    assert_eq!(d.lookup(&realm(), ""), ids[..3].to_vec());
    assert_eq!(d.lookup(&other, "p"), vec![ids[3].clone()]);
    let groups = d.subcategories(&realm(), "svc/");
    assert_eq!(groups.keys().collect::<Vec<_>>(), ["svc/a/", "svc/b/", "svc/c"]);
    assert_eq!(groups["svc/c"], vec![ids[2].clone()]);
    assert_eq!(d.categories(&realm(), "svc/").len(), 3);
    assert_eq!(d.count_by_node(&realm(), "p")[&node(0)], 2);
}

#[test]
fn deltas_apply_only_on_their_base() {
    let mut a = Directory::new(node(0));
    let mut b = Directory::new(node(1));
    let id = node(0).actor_id(1);
    a.insert(id.clone(), entry(&["x"])).unwrap();
    let d1 = a.take_delta().unwrap();
    assert!(a.take_delta().is_none());
    a.remove(&id);
    let d2 = a.take_delta().unwrap();
    assert_eq!((d2.base, d2.version), (2, 3));

    assert_eq!(b.apply_delta(&d1), DeltaOutcome::Ignored, "owner not alive yet");
    b.node_up(&node(0));
    assert_eq!(b.apply_delta(&d2), DeltaOutcome::Gap);
    assert_eq!(b.apply_delta(&d1), DeltaOutcome::Applied);
    assert_eq!(b.lookup(&realm(), "x"), vec![id]);
    assert_eq!(b.apply_delta(&d1), DeltaOutcome::Stale);
    assert_eq!(b.apply_delta(&d2), DeltaOutcome::Applied);
    assert!(b.is_empty());
}

#[test]
fn a_forged_partition_or_delta_is_refused() {
    let mut b = Directory::new(node(1));
    b.node_up(&node(0));
    let mut p = Partition::empty(node(0));
    p.version = 3;
    p.entries.insert(node(2).actor_id(1), entry(&["x"]));
    assert!(!b.install(p), "entries must belong to the owner");
    let mine = Partition { owner: node(1), version: 9, entries: BTreeMap::new() };
    assert!(!b.install(mine), "a node is the only writer of its own partition");
    let delta = PartitionDelta {
        owner: node(0),
        base: 0,
        version: 1,
        changes: vec![Change::Remove { id: node(2).actor_id(1) }],
    };
    assert_eq!(b.apply_delta(&delta), DeltaOutcome::Ignored);
}

#[test]
fn a_new_generation_replaces_the_old_one_for_good() {
    let old: NodeId = "n0:1#1".parse().unwrap();
    let new: NodeId = "n0:1#2".parse().unwrap();
    let mut b = Directory::new(node(1));
    assert!(b.node_up(&old));
    let mut p = Partition::empty(old.clone());
    p.version = 1;
    p.entries.insert(old.actor_id(1), entry(&["x"]));
    assert!(b.install(p.clone()));
    assert!(b.node_up(&new));
    assert_eq!(b.lookup(&realm(), "x"), vec![], "the old generation's actors are gone");
    assert!(!b.node_up(&old), "an older generation never comes back");
    p.version = 2;
    assert!(!b.install(p));
    assert!(b.lookup(&realm(), "").is_empty());
}

#[test]
fn after_the_newest_generation_dies_a_lower_one_may_join() {
    // A node restarted after its wall clock stepped back has a lower generation: once the
    // higher one is declared down and its partition dropped, the endpoint is free again.
    let before: NodeId = "n0:1#9".parse().unwrap();
    let after_clock_step: NodeId = "n0:1#5".parse().unwrap();
    let mut b = Directory::new(node(1));
    assert!(b.node_up(&before));
    assert!(!b.node_up(&after_clock_step), "not while the higher one lives");
    b.node_down(&before);
    assert!(b.node_up(&after_clock_step));
    let mut p = Partition::empty(after_clock_step.clone());
    p.version = 1;
    p.entries.insert(after_clock_step.actor_id(1), entry(&["x"]));
    assert!(b.install(p));
    assert_eq!(b.lookup(&realm(), "x").len(), 1);
}

#[test]
fn digest_answer_asks_back_only_for_what_is_newer() {
    let mut a = Directory::new(node(0));
    let mut b = Directory::new(node(1));
    a.node_up(&node(1));
    b.node_up(&node(0));
    a.insert(node(0).actor_id(1), entry(&["x"])).unwrap();
    let answer = b.handle_digest(&a.digest());
    assert!(answer.want.is_some(), "a has a newer partition of a than b");
    assert!(answer.partitions.is_empty(), "b's own partition is blank: it goes without saying");
    for p in answer.partitions {
        a.install(p);
    }
    let back = a.handle_digest(&answer.want.unwrap());
    for p in back.partitions {
        b.install(p);
    }
    assert_eq!(a.digest(), b.digest());
    assert_eq!(b.handle_digest(&a.digest()), DigestAnswer::default());
}

#[test]
fn learnt_changes_show_until_the_partition_catches_up() {
    let mut b = Directory::new(node(1));
    b.node_up(&node(0));
    let id = node(0).actor_id(1);
    b.learn(&id, Some(entry(&["x"])), 1);
    assert_eq!(b.lookup(&realm(), "x"), vec![id.clone()], "visible before the partition arrives");
    assert_eq!(b.categories(&realm(), "").len(), 1);
    assert_eq!(b.subcategories(&realm(), "").len(), 1);
    assert!(b.entry(&id).is_some());
    // The partition at version 1 arrives: the learnt entry is dropped, the partition rules.
    let mut p = Partition::empty(node(0));
    p.version = 1;
    p.entries.insert(id.clone(), entry(&["x"]));
    assert!(b.install(p.clone()));
    assert!(b.learnt.is_empty());
    // A learnt removal hides the actor until the partition without it arrives.
    b.learn(&id, None, 2);
    assert_eq!(b.lookup(&realm(), "x"), vec![]);
    assert!(b.entry(&id).is_none());
    b.learn(&id, Some(entry(&["x"])), 1);
    assert_eq!(b.lookup(&realm(), "x"), vec![], "an older learnt change never wins");
    // The owner dies: whatever was learnt of it goes too.
    b.node_down(&node(0));
    assert!(b.learnt.is_empty());
    // An answer that arrives after its owner was declared down is not kept (it would list
    // the dead actor for good: seed 1281 of the deployment campaign).
    b.learn(&node(0).actor_id(9), Some(entry(&["z"])), 3);
    assert!(b.learnt.is_empty() && b.lookup(&realm(), "z").is_empty());
    b.learn(&node(1).actor_id(5), Some(entry(&["y"])), 1);
    assert!(b.learnt.is_empty(), "own actors are never learnt");
}

#[test]
fn a_partial_digest_asks_only_for_the_listed_owners() {
    let mut a = Directory::new(node(0));
    a.node_up(&node(1));
    a.node_up(&node(2));
    a.insert(node(0).actor_id(1), entry(&["x"])).unwrap();
    let mut p = Partition::empty(node(2));
    p.version = 4;
    assert!(a.install(p));
    // "Yours, please": only a's own partition, not node 2's.
    let answer = a.handle_digest(&Digest::for_owner(node(0), 0));
    assert_eq!(answer.partitions.len(), 1);
    assert_eq!(answer.partitions[0].owner, node(0));
    assert!(a.handle_digest(&a.digest_for(&node(0))).partitions.is_empty(), "nothing newer");
    // A full digest that lists nothing gets everything.
    assert_eq!(a.handle_digest(&Digest::default()).partitions.len(), 2);
}

#[test]
fn a_full_answer_is_capped_but_always_makes_progress() {
    let mut a = Directory::new(node(0));
    for i in 1..4 {
        a.node_up(&node(i));
        let mut p = Partition::empty(node(i));
        // Written (above the blank first version).
        p.version = FIRST_VERSION + 1;
        for seq in 0..(MAX_ANSWER_ENTRIES as u64 / 2 + 1) {
            p.entries.insert(node(i).actor_id(seq), entry(&["x"]));
        }
        assert!(a.install(p));
    }
    let answer = a.handle_digest(&Digest::default());
    // One big one fits; the next would pass the cap (the own partition is blank: not sent).
    assert_eq!(answer.partitions.len(), 1);
    let mut b = Directory::new(node(9));
    for i in 0..4 {
        b.node_up(&node(i));
    }
    // Round after round, the gap closes.
    for _ in 0..4 {
        for p in a.handle_digest(&b.digest()).partitions {
            b.install(p);
        }
    }
    assert_eq!(b.len(), a.len());
}

// ----- property tests: anti-entropy converges under any order and duplication -----

const NODES: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Insert { node: usize, seq: u64, cat: u8 },
    Remove { node: usize, seq: u64 },
    AddCategory { node: usize, seq: u64, cat: u8 },
    PushDelta { node: usize },
    Exchange { from: usize, to: usize },
    Deliver { pick: usize, duplicate: bool },
    Kill { node: usize },
}

fn arb_op() -> impl Strategy<Value = Op> {
    let n = 0..NODES;
    prop_oneof![
        3 => (n.clone(), 0..6u64, 0..4u8).prop_map(|(node, seq, cat)| Op::Insert { node, seq, cat }),
        1 => (n.clone(), 0..6u64).prop_map(|(node, seq)| Op::Remove { node, seq }),
        1 => (n.clone(), 0..6u64, 0..4u8).prop_map(|(node, seq, cat)| Op::AddCategory { node, seq, cat }),
        2 => n.clone().prop_map(|node| Op::PushDelta { node }),
        3 => (n.clone(), n.clone()).prop_map(|(from, to)| Op::Exchange { from, to }),
        5 => (any::<usize>(), any::<bool>()).prop_map(|(pick, duplicate)| Op::Deliver { pick, duplicate }),
        1 => n.prop_map(|node| Op::Kill { node }),
    ]
}

#[derive(Debug, Clone)]
enum Msg {
    Digest { from: usize, digest: Digest },
    Partitions { from: usize, partitions: Vec<Partition>, want: Option<Digest> },
    Delta(PartitionDelta),
}

struct World {
    dirs: Vec<Directory>,
    dead: BTreeSet<usize>,
    /// Messages in flight: (to, message).
    net: Vec<(usize, Msg)>,
}

impl World {
    fn new() -> Self {
        let mut dirs: Vec<_> = (0..NODES).map(|i| Directory::new(node(i))).collect();
        for (i, d) in dirs.iter_mut().enumerate() {
            for j in (0..NODES).filter(|&j| j != i) {
                d.node_up(&node(j));
            }
        }
        Self { dirs, dead: BTreeSet::new(), net: Vec::new() }
    }

    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..NODES).filter(|i| !self.dead.contains(i))
    }

    fn cat(c: u8) -> Category {
        Category::new(format!("c{c}")).unwrap()
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Insert { node: n, seq, cat } if !self.dead.contains(&n) => {
                let e = Entry {
                    realm: realm(),
                    actor_type: ActorType::new("T").unwrap(),
                    categories: std::sync::Arc::new([Self::cat(cat)].into()),
                    owner: None,
                };
                self.dirs[n].insert(node(n).actor_id(seq), e).unwrap();
            }
            Op::Remove { node: n, seq } if !self.dead.contains(&n) => {
                self.dirs[n].remove(&node(n).actor_id(seq));
            }
            Op::AddCategory { node: n, seq, cat } if !self.dead.contains(&n) => {
                let _ = self.dirs[n].add_category(&node(n).actor_id(seq), Self::cat(cat));
            }
            Op::PushDelta { node: n } if !self.dead.contains(&n) => {
                if let Some(delta) = self.dirs[n].take_delta() {
                    for to in (0..NODES).filter(|&to| to != n) {
                        self.net.push((to, Msg::Delta(delta.clone())));
                    }
                }
            }
            Op::Exchange { from, to } if from != to && !self.dead.contains(&from) => {
                let digest = self.dirs[from].digest();
                self.net.push((to, Msg::Digest { from, digest }));
            }
            Op::Deliver { pick, duplicate } if !self.net.is_empty() => {
                let i = pick % self.net.len();
                let (to, msg) =
                    if duplicate { self.net[i].clone() } else { self.net.swap_remove(i) };
                self.deliver(to, msg);
            }
            Op::Kill { node: n } if self.live().count() > 1 && !self.dead.contains(&n) => {
                self.dead.insert(n);
                for i in self.live().collect::<Vec<_>>() {
                    self.dirs[i].node_down(&node(n));
                }
            }
            _ => {}
        }
    }

    fn deliver(&mut self, to: usize, msg: Msg) {
        if self.dead.contains(&to) {
            return;
        }
        match msg {
            Msg::Digest { from, digest } => {
                let answer = self.dirs[to].handle_digest(&digest);
                self.net.push((
                    from,
                    Msg::Partitions { from: to, partitions: answer.partitions, want: answer.want },
                ));
            }
            Msg::Partitions { from, partitions, want } => {
                for p in partitions {
                    self.dirs[to].install(p);
                }
                if let Some(want) = want {
                    let back = self.dirs[to].handle_digest(&want).partitions;
                    self.net
                        .push((from, Msg::Partitions { from: to, partitions: back, want: None }));
                }
            }
            Msg::Delta(delta) => {
                self.dirs[to].apply_delta(&delta);
            }
        }
    }

    /// Every live pair exchanges digests, with immediate delivery, until nothing changes.
    fn settle(&mut self) {
        for _ in 0..NODES {
            let live: Vec<_> = self.live().collect();
            for &from in &live {
                for &to in &live {
                    if from != to {
                        let digest = self.dirs[from].digest();
                        self.deliver(to, Msg::Digest { from, digest });
                        while let Some((to, msg)) = self.net.pop() {
                            self.deliver(to, msg);
                        }
                    }
                }
            }
        }
    }

    /// Every live node's partition that was ever written (blank ones go without saying).
    fn expected(&self) -> Vec<Partition> {
        self.live().map(|i| self.dirs[i].own().clone()).filter(|p| !p.is_blank()).collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn anti_entropy_converges_to_the_union_of_live_partitions(
        ops in proptest::collection::vec(arb_op(), 0..120)
    ) {
        let mut w = World::new();
        // Stale messages stay in flight; settle() delivers fresh ones only.
        for op in ops {
            w.apply(op);
        }
        let stale = std::mem::take(&mut w.net);
        w.settle();
        let expected = w.expected();
        for i in w.live() {
            let held: Vec<Partition> =
                w.dirs[i].partitions().filter(|p| !p.is_blank()).cloned().collect::<Vec<_>>();
            let mut held_sorted = held.clone();
            held_sorted.sort_by(|a, b| a.owner.cmp(&b.owner));
            prop_assert_eq!(&held_sorted, &expected, "node {} diverged", i);
        }
        // Late, duplicated and reordered deliveries of old messages change nothing, and never
        // bring back a dead owner's actors.
        for (to, msg) in stale.iter().cloned().chain(stale.iter().rev().cloned()) {
            w.deliver(to, msg);
        }
        w.net.clear();
        w.settle();
        for i in w.live() {
            for dead in &w.dead {
                prop_assert!(w.dirs[i].partition(&node(*dead)).is_none());
                let leaked = w.dirs[i].lookup(&realm(), "").into_iter().any(|id| id.node() == &node(*dead));
                prop_assert!(!leaked, "node {} shows actors of dead node {}", i, dead);
            }
            let mut held: Vec<Partition> =
                w.dirs[i].partitions().filter(|p| !p.is_blank()).cloned().collect();
            held.sort_by(|a, b| a.owner.cmp(&b.owner));
            prop_assert_eq!(&held, &expected);
        }
    }

    #[test]
    fn the_index_agrees_with_the_partitions(ops in proptest::collection::vec(arb_op(), 0..80)) {
        let mut w = World::new();
        for op in ops {
            w.apply(op);
        }
        for i in w.live() {
            let d = &w.dirs[i];
            for c in 0..4u8 {
                let prefix = format!("c{c}");
                let mut scanned: Vec<ActorId> = d
                    .partitions()
                    .flat_map(|p| p.entries.iter())
                    .filter(|(_, e)| e.categories.iter().any(|cat| cat.matches(&prefix)))
                    .map(|(id, _)| id.clone())
                    .collect();
                scanned.sort();
                prop_assert_eq!(d.lookup(&realm(), &prefix), scanned);
            }
        }
    }
}

#[test]
fn a_blank_partition_goes_without_saying() {
    let mut a = Directory::new(node(0));
    let mut b = Directory::new(node(1));
    a.node_up(&node(1));
    b.node_up(&node(0));
    // Nodes without actors name each other at the first version, ask nothing of each other,
    // and hold the same directory: a cluster of them converges without meeting.
    assert_eq!(a.digest(), b.digest());
    assert_eq!(a.digest().versions.get(&node(1)), Some(&FIRST_VERSION));
    let naming = Digest { versions: BTreeMap::from([(node(0), FIRST_VERSION)]), partial: false };
    assert!(b.stale_owners(&naming).is_empty(), "nothing to fetch from a blank partition");
    assert_eq!(a.own_answer(&b.digest()), (None, false));
    // Asked for it all the same ("yours, please"), a node sends it: empty, newer than none.
    let answer = a.handle_digest(&b.digest_for(&node(0)));
    assert_eq!(answer.partitions, vec![a.own().clone()]);
    assert!(b.install(answer.partitions[0].clone()));
    assert_eq!(a.digest(), b.digest(), "held or not, a blank partition reads the same");
    // A first delta applies on top of the empty first version, held or not.
    let id = node(1).actor_id(1);
    b.insert(id.clone(), entry(&["x"])).unwrap();
    assert_eq!(a.apply_delta(&b.take_delta().unwrap()), DeltaOutcome::Applied);
    assert_eq!(a.lookup(&realm(), "x"), vec![id]);
}

#[test]
fn a_node_answers_a_digest_with_its_own_partition_and_a_flag_for_the_rest() {
    let mut a = Directory::new(node(0));
    a.node_up(&node(1));
    a.insert(node(0).actor_id(1), entry(&["x"])).unwrap();
    let mut p = Partition::empty(node(1));
    p.version = 5;
    p.entries.insert(node(1).actor_id(1), entry(&["y"]));
    assert!(a.install(p));
    // An empty peer: ours, and we hold node 1's newer than it does.
    let (own, others) = a.own_answer(&Digest::default());
    assert_eq!(own.map(|p| p.owner), Some(node(0)));
    assert!(others);
    // A peer that holds both as new: nothing.
    let (own, others) = a.own_answer(&a.digest());
    assert!(own.is_none() && !others);
    // A partial digest about node 1 only: not ours, and node 1's only if newer here.
    let (own, others) = a.own_answer(&Digest::for_owner(node(1), 4));
    assert!(own.is_none() && others);
}
