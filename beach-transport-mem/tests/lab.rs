//! The strategy lab on small scenarios: reports replay from their seed, the figures say what
//! the strategies do (rendezvous moves no key needlessly where modulo hashing moves most; the
//! power of two choices spreads an outside client's requests and avoids a slow node), and a
//! user's own strategies run beside the built-in ones.

use beach_core::model::{ActorId, NodeId};
use beach_core::placement::ClusterView;
use beach_core::rng::NodeRng;
use beach_transport_mem::lab::{Lab, LabError, Placer, Report, Router, Scenario, Variant};

/// Four nodes, a node crash, its actors spawned again three seconds later, then four more.
const CRASH: &str = "
name: small crash
duration: 18s
nodes: {count: 4, cores: 2}
workload: {actors: 8, spawn_batch: 4, rate: 150, keys: 200, service_time: 2ms, timeout: 1s, respawn_after: 3s}
events:
  - {at: 4s, crash: 3}
  - {at: 12s, spawn: 4}
compare: {placement: [repulsion], routing: [random, affinity]}
";

fn variant<'a>(report: &'a Report, name: &str) -> &'a Variant {
    report.variants.iter().find(|v| v.name == name).unwrap_or_else(|| {
        panic!(
            "no variant {name} in {:?}",
            report.variants.iter().map(|v| &v.name).collect::<Vec<_>>()
        )
    })
}

#[test]
fn the_same_seed_gives_the_same_report_and_another_seed_another() {
    let scenario = Scenario::parse(CRASH).unwrap();
    let a = Lab::new(scenario.clone()).run().unwrap();
    let b = Lab::new(scenario.clone()).run().unwrap();
    assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    assert_eq!(a.html(), b.html());
    let c = Lab::new(scenario).seed(2).run().unwrap();
    assert_eq!(c.seed, 2);
    assert_ne!(a.variants, c.variants, "another seed, another run");
}

/// Key hash modulo the number of members: sticky, but a change of members moves most keys.
struct Modulo;

impl Router for Modulo {
    fn name(&self) -> String {
        "modulo".into()
    }
    fn pick(
        &self,
        members: &[ActorId],
        key: u32,
        tried: &[ActorId],
        _rng: &mut NodeRng,
    ) -> ActorId {
        let fresh: Vec<&ActorId> = members.iter().filter(|m| !tried.contains(m)).collect();
        let pool = if fresh.is_empty() { members.iter().collect() } else { fresh };
        pool[key as usize % pool.len()].clone()
    }
}

/// Everything on the first node.
struct Pile;

impl Placer for Pile {
    fn name(&self) -> String {
        "pile".into()
    }
    fn place(&self, view: &ClusterView, count: usize, _rng: &mut NodeRng) -> Vec<NodeId> {
        vec![view.nodes[0].id.clone(); count]
    }
}

#[test]
fn rendezvous_moves_only_the_lost_keys_where_a_custom_modulo_router_moves_most() {
    let report = Lab::new(Scenario::parse(CRASH).unwrap()).router(Modulo).run().unwrap();
    assert_eq!(report.events.len(), 2);
    assert_eq!(report.events[0].label, "crash node 3");
    assert_eq!(report.events[1].label, "4 more actors");
    let rendezvous = &variant(&report, "repulsion / affinity").affinity;
    let modulo = &variant(&report, "repulsion / modulo").affinity;
    let (r, m) = (&rendezvous.moves[0], &modulo.moves[0]);
    assert!(r.keys > 100 && m.keys > 100, "{r:?} {m:?}");
    assert_eq!(r.needless, 0, "rendezvous moves only the lost actors' keys: {r:?}");
    // Two actors of eight were lost: about a quarter of the keys had to move.
    assert!(r.moved * 10 < r.keys * 4, "{r:?}");
    // Modulo moves most keys, and many of them between actors that both stayed.
    assert!(m.moved * 2 > m.keys && m.needless * 4 > m.keys, "{m:?}");
    // Scaling out from 8 actors to 12: rendezvous gives the new ones their share of the keys
    // and moves no other; modulo reshuffles.
    let (r, m) = (&rendezvous.moves[1], &modulo.moves[1]);
    assert!(r.moved > 0 && r.moved * 2 < r.keys && r.needless == 0, "{r:?}");
    assert!(m.needless * 4 > m.keys, "{m:?}");
    // Across a crash, a respawn and a scale-out, keys stay put more with rendezvous.
    assert!(
        rendezvous.stickiness > 0.7 && rendezvous.stickiness > modulo.stickiness + 0.1,
        "{rendezvous:?} {modulo:?}"
    );
    let random = &variant(&report, "repulsion / random").affinity;
    assert!(random.stickiness < 0.5, "random is not sticky: {random:?}");
    // The crash failed some requests, and recovery was timed.
    let recovery = &variant(&report, "repulsion / affinity").recovery[0];
    assert!(recovery.failed > 0 && recovery.requests_ok_after_ms > 0.0, "{recovery:?}");
    assert!(recovery.converged_after_ms.is_some(), "{recovery:?}");
    // The lost actors were spawned again.
    let spread = &variant(&report, "repulsion / affinity").spread;
    assert_eq!(spread.actors_per_node, vec![2, 2, 2, 2]);
    assert_eq!(spread.final_actors_per_node.iter().sum::<usize>(), 12, "{spread:?}");
}

#[test]
fn a_custom_placer_places_and_random_routing_spreads_an_outside_clients_requests() {
    let scenario = Scenario::parse(
        "duration: 6s\nnodes: {count: 4, cores: 2}\n\
         workload: {actors: 8, spawn_batch: 8, rate: 400, service_time: 2ms}\n\
         compare: {placement: [roundrobin], routing: [random]}",
    )
    .unwrap();
    let report = Lab::new(scenario).placer(Pile).run().unwrap();
    assert_eq!(variant(&report, "pile / random").spread.actors_per_node, vec![8, 0, 0, 0]);
    let spread = &variant(&report, "roundrobin / random").spread;
    assert_eq!(spread.actors_per_node, vec![2, 2, 2, 2]);
    // The client entered by one node; its requests still reach every node's actors evenly.
    let (low, high) =
        spread.cpu_per_node.iter().fold((f64::MAX, 0.0f64), |(lo, hi), c| (lo.min(*c), hi.max(*c)));
    assert!(low > high * 0.6, "CPU per node {:?}", spread.cpu_per_node);
    assert_eq!(variant(&report, "roundrobin / random").requests.errors, 0);
}

#[test]
fn random_routing_avoids_a_slow_node_that_affinity_must_wait_for() {
    let scenario = Scenario::parse(
        "duration: 10s\nnodes: {count: 4, cores: 2}\n\
         workload: {actors: 8, spawn_batch: 8, rate: 300, service_time: 2ms, timeout: 1s}\n\
         events: [{at: 2s, slow: {node: 1, factor: 20, for: 5s}}]\n\
         compare: {placement: [repulsion], routing: [random, affinity]}",
    )
    .unwrap();
    let report = Lab::new(scenario).run().unwrap();
    let random = &variant(&report, "repulsion / random").requests;
    let affinity = &variant(&report, "repulsion / affinity").requests;
    assert!(random.troubled_share * 2.0 < affinity.troubled_share, "{random:?} {affinity:?}");
    assert!(random.p99_ms < affinity.p99_ms, "{random:?} {affinity:?}");
    assert_eq!(random.errors, 0, "{random:?}");
}

#[test]
fn partitions_and_join_waves_run_and_are_timed() {
    let scenario = Scenario::parse(
        "duration: 16s\nnodes: {count: 5, cores: 2, latency: 1ms, jitter: 1ms, links: [{between: [0, 6], latency: 40ms, loss: 0.05}]}\n\
         workload: {actors: 10, spawn_batch: 5, rate: 100, timeout: 1s}\n\
         events: [{at: 2s, partition: {nodes: [4], for: 4s}}, {at: 10s, join: 2}]\n\
         compare: {placement: [random], routing: [random]}",
    )
    .unwrap();
    let report = Lab::new(scenario).run().unwrap();
    assert_eq!(report.events.len(), 2);
    assert!(report.events[0].label.starts_with("partition [4]"), "{:?}", report.events);
    let v = &report.variants[0];
    assert!(v.recovery.iter().all(|r| r.converged_after_ms.is_some()), "{:?}", v.recovery);
    assert_eq!(v.series.requests.len(), 16);
    assert_eq!(v.spread.final_actors_per_node.len(), 7, "two nodes joined");
}

#[test]
fn a_scenario_that_does_not_check_out_is_refused_before_any_run() {
    let mut scenario = Scenario::parse(CRASH).unwrap();
    scenario.workload.rate = -1.0;
    match Lab::new(scenario).run() {
        Err(LabError::Scenario(e)) => assert!(e.to_string().contains("workload.rate"), "{e}"),
        other => panic!("{other:?}"),
    }
}
