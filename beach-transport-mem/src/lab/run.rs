//! One run of a scenario: one placement with one routing mode, on a fresh simulated cluster.
//!
//! The nodes start and converge, the actors are spawned batch by batch, then the request
//! stream flows for the scenario's duration while the events happen; every request, every
//! second's machine load and every event's effects are recorded as [`RunData`] for the
//! report. Time zero is the start of the request stream.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use beach_core::actor::{Handle, RequestError, Retry, RouteObserver, Routed};
use beach_core::client::{Beach, ClientError};
use beach_core::model::{ActorId, NodeId};
use beach_core::placement::{ClusterView, NodeLoad, Strategy};
use beach_core::rng::{NodeRng, derive};
use beach_core::routing::{Failure, Mode};
use bytes::Bytes;
use rand::RngExt;
use tokio::time::Instant;

use super::scenario::{KeyDistribution, Scenario};
use super::strategy::{Placement, Routing};
use super::work::{Model, RunModel, WORK_KIND, WORK_TYPE, Work};
use crate::{LinkConfig, SimCluster};

/// How often machine loads are sampled and reported to the nodes.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How often the run looks at its clock for events and convergence.
const TICK: Duration = Duration::from_millis(10);

/// One request as the lab saw it.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// When it was sent, from time zero.
    pub(crate) sent: Duration,
    /// How long it took, retries included.
    pub(crate) took: Duration,
    /// Its error (`timeout`, `queue full`, ...), if it failed.
    pub(crate) error: Option<String>,
    /// Attempts after the first.
    pub(crate) retries: u32,
    /// Its key.
    pub(crate) key: u32,
    /// The actor that served it.
    pub(crate) served_by: Option<ActorId>,
    /// Whether it was served by a slow node, or failed or retried because a node was down.
    pub(crate) hit_trouble: bool,
}

/// One event as it happened.
#[derive(Debug, Clone)]
pub(crate) struct EventRecord {
    /// When, from time zero.
    pub(crate) at: Duration,
    /// What, in words.
    pub(crate) label: String,
    /// How long after the event (after the heal, for a partition) every node's directory and
    /// membership agreed; `None` if not before the next event or the end.
    pub(crate) converged_after: Option<Duration>,
    /// The actors it took away (a crash's, a restart's, those cut off by a partition).
    pub(crate) lost: Vec<ActorId>,
}

/// Everything one run recorded.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunData {
    /// Every request, in the order they ended.
    pub(crate) samples: Vec<Sample>,
    /// Actors per node once the spawn phase ended (nodes by number).
    pub(crate) initial_actors: Vec<usize>,
    /// Actors per node at the end (nodes that run then).
    pub(crate) final_actors: Vec<usize>,
    /// Actors asked for and not spawned.
    pub(crate) spawn_failures: u32,
    /// Per second: each node's CPU use (0-1), `None` while it is down.
    pub(crate) cpu: Vec<Vec<Option<f64>>>,
    /// Per second: each node's memory use (0-1), `None` while it is down.
    pub(crate) memory: Vec<Vec<Option<f64>>>,
    /// The events.
    pub(crate) events: Vec<EventRecord>,
    /// When each actor was spawned, from time zero (zero for those of the spawn phase).
    pub(crate) born: BTreeMap<ActorId, Duration>,
}

/// Hears the retries of each request: the handle calls it on the requesting task just before
/// the request returns, so the task takes them right after with no await between.
#[derive(Default)]
struct LastRetries(Mutex<Vec<Retry>>);

impl RouteObserver for LastRetries {
    fn routed(&self, request: &Routed<'_>) {
        *self.0.lock().expect("retries lock") = request.retried.to_vec();
    }
}

/// The run's shared state, for the request tasks.
struct Shared {
    /// The workload's category with its timeout and retries (and the routing mode, for a
    /// built-in one), made once for every request.
    handle: Handle,
    model: Arc<Model>,
    routing: Routing,
    timeout: Duration,
    retries: u32,
    payload: Bytes,
    zero: Instant,
    samples: Mutex<Vec<Sample>>,
    retried: Arc<LastRetries>,
    /// Nodes (by id) that crashed or were cut off, now or before.
    troubled: Mutex<BTreeSet<NodeId>>,
    in_flight: AtomicUsize,
}

/// Runs `scenario` with `placement` and `routing` from `seed`; an error says why the run
/// could not go on (the cluster did not form).
pub(crate) fn run(
    scenario: &Scenario,
    placement: &Placement,
    routing: &Routing,
    seed: u64,
) -> Result<RunData, String> {
    let registry = beach_core::actor::Registry::new().with::<super::work::LabWork>(WORK_TYPE);
    let scenario = scenario.clone();
    let (placement, routing) = (placement.clone(), routing.clone());
    crate::SimBuilder::new(seed)
        .exact_seed(seed)
        .registry(registry)
        .run(move |sim| async move { Run::new(sim, scenario, placement, routing, seed).go().await })
}

struct Run {
    sim: SimCluster,
    scenario: Scenario,
    placement: Placement,
    routing: Routing,
    run_model: RunModel,
    rng: NodeRng,
    data: RunData,
    /// The last load sampled per node number: (cpu, memory).
    loads: BTreeMap<usize, (f64, f64)>,
    /// Time zero, once the request stream started.
    zero: Option<Instant>,
    /// How many nodes were started (crashed ones included).
    started: usize,
}

impl Run {
    fn new(
        sim: SimCluster,
        scenario: Scenario,
        placement: Placement,
        routing: Routing,
        seed: u64,
    ) -> Self {
        Self {
            sim,
            scenario,
            placement,
            routing,
            run_model: RunModel::register(),
            rng: derive(seed, 0x1ab),
            data: RunData::default(),
            loads: BTreeMap::new(),
            zero: None,
            started: 0,
        }
    }

    fn capacity(&self, i: usize) -> (u32, u32) {
        let n = &self.scenario.nodes;
        let o = n.overrides.iter().find(|o| o.node == i);
        (o.and_then(|o| o.cores).unwrap_or(n.cores), o.and_then(|o| o.memory).unwrap_or(n.memory))
    }

    /// Starts `count` nodes, with their capacity and the links the scenario sets for them.
    async fn add_nodes(&mut self, count: usize) {
        for _ in 0..count {
            let i = self.sim.add_node().await;
            self.started = i + 1;
            let (cores, memory) = self.capacity(i);
            self.run_model.model.add(self.sim.endpoint(i).as_str(), cores, memory);
            for l in &self.scenario.nodes.links {
                let [a, b] = l.between;
                if a.max(b) == i && a != b {
                    let link = LinkConfig {
                        latency: l.latency,
                        jitter: l.jitter,
                        drop: l.loss,
                        duplicate: 0.0,
                    };
                    self.sim.set_link(a, b, link);
                }
            }
        }
    }

    async fn go(mut self) -> Result<RunData, String> {
        let n = self.scenario.nodes.clone();
        self.sim.set_default_link(LinkConfig {
            latency: n.latency,
            jitter: n.jitter,
            drop: n.loss,
            duplicate: 0.0,
        });
        self.add_nodes(n.count).await;
        if self.sim.run_until(Duration::from_secs(120), |s| s.converged()).await.is_none() {
            return Err(format!("{} nodes did not converge in 120 virtual seconds", n.count));
        }
        let client = self.sim.client().await;
        let retried = Arc::new(LastRetries::default());
        client.observe_routes(retried.clone());
        self.spawn_phase(&client).await;
        self.data.initial_actors = self.actors_per_node();
        // Loads count from time zero: the spawn phase had no requests.
        self.data.cpu.clear();
        self.data.memory.clear();

        let w = &self.scenario.workload;
        let mut handle = client.handle(&w.category).timeout(w.timeout).retries(w.retries);
        if let Routing::Builtin(mode) = self.routing {
            handle = handle.mode(mode);
        }
        let shared = Arc::new(Shared {
            handle,
            model: self.run_model.model.clone(),
            routing: self.routing.clone(),
            timeout: w.timeout,
            retries: w.retries,
            payload: Bytes::from(vec![0x5a; w.payload]),
            zero: *self.zero.insert(Instant::now()),
            samples: Mutex::new(Vec::new()),
            retried,
            troubled: Mutex::new(BTreeSet::new()),
            in_flight: AtomicUsize::new(0),
        });
        tokio::spawn(generate(shared.clone(), self.scenario.clone(), self.rng.random()));
        self.timeline(&client, &shared).await;
        // The stream stopped at the duration; let the last requests end (each within its
        // timeout).
        let limit = shared.timeout + Duration::from_secs(1);
        let idle = |_: &SimCluster| shared.in_flight.load(Ordering::SeqCst) == 0;
        self.sim.run_until(limit, idle).await;
        self.data.final_actors = self.actors_per_node();
        self.data.samples = std::mem::take(&mut *shared.samples.lock().expect("samples lock"));
        client.close();
        Ok(self.data)
    }

    /// Spawns the workload's actors, batch by batch, one sample period apart at least.
    async fn spawn_phase(&mut self, client: &Beach) {
        let w = self.scenario.workload.clone();
        let mut left = w.actors;
        while left > 0 {
            let batch = left.min(w.spawn_batch);
            self.spawn(client, batch).await;
            left -= batch;
            self.sim.sleep(w.spawn_every).await;
            self.sample();
        }
    }

    /// Spawns `count` actors by the run's placement; failures are counted.
    async fn spawn(&mut self, client: &Beach, count: u32) {
        let w = &self.scenario.workload;
        let (key, value) = self.run_model.param();
        let spec = client
            .actor(WORK_TYPE, [w.category.as_str()])
            .param(key, value)
            .concurrency(64)
            .drainable(false);
        let spawned: Vec<ActorId> = match &self.placement {
            Placement::Builtin(strategy) => {
                let hint = match strategy {
                    Strategy::HostAffinity => {
                        let first = self.sim.running().first().copied().unwrap_or(0);
                        Some(self.sim.endpoint(first).to_string())
                    }
                    _ => Some(w.category.clone()),
                };
                let spec = spec.count(count).strategy(*strategy, hint.as_deref());
                spawned(client.add_actor(spec).await)
            }
            Placement::Custom(placer) => {
                let view = self.view();
                let chosen = placer.place(&view, count as usize, &mut self.rng);
                let mut per_node: BTreeMap<NodeId, u32> = BTreeMap::new();
                for node in chosen.into_iter().take(count as usize) {
                    *per_node.entry(node).or_default() += 1;
                }
                let mut ids = Vec::new();
                for (node, k) in per_node {
                    let spec = spec.clone().count(k).on_node(node);
                    ids.extend(spawned(client.add_actor(spec).await));
                }
                ids
            }
        };
        self.data.spawn_failures += count.saturating_sub(spawned.len() as u32);
        let born = self.zero.map_or(Duration::ZERO, |z| z.elapsed());
        self.data.born.extend(spawned.into_iter().map(|id| (id, born)));
    }

    /// The cluster as placement sees it: live nodes, their last loads, their actors.
    fn view(&self) -> ClusterView {
        ClusterView::new(
            self.sim
                .running()
                .into_iter()
                .map(|i| {
                    let node = self.sim.live(i);
                    let (cpu, memory) = self.loads.get(&i).copied().unwrap_or_default();
                    let hint_matches = node.local_actors().len();
                    NodeLoad { id: node.id().clone(), cpu, memory, hint_matches }
                })
                .collect(),
        )
    }

    /// Actors on each node started so far (none on a crashed one).
    fn actors_per_node(&self) -> Vec<usize> {
        (0..self.started).map(|i| self.sim.node(i).map_or(0, |n| n.local_actors().len())).collect()
    }

    /// Samples every machine's load, tells its node, and records it.
    fn sample(&mut self) {
        let total = self.scenario.max_nodes();
        let actor_memory = f64::from(self.scenario.workload.actor_memory);
        let (mut cpus, mut mems) = (vec![None; total], vec![None; total]);
        for i in self.sim.running() {
            let node = self.sim.live(i);
            let (cpu, memory_mb) =
                self.run_model.model.take_cpu(self.sim.endpoint(i).as_str(), SAMPLE_EVERY);
            let memory = node.local_actors().len() as f64 * actor_memory / f64::from(memory_mb);
            node.set_load(cpu, memory);
            self.loads.insert(i, (cpu.min(1.0), memory.min(1.0)));
            cpus[i] = Some(cpu.min(1.0));
            mems[i] = Some(memory.min(1.0));
        }
        self.data.cpu.push(cpus);
        self.data.memory.push(mems);
    }

    /// Lets the scenario's duration pass, applying its events, sampling loads, respawning
    /// lost actors and timing convergence.
    async fn timeline(&mut self, client: &Beach, shared: &Shared) {
        let mut events = self.scenario.events.clone();
        events.sort_by_key(|e| e.at);
        let mut next = 0;
        // Things to do later: (when, what).
        let mut later: Vec<(Duration, Later)> = Vec::new();
        let mut next_sample = SAMPLE_EVERY;
        // Events whose convergence is awaited: (index, since).
        let mut awaiting: Vec<(usize, Duration)> = Vec::new();
        loop {
            let now = shared.zero.elapsed();
            if now >= self.scenario.duration {
                break;
            }
            while next < events.len() && events[next].at <= now {
                let e = events[next].clone();
                next += 1;
                let index = self.data.events.len();
                let (label, lost, from_heal) =
                    self.apply(&e, client, shared, &mut later, index).await;
                self.data.events.push(EventRecord { at: now, label, converged_after: None, lost });
                if !from_heal {
                    awaiting.push((index, now));
                }
            }
            later.sort_by_key(|l| l.0);
            while later.first().is_some_and(|l| l.0 <= now) {
                match later.remove(0).1 {
                    Later::Respawn(count) => self.spawn(client, count).await,
                    Later::Unslow(endpoint) => self.run_model.model.set_slow(&endpoint, 1.0),
                    Later::Heal(index) => {
                        self.sim.heal();
                        awaiting.push((index, now));
                    }
                }
            }
            if !awaiting.is_empty() && self.sim.converged() {
                // Applying an event takes virtual time too (a spawn's round trips).
                let converged = shared.zero.elapsed();
                for (index, since) in awaiting.drain(..) {
                    let e = &mut self.data.events[index];
                    e.converged_after = Some(converged.saturating_sub(since));
                }
            }
            if now >= next_sample {
                next_sample += SAMPLE_EVERY;
                self.sample();
            }
            self.sim.sleep(TICK).await;
        }
    }

    /// Applies one event; returns its label, the actors it took away, and whether its
    /// convergence is timed from a later moment (a partition's heal).
    async fn apply(
        &mut self,
        e: &super::scenario::Event,
        client: &Beach,
        shared: &Shared,
        later: &mut Vec<(Duration, Later)>,
        index: usize,
    ) -> (String, Vec<ActorId>, bool) {
        let at = e.at;
        let respawn = self.scenario.workload.respawn_after;
        if let Some(i) = e.crash.or(e.restart) {
            let lost = self.sim.node(i).map(|n| n.local_actors()).unwrap_or_default();
            if let Some(node) = self.sim.node(i) {
                shared.troubled.lock().expect("troubled lock").insert(node.id().clone());
            }
            let label = if e.crash.is_some() {
                self.sim.crash(i);
                format!("crash node {i}")
            } else {
                self.sim.restart(i).await;
                let (cores, memory) = self.capacity(i);
                self.run_model.model.add(self.sim.endpoint(i).as_str(), cores, memory);
                format!("restart node {i}")
            };
            if !lost.is_empty() && !respawn.is_zero() {
                later.push((at + respawn, Later::Respawn(lost.len() as u32)));
            }
            return (label, lost, false);
        }
        if let Some(s) = &e.slow {
            let endpoint = self.sim.endpoint(s.node).as_str().to_owned();
            self.run_model.model.set_slow(&endpoint, s.factor);
            later.push((at + s.lasts, Later::Unslow(endpoint)));
            let label = format!("node {} {}x slower for {:?}", s.node, s.factor, s.lasts);
            return (label, Vec::new(), false);
        }
        if let Some(p) = &e.partition {
            let side: Vec<usize> =
                p.nodes.iter().copied().filter(|i| self.sim.node(*i).is_some()).collect();
            let rest: Vec<usize> =
                self.sim.running().into_iter().filter(|i| !side.contains(i)).collect();
            self.sim.partition(&side, &rest);
            let mut troubled = shared.troubled.lock().expect("troubled lock");
            troubled.extend(side.iter().map(|&i| self.sim.live(i).id().clone()));
            let lost = side.iter().flat_map(|&i| self.sim.live(i).local_actors()).collect();
            later.push((at + p.lasts, Later::Heal(index)));
            return (format!("partition {:?} for {:?}", p.nodes, p.lasts), lost, true);
        }
        if let Some(count) = e.spawn {
            self.spawn(client, count).await;
            return (format!("{count} more actors"), Vec::new(), false);
        }
        let count = e.join.unwrap_or(0);
        self.add_nodes(count).await;
        (format!("{count} nodes join"), Vec::new(), false)
    }
}

/// The actors a spawn request brought up, those of a partly failed one included.
fn spawned(result: Result<Vec<ActorId>, ClientError>) -> Vec<ActorId> {
    match result {
        Ok(ids) | Err(ClientError::Partial { done: ids, .. }) => ids,
        Err(_) => Vec::new(),
    }
}

/// Something the timeline does later.
enum Later {
    /// Spawn this many actors (those a crash took).
    Respawn(u32),
    /// The slow node at this endpoint is well again.
    Unslow(String),
    /// The partition of this event ends.
    Heal(usize),
}

/// The request stream: Poisson arrivals at the workload's rate until the duration, each
/// request on a task of its own.
async fn generate(shared: Arc<Shared>, scenario: Scenario, seed: u64) {
    let w = &scenario.workload;
    let mut rng = derive(seed, 0x9e9);
    let keys = Keys::new(w.keys, w.key_distribution);
    let mean_service = w.service_time.as_secs_f64();
    let mut at = Duration::ZERO;
    loop {
        at += Duration::from_secs_f64(exponential(&mut rng, 1.0 / w.rate));
        if at >= scenario.duration {
            return;
        }
        tokio::time::sleep_until(shared.zero + at).await;
        let key = keys.draw(&mut rng);
        let us = (exponential(&mut rng, mean_service) * 1e6) as u64;
        let route_seed: u64 = rng.random();
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(request(shared.clone(), key, us, route_seed));
    }
}

/// A draw from the exponential distribution of this mean.
fn exponential(rng: &mut NodeRng, mean: f64) -> f64 {
    let u: f64 = rng.random();
    -mean * (1.0 - u).ln()
}

/// Keys by their distribution: the cumulative weights, for a binary search.
struct Keys(Vec<f64>);

impl Keys {
    fn new(count: u32, distribution: KeyDistribution) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=count)
            .map(|k| {
                total += match distribution {
                    KeyDistribution::Uniform => 1.0,
                    KeyDistribution::Zipf => 1.0 / f64::from(k),
                };
                total
            })
            .collect();
        Self(cumulative)
    }

    fn draw(&self, rng: &mut NodeRng) -> u32 {
        let total = self.0.last().copied().unwrap_or(1.0);
        let x = rng.random::<f64>() * total;
        self.0.partition_point(|c| *c <= x).min(self.0.len() - 1) as u32
    }
}

/// Sends one request and records it.
async fn request(shared: Arc<Shared>, key: u32, us: u64, seed: u64) {
    let work = Work { us, pad: shared.payload.clone() };
    let started = Instant::now();
    let sent = started - shared.zero;
    let (outcome, retried) = match &shared.routing {
        Routing::Builtin(mode) => {
            let outcome = if *mode == Mode::Affinity {
                shared.handle.key(key.to_le_bytes()).request(WORK_KIND, &work).await
            } else {
                shared.handle.request(WORK_KIND, &work).await
            };
            let retried = std::mem::take(&mut *shared.retried.0.lock().expect("retries lock"));
            (outcome, retried.into_iter().map(|r| r.from).collect())
        }
        Routing::Custom(router) => custom(&shared, router.as_ref(), key, &work, seed).await,
    };
    let took = started.elapsed();
    let served_by = match &outcome {
        Ok(reply) => reply.decode::<String>().ok().and_then(|id| id.parse::<ActorId>().ok()),
        Err(_) => None,
    };
    let hit_trouble = {
        let troubled = shared.troubled.lock().expect("troubled lock");
        outcome.is_err()
            || retried.iter().any(|a: &ActorId| troubled.contains(a.node()))
            || served_by
                .as_ref()
                .is_some_and(|a| shared.model.is_slow(a.node().endpoint().as_str()))
    };
    let sample = Sample {
        sent,
        took,
        error: outcome.err().map(|e| short(&e)),
        retries: retried.len() as u32,
        key,
        served_by,
        hit_trouble,
    };
    shared.samples.lock().expect("samples lock").push(sample);
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
}

/// A request routed by the user's router, retried by beach's rule: failed attempts that
/// surely did not run go to another member while the retries and the time last.
async fn custom(
    shared: &Shared,
    router: &dyn super::strategy::Router,
    key: u32,
    work: &Work,
    seed: u64,
) -> (Result<beach_core::value::Payload, RequestError>, Vec<ActorId>) {
    let mut rng = derive(seed, 0);
    let deadline = Instant::now() + shared.timeout;
    let category = &shared.handle;
    let mut tried = Vec::new();
    loop {
        let mut members = category.members();
        members.sort();
        if members.is_empty() {
            return (Err(RequestError::NoActors { category: category.category() }), tried);
        }
        let pick = router.pick(&members, key, &tried, &mut rng);
        let left = deadline.saturating_duration_since(Instant::now());
        let outcome =
            category.to_actor(pick.clone()).timeout(left).retries(0).request(WORK_KIND, work).await;
        let retry = match &outcome {
            Err(e) => e.code().is_some_and(|c| Failure::Code(c).is_retryable(false)),
            Ok(_) => false,
        };
        if !retry || tried.len() as u32 >= shared.retries || Instant::now() >= deadline {
            return (outcome, tried);
        }
        tried.push(pick);
    }
}

/// An error as the report counts it: its fixed code, or the handler's message.
fn short(e: &RequestError) -> String {
    e.code().map_or_else(|| e.message(), |c| c.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_keys_favour_the_first_and_uniform_ones_do_not() {
        let mut rng = derive(1, 2);
        let count = |d| {
            let keys = Keys::new(100, d);
            let mut rng = derive(1, 2);
            (0..10_000).filter(|_| keys.draw(&mut rng) == 0).count()
        };
        assert!(count(KeyDistribution::Zipf) > 1500, "key 0 is the hottest");
        assert!(count(KeyDistribution::Uniform) < 200);
        let keys = Keys::new(3, KeyDistribution::Uniform);
        assert!((0..1000).all(|_| keys.draw(&mut rng) < 3));
    }
}
