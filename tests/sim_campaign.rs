//! A randomized fault campaign for deployments: on each seed, a cluster of 3-12 simulated nodes
//! runs a random schedule of applies, scales, changes, deletes and spawns by hand, interleaved
//! with crashes, restarts, partitions (two-way and one-way), heals and lossy links; then the
//! faults heal, crashed nodes come back (each with its state directory), and the cluster must
//! settle with every directory agreeing and every deployment
//! at exactly its desired replicas, all of its current template, with no actor of a dead node
//! listed and no actor spawned by hand touched.
//!
//! The normal run covers 50 seeds; `BEACH_SIM_SEEDS=N cargo test --release --test sim_campaign
//! -- --ignored` runs N more. A failing seed prints its replay line (`BEACH_SIM_SEED=...`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use beach::deploy::{DeployFile, DeploymentSpec};
use beach::model::{ActorId, Realm};
use beach::rng::seeded;
use beach_transport_mem::{LinkConfig, SimBuilder, SimCluster};
use common::{Who, converge, registry};
use rand::RngExt;

fn deployment(name: &str, replicas: u32, version: u32) -> DeploymentSpec {
    let text = format!(
        "deployments:\n  - name: {name}\n    type: Whoami\n    categories: [svc/{name}]\n    replicas: {replicas}\n    strategy: repulsion\n    hint: svc/{name}\n    params: {{v: {version}}}\n"
    );
    DeployFile::parse(&text).unwrap().deployments.remove(0)
}

/// What the campaign did, to check the end against.
#[derive(Default)]
struct Model {
    /// Deployment name -> the params version last applied (to change it now and then).
    deployments: BTreeMap<String, u32>,
    /// Every deployment an apply or delete was acknowledged for by a node with peers (so
    /// another node confirmed it): after healing, with every crashed node back (with its state
    /// directory), every node knows it.
    acknowledged: BTreeSet<String>,
    /// Actors spawned by hand.
    by_hand: BTreeSet<ActorId>,
}

/// Checks each retry a client made: another actor only after `wrong dest`, `queue full` or an
/// unreachable node (the request surely not handled), or after a timeout or a lost
/// connection when the request opted in (DESIGN §5); never after the handler's own answer.
struct RetryRule(Arc<Mutex<Vec<String>>>);

impl beach::actor::RouteObserver for RetryRule {
    fn routed(&self, r: &beach::actor::Routed<'_>) {
        use beach::ErrorCode;
        use beach::routing::Failure;
        for retry in r.retried {
            let allowed = match retry.failure {
                Failure::Code(
                    ErrorCode::WrongDest | ErrorCode::QueueFull | ErrorCode::Unreachable,
                ) => true,
                Failure::Code(ErrorCode::Timeout) | Failure::Lost => r.retry_timeouts,
                _ => false,
            };
            // A keyed request moves to another actor only once its owner left the directory,
            // or to an actor that joined since and owns the key now.
            let moved_early = r.keyed
                && retry.to != retry.from
                && retry.from_listed
                && retry.key_owner.as_ref() != Some(&retry.to);
            if !allowed || moved_early {
                self.0.lock().unwrap().push(format!(
                    "{} (keyed: {}) retried after {:?} from {} to {} (still listed: {})",
                    r.category, r.keyed, retry.failure, retry.from, retry.to, retry.from_listed
                ));
            }
        }
    }
}

/// The deadline of the requests that flow during a campaign.
const ASK_TIMEOUT: Duration = Duration::from_secs(1);

/// Asks each deployment's category in turn every 50 ms until `stop`, with a deadline and a
/// retry; a request that ends (with a reply or an error) after its deadline is recorded.
async fn ask_all_along(
    client: beach::client::Beach,
    late: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let category = if n.is_multiple_of(2) { "svc/alpha" } else { "svc/beta" };
        let start = tokio::time::Instant::now();
        // One request in three lets timeouts be retried too; one in five is keyed.
        let handle = client.handle(category).timeout(ASK_TIMEOUT).retries(1);
        let handle = if n.is_multiple_of(3) { handle.retry_timeouts(true) } else { handle };
        let handle = if n.is_multiple_of(5) { handle.key(format!("k{}", n % 7)) } else { handle };
        let outcome = handle.ask(Who).await;
        let took = start.elapsed();
        // The deadline, and a few milliseconds for the error to travel back.
        if took > ASK_TIMEOUT + Duration::from_millis(50) {
            late.lock()
                .unwrap()
                .push(format!("{category} took {took:?}: {:?}", outcome.map(|_| ())));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the client's entry node runs and has other members: a change it acknowledges was
/// then confirmed by another node, and must outlive it. (A node alone, a one-node cluster or
/// one cut off from every other, acknowledges on its own: its changes die with it.)
fn entry_has_peers(sim: &SimCluster, client: &beach::client::Beach) -> bool {
    let entry = client.entry();
    sim.running().iter().any(|&i| sim.endpoint(i) == &entry && sim.live(i).member_count() > 0)
}

/// Runs one seed's campaign; panics (with the replay line printed by the simulator) on a
/// broken invariant.
fn campaign(seed: u64) {
    // Nodes keep their deployments in a state directory, as with `state_dir`: a change two
    // nodes confirmed survives even when both die, once they come back.
    SimBuilder::new(seed).registry(registry()).keep_state(true).run(|mut sim| async move {
        // The schedule follows the simulation's seed, so a replay replays it too.
        let mut rng = seeded(sim.seed() ^ 0x5eed);
        let n = rng.random_range(3..=12usize);
        sim.add_nodes(n).await;
        converge(&sim, Duration::from_secs(20)).await;
        let mut model = Model::default();
        // One client for the whole run (connecting anew over a lossy link can time out); its
        // calls fail while its entry node is down or cut off, and those are not acknowledged.
        let client = sim.client().await;
        // Every retry the client makes is checked against DESIGN §5's rule.
        let broken_rule: Arc<Mutex<Vec<String>>> = Arc::default();
        assert!(client.observe_routes(Arc::new(RetryRule(broken_rule.clone()))));
        // Requests flow all along, each bounded by its deadline.
        let late: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        tokio::spawn(ask_all_along(client.clone(), late.clone(), stop.clone()));
        let mut crashed: BTreeSet<usize> = BTreeSet::new();
        let names = ["alpha", "beta"];
        for _ in 0..rng.random_range(6..16) {
            match rng.random_range(0..10) {
                // Apply: create, scale or change a deployment.
                0..=3 => {
                    let name = names[rng.random_range(0..names.len())];
                    let replicas = rng.random_range(0..7);
                    let version = model.deployments.get(name).copied().unwrap_or(1)
                        + u32::from(rng.random_bool(0.3));
                    let before = entry_has_peers(&sim, &client);
                    let spec = deployment(name, replicas, version);
                    if client.deploy_apply(vec![spec], false).await.is_ok() {
                        model.deployments.insert(name.to_owned(), version);
                        if before && entry_has_peers(&sim, &client) {
                            model.acknowledged.insert(name.to_owned());
                        }
                    }
                }
                4 => {
                    let before = entry_has_peers(&sim, &client);
                    if let Some(name) = model.deployments.keys().next().cloned()
                        && rng.random_bool(0.3)
                        && client.deploy_delete(&name).await.is_ok()
                    {
                        model.deployments.remove(&name);
                        if before && entry_has_peers(&sim, &client) {
                            model.acknowledged.insert(name.clone());
                        }
                    }
                }
                5 => {
                    if let Ok(ids) = client.add_actor(client.actor("Whoami", ["hand"])).await {
                        model.by_hand.extend(ids);
                    }
                }
                6 => {
                    let running = sim.running();
                    if running.len() > 2 {
                        let i = running[rng.random_range(0..running.len())];
                        sim.crash(i);
                        crashed.insert(i);
                    }
                }
                7 => {
                    if let Some(&i) = crashed.iter().next() {
                        sim.restart(i).await;
                        crashed.remove(&i);
                    }
                }
                8 => {
                    let running = sim.running();
                    let cut = rng.random_range(1..running.len());
                    if rng.random_bool(0.5) {
                        sim.partition(&running[..cut], &running[cut..]);
                    } else {
                        sim.partition_one_way(running[0], running[cut]);
                    }
                }
                _ => {
                    // Lossy, duplicating, reordering and slow links.
                    sim.set_default_link(LinkConfig {
                        latency: Duration::from_micros(rng.random_range(200..20_000)),
                        jitter: Duration::from_micros(rng.random_range(0..5_000)),
                        drop: rng.random_range(0.0..0.1),
                        duplicate: rng.random_range(0.0..0.1),
                    });
                }
            }
            let pause = rng.random_range(200..4000);
            sim.sleep(Duration::from_millis(pause)).await;
        }
        // Heal everything, bring crashed nodes back, and let the cluster settle.
        sim.heal();
        sim.set_default_link(LinkConfig::default());
        for i in std::mem::take(&mut crashed) {
            sim.restart(i).await;
        }
        let joined = sim.run_until(Duration::from_secs(60), |s| s.converged()).await;
        assert!(
            joined.is_some(),
            "no convergence within 60 s of healing\n{}",
            report(&sim, &model)
        );
        let took =
            sim.run_until(Duration::from_secs(60), |s| settled(s, &model) && s.converged()).await;
        assert!(took.is_some(), "{}", report(&sim, &model));
        // And it stays so.
        sim.sleep(Duration::from_secs(5)).await;
        assert!(settled(&sim, &model), "{}", report(&sim, &model));
        stop.store(true, Ordering::Relaxed);
        let late = late.lock().unwrap();
        assert!(late.is_empty(), "requests that outlived their deadline: {late:?}");
        let broken = broken_rule.lock().unwrap();
        assert!(broken.is_empty(), "retries against the rule: {broken:?}");
    });
}

/// Whether every running node holds the same deployment records, knows every acknowledged
/// one, and sees each live deployment at exactly its replicas, all of one template, no
/// replica of a deleted one, no actor of a dead node, and every hand-spawned actor of a
/// running node. (Two applies of one name on the two sides of a partition both succeed; the
/// one with the higher version, then origin, wins everywhere after the heal.)
fn settled(sim: &SimCluster, model: &Model) -> bool {
    let running: BTreeSet<_> = sim.running().iter().map(|&i| sim.live(i).id().clone()).collect();
    let records = sim.live(sim.running()[0]).deployments();
    let known: BTreeSet<&str> = records.iter().map(|r| r.name.as_str()).collect();
    if !model.acknowledged.iter().all(|n| known.contains(n.as_str())) {
        return false;
    }
    sim.running().iter().all(|&i| {
        if sim.live(i).deployments() != records {
            return false;
        }
        let dir = sim.live(i).directory();
        let owners = owners(&dir);
        let hand = dir.lookup(&Realm::global(), "hand");
        let hand_ok =
            model.by_hand.iter().filter(|a| running.contains(a.node())).all(|a| hand.contains(a));
        let dead_listed =
            dir.lookup(&Realm::global(), "").iter().any(|a| !running.contains(a.node()));
        let deployments_ok = records.iter().all(|r| {
            let seen = owners.get(&r.name).cloned().unwrap_or_default();
            match &r.spec {
                None => seen.is_empty(),
                Some(spec) => {
                    seen.len() == spec.replicas.unwrap_or(0) as usize
                        && seen.iter().all(|(_, t)| *t == r.template)
                }
            }
        });
        hand_ok && !dead_listed && deployments_ok
    })
}

/// Each deployment's replicas in `dir`.
fn owners(dir: &beach::directory::Directory) -> BTreeMap<String, Vec<(ActorId, u64)>> {
    let mut out: BTreeMap<String, Vec<(ActorId, u64)>> = BTreeMap::new();
    for p in dir.partitions() {
        for (id, e) in &p.entries {
            if let Some(o) = &e.owner {
                out.entry(o.deployment.clone()).or_default().push((id.clone(), o.template));
            }
        }
    }
    out
}

fn report(sim: &SimCluster, model: &Model) -> String {
    let events: Vec<String> = sim
        .trace()
        .into_iter()
        .filter(|l| {
            [
                "crash",
                "restart",
                "partition",
                "heal",
                "start",
                "Up",
                "Down",
                "Renamed",
                "Idle",
                "Rejoined",
            ]
            .iter()
            .any(|k| l.contains(k))
        })
        .collect();
    let mut s = format!("events:\n  {}\n", events.join("\n  "));
    s += &format!("acknowledged {:?}, hand {}\n", model.acknowledged, model.by_hand.len());
    for i in sim.running() {
        let dir = sim.live(i).directory();
        let counts: BTreeMap<String, usize> =
            owners(&dir).into_iter().map(|(k, v)| (k, v.len())).collect();
        let known: Vec<(String, u64, Option<u32>)> = sim
            .live(i)
            .deployments()
            .into_iter()
            .map(|r| (r.name, r.version, r.spec.and_then(|s| s.replicas)))
            .collect();
        let running: BTreeSet<_> =
            sim.running().iter().map(|&j| sim.live(j).id().clone()).collect();
        let dead: Vec<ActorId> = dir
            .lookup(&Realm::global(), "")
            .into_iter()
            .filter(|a| !running.contains(a.node()))
            .collect();
        let hand = dir.lookup(&Realm::global(), "hand");
        let missing: Vec<&ActorId> = model
            .by_hand
            .iter()
            .filter(|a| running.contains(a.node()) && !hand.contains(a))
            .collect();
        let members: Vec<String> = sim.live(i).members().iter().map(ToString::to_string).collect();
        s += &format!(
            "node {i} ({}, members {members:?}, {} partitions): {counts:?}, knows {known:?}, dead listed {dead:?}, hand missing {missing:?}\n",
            sim.live(i).id(),
            dir.partitions().count()
        );
    }
    s
}

#[test]
fn fifty_seeds_of_faults_end_with_every_deployment_at_its_count() {
    for seed in 0..50 {
        campaign(seed);
    }
}

#[test]
#[ignore = "the long campaign: BEACH_SIM_SEEDS=N cargo test --release --test sim_campaign -- --ignored"]
fn many_seeds_of_faults() {
    let n: u64 = std::env::var("BEACH_SIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let first: u64 =
        std::env::var("BEACH_SIM_FIRST").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    for seed in first..first + n {
        campaign(seed);
    }
}

/// Seed 1281 of the first long run: a spawn's answer reached the node that asked after its
/// owner was declared down, and the directory kept the dead actor listed for good.
#[test]
fn seed_1281_a_late_answer_from_a_dead_node_is_not_kept() {
    campaign(1281);
}

/// Seed 1564: partition [0] | [1, 2], crash 1, heal. Each survivor had declared the other
/// down and rejoined under a new identity, which in foca voids every timer until an update
/// arrives; the only member each still listed was the dead node, so none came, and the two
/// never found each other again.
#[test]
fn seed_1564_survivors_of_a_partition_find_each_other_after_their_peer_died() {
    campaign(1564);
}

/// Seed 1678: an apply acknowledged by a node cut off from every other, which then died: the
/// change lived on that node only. Changes now wait for another node's confirmation; a lone
/// node's acknowledgement is not counted as durable.
#[test]
fn seed_1678_a_change_confirmed_by_no_other_node_is_not_counted_durable() {
    campaign(1678);
}

/// Seed 2549: both the node an apply went through and the node that confirmed it died; the
/// campaign's nodes keep a state directory, and every crashed node comes back at the end.
#[test]
fn seed_2549_a_change_held_by_two_nodes_that_died_comes_back_with_them() {
    campaign(2549);
}

/// Seed 3591: a keyed request retried after a timeout went to a replica that had just started
/// and owned the key by then, not a fallback; the check now tells the two apart.
#[test]
fn seed_3591_a_keyed_retry_follows_a_new_owner_of_its_key() {
    campaign(3591);
}
