//! `SimCluster`: whole clusters of real beach nodes in one process, in virtual time, from a
//! seed.
//!
//! Time is tokio's paused clock: when every task waits, the clock jumps to the next timer, so a
//! minute of cluster life takes milliseconds. Every random choice (nodes, network faults) draws
//! from the seed, and the engine breaks every tie deterministically, so the same seed gives the
//! same run: [`SimCluster::trace_hash`] is the check. A failing run prints `BEACH_SIM_SEED=<n>`;
//! set that variable to replay it.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use beach_core::actor::Registry;
use beach_core::auth::Secret;
use beach_core::client::{Beach, ClientBuilder};
use beach_core::config::ClusterConfig;
use beach_core::deploy::{DeployStore, DeploySync};
use beach_core::model::{Endpoint, NodeId, Realm};
use beach_core::node::{Node, NodeBuilder, Observer};
use beach_core::runtime::{BoxFuture, Runtime, TokioRuntime};
use futures::FutureExt;
use xxhash_rust::xxh3::xxh3_64;

use crate::isolation::SimIsolation;
use crate::network::{LinkConfig, MemNetwork};

/// The environment variable that overrides a simulation's seed, to replay a failure.
pub const SEED_VAR: &str = "BEACH_SIM_SEED";

/// The runtime of a simulation: the tokio adapter (run with paused time), and a wall clock
/// that starts at a fixed date and advances with virtual time.
#[derive(Debug)]
pub struct SimRuntime {
    tokio: TokioRuntime,
    start: Instant,
    epoch: SystemTime,
    /// The "secure" randomness of the simulation: seeded, so runs replay.
    random: Mutex<beach_core::rng::NodeRng>,
    /// Where an engine task's panic is recorded, for [`SimBuilder::run`] to fail the run with.
    fatal: Mutex<Option<Arc<Mutex<Option<String>>>>>,
}

impl SimRuntime {
    /// A runtime whose wall clock reads 2026-01-01T00:00:00Z at the start, and whose
    /// randomness (nonces, ids) comes from `seed`.
    pub fn new(seed: u64) -> Self {
        let tokio = TokioRuntime;
        Self {
            start: tokio.now(),
            tokio,
            epoch: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
            random: Mutex::new(beach_core::rng::derive(seed, u64::MAX - 1)),
            fatal: Mutex::new(None),
        }
    }
}

impl Runtime for SimRuntime {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        self.tokio.spawn(task);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.tokio.sleep(duration)
    }

    fn now(&self) -> Instant {
        self.tokio.now()
    }

    fn system_time(&self) -> SystemTime {
        self.epoch + (self.now() - self.start)
    }

    fn fill_random(&self, buf: &mut [u8]) {
        rand::Rng::fill_bytes(&mut *self.random.lock().expect("sim random lock"), buf);
    }

    /// An engine task panicked: the run fails when it ends, with its seed, rather than the
    /// test process ending here (a panic in a task would only end that task).
    fn fatal(&self, message: &str) {
        tracing::error!(%message, "a beach engine task panicked");
        if let Some(slot) = &*self.fatal.lock().expect("sim fatal lock") {
            slot.lock().expect("sim fatal lock").get_or_insert_with(|| message.to_owned());
        }
    }
}

/// The seed to use: `BEACH_SIM_SEED` when set (to replay a failure), else `default`.
pub fn seed_from_env(default: u64) -> u64 {
    std::env::var(SEED_VAR).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(default)
}

/// Settings of a simulation.
#[derive(Debug, Clone)]
pub struct SimBuilder {
    seed: u64,
    registry: Registry,
    config: ClusterConfig,
    secret: Option<Secret>,
    codec: bool,
    keep_state: bool,
}

impl SimBuilder {
    /// A simulation seeded with `seed` (overridden by `BEACH_SIM_SEED`), nodes with an empty
    /// registry and the default configuration.
    pub fn new(seed: u64) -> Self {
        Self {
            seed: seed_from_env(seed),
            registry: Registry::new(),
            config: ClusterConfig::default(),
            secret: None,
            codec: true,
            keep_state: false,
        }
    }

    /// The actor types every node offers.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// The configuration every node runs with.
    pub fn config(mut self, config: ClusterConfig) -> Self {
        self.config = config;
        self
    }

    /// The cluster secret every node and client uses (unless a node is added with its own).
    pub fn secret(mut self, secret: Secret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// Whether messages travel through the real frame codec, as on TCP (the default): every
    /// envelope is encoded and decoded, frame limits hold (`max_frame_size`, and the small
    /// limit before a handshake is done). Off, envelopes are handed over as they are: faster,
    /// for simulations at scale.
    pub fn codec(mut self, codec: bool) -> Self {
        self.codec = codec;
        self
    }

    /// Gives every node a state directory (kept in memory, surviving its crashes and
    /// restarts), as `state_dir` does for `beach-node`: deployments then survive a restart of
    /// the whole cluster.
    pub fn keep_state(mut self, keep: bool) -> Self {
        self.keep_state = keep;
        self
    }

    /// Runs from exactly `seed`, whatever `BEACH_SIM_SEED` says: for programs that take the
    /// seed as an argument (`beach sim --seed`), where the variable would only surprise.
    pub fn exact_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The seed in use.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Runs `scenario` on a fresh simulated cluster in virtual time and returns its result,
    /// on a runtime of its own. If it panics, the seed is printed as `BEACH_SIM_SEED=<n>` and
    /// the panic goes on. Inside an async test (`#[tokio::test]`), use
    /// [`SimBuilder::run_async`].
    ///
    /// # Panics
    /// Called from inside a tokio runtime, where it cannot block: the message says to use
    /// [`SimBuilder::run_async`].
    pub fn run<F, Fut, T>(self, scenario: F) -> T
    where
        F: FnOnce(SimCluster) -> Fut,
        Fut: Future<Output = T>,
    {
        assert!(
            tokio::runtime::Handle::try_current().is_err(),
            "SimBuilder::run blocks, so it cannot run inside an async runtime: in #[tokio::test], call `SimBuilder::run_async(..).await`"
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime");
        rt.block_on(self.scenario(scenario))
    }

    /// [`SimBuilder::run`] for an async test: runs on the test's runtime, whose clock it
    /// pauses, so it must be a current-thread runtime (`#[tokio::test]`'s default).
    ///
    /// ```
    /// use std::time::Duration;
    /// use beach_transport_mem::SimBuilder;
    ///
    /// #[tokio::test]
    /// async fn three_nodes_join() {
    ///     SimBuilder::new(7)
    ///         .run_async(|mut sim| async move {
    ///             sim.add_nodes(3).await;
    ///             assert!(sim.run_until(Duration::from_secs(10), |s| s.converged()).await.is_some());
    ///         })
    ///         .await;
    /// }
    /// # fn main() {}
    /// ```
    ///
    /// # Panics
    /// On a multi-thread runtime, whose clock cannot be paused.
    pub async fn run_async<F, Fut, T>(self, scenario: F) -> T
    where
        F: FnOnce(SimCluster) -> Fut,
        Fut: Future<Output = T>,
    {
        assert!(
            tokio::runtime::Handle::current().runtime_flavor()
                == tokio::runtime::RuntimeFlavor::CurrentThread,
            "a simulation needs a current-thread runtime, whose clock it can pause: use #[tokio::test] without flavor = \"multi_thread\""
        );
        tokio::time::pause();
        self.scenario(scenario).await
    }

    /// Runs `scenario` on a fresh cluster, in virtual time on the current runtime; fails the
    /// run, with the seed to replay it, when the scenario or an engine task panics.
    async fn scenario<F, Fut, T>(self, scenario: F) -> T
    where
        F: FnOnce(SimCluster) -> Fut,
        Fut: Future<Output = T>,
    {
        let seed = self.seed;
        let fatal = Arc::new(Mutex::new(None));
        let sim = SimCluster::new(self);
        *sim.runtime.fatal.lock().expect("sim fatal lock") = Some(fatal.clone());
        let _nodes = sim.keep.clone();
        let result = AssertUnwindSafe(scenario(sim)).catch_unwind().await;
        let engine_panic = fatal.lock().expect("sim fatal lock").take();
        match (result, engine_panic) {
            (Ok(v), None) => v,
            (_, Some(message)) => {
                eprintln!("simulation failed; replay with {SEED_VAR}={seed}");
                panic!("a beach engine task panicked: {message}");
            }
            (Err(panic), None) => {
                eprintln!("simulation failed; replay with {SEED_VAR}={seed}");
                std::panic::resume_unwind(panic)
            }
        }
    }
}

struct SimNode {
    endpoint: Endpoint,
    generation: u64,
    secret: Option<Secret>,
    node: Option<Node>,
    /// Its state directory, when the cluster keeps state.
    state: Option<Arc<MemState>>,
}

/// A simulated node's state directory: the deployments it saved last.
#[derive(Debug, Default)]
struct MemState(Mutex<Option<DeploySync>>);

impl DeployStore for MemState {
    fn load(&self) -> Result<Option<DeploySync>, String> {
        Ok(self.0.lock().expect("sim state lock").clone())
    }

    fn save(&self, sync: &DeploySync) -> Result<(), String> {
        *self.0.lock().expect("sim state lock") = Some(sync.clone());
        Ok(())
    }
}

/// A simulated cluster. Nodes are numbered from 0 in the order they were added; node `i`
/// listens at `10.0.x.y:4999`.
pub struct SimCluster {
    seed: u64,
    registry: Registry,
    config: ClusterConfig,
    secret: Option<Secret>,
    runtime: Arc<SimRuntime>,
    net: Arc<MemNetwork>,
    nodes: Vec<SimNode>,
    clients: u64,
    trace: Arc<Mutex<Vec<String>>>,
    /// Every node started, held by the run too: a scenario that lets go of its cluster early
    /// (a closure that ignores it) must not stop the nodes under its clients.
    keep: Arc<Mutex<Vec<Node>>>,
    keep_state: bool,
}

impl fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimCluster")
            .field("seed", &self.seed)
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

/// The number of first nodes every node uses as seeds.
const SEEDS: usize = 3;

impl SimCluster {
    fn new(b: SimBuilder) -> Self {
        let runtime = Arc::new(SimRuntime::new(b.seed));
        let net = MemNetwork::new(runtime.clone(), mix(b.seed, u64::MAX, 0));
        net.set_codec(b.codec.then_some(b.config.max_frame_size));
        Self {
            seed: b.seed,
            registry: b.registry,
            config: b.config,
            secret: b.secret,
            runtime,
            net,
            nodes: Vec::new(),
            clients: 0,
            trace: Arc::new(Mutex::new(Vec::new())),
            keep: Arc::default(),
            keep_state: b.keep_state,
        }
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The runtime, for timing inside scenarios.
    pub fn runtime(&self) -> Arc<dyn Runtime> {
        self.runtime.clone()
    }

    /// The network, for fine-grained faults.
    pub fn network(&self) -> &Arc<MemNetwork> {
        &self.net
    }

    /// Virtual time since the simulation started.
    pub fn elapsed(&self) -> Duration {
        self.runtime.now() - self.runtime.start
    }

    fn seeds(&self) -> Vec<Endpoint> {
        self.nodes.iter().take(SEEDS).map(|n| n.endpoint.clone()).collect()
    }

    /// Adds a line of the scenario's own to the trace (say, the outcome of a request), so it
    /// counts in [`SimCluster::trace_hash`].
    pub fn note(&self, line: impl Into<String>) {
        self.record(line.into());
    }

    fn record(&self, line: String) {
        let at = self.elapsed().as_millis();
        self.trace.lock().expect("trace lock").push(format!("{at:>8} sim {line}"));
    }

    async fn boot(&mut self, i: usize) -> Node {
        let n = &self.nodes[i];
        let trace = self.trace.clone();
        let rt = self.runtime.clone();
        let observer = Observer(Arc::new(move |node: &NodeId, line: String| {
            let at = (rt.now() - rt.start).as_millis();
            trace.lock().expect("trace lock").push(format!("{at:>8} {node} {line}"));
        }));
        let mut builder = NodeBuilder::new();
        if let Some(state) = &n.state {
            builder = builder.deploy_store(state.clone());
        }
        builder
            .config(&self.config)
            .listen(n.endpoint.to_string())
            .seeds(self.seeds().iter().map(ToString::to_string))
            .generation(n.generation)
            .rng_seed(mix(self.seed, i as u64, n.generation))
            .secrets(n.secret.clone().into_iter().collect())
            .observer(observer)
            .registry(self.registry.clone())
            .isolation(Arc::new(SimIsolation::new(
                self.registry.clone(),
                &self.config,
                self.runtime.clone(),
            )))
            .transport(self.net.transport(n.endpoint.as_str()))
            .runtime(self.runtime.clone())
            .start()
            .await
            .expect("a simulated node starts")
    }

    /// Adds and starts a node; returns its number.
    pub async fn add_node(&mut self) -> usize {
        self.add_node_with_secret(self.secret.clone()).await
    }

    /// Adds and starts a node with its own cluster secret (or none), to test what a node with
    /// the wrong secret can do; returns its number.
    pub async fn add_node_with_secret(&mut self, secret: Option<Secret>) -> usize {
        let i = self.nodes.len();
        let endpoint = Endpoint::new(format!("10.0.{}.{}:4999", i / 250, i % 250 + 1))
            .expect("valid endpoint");
        let state = self.keep_state.then(Arc::default);
        self.nodes.push(SimNode { endpoint, generation: 1, secret, node: None, state });
        let node = self.boot(i).await;
        self.keep.lock().expect("sim keep lock").push(node.clone());
        self.nodes[i].node = Some(node);
        i
    }

    /// Adds and starts `n` nodes.
    pub async fn add_nodes(&mut self, n: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.add_node().await);
        }
        out
    }

    /// Node `i`, if it is running.
    pub fn node(&self, i: usize) -> Option<&Node> {
        self.nodes.get(i)?.node.as_ref()
    }

    /// Node `i`.
    ///
    /// # Panics
    /// If node `i` does not exist or is crashed.
    pub fn live(&self, i: usize) -> &Node {
        self.node(i).unwrap_or_else(|| panic!("node {i} is not running"))
    }

    /// The numbers of the running nodes.
    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].node.is_some()).collect()
    }

    /// The endpoint of node `i`.
    pub fn endpoint(&self, i: usize) -> &Endpoint {
        &self.nodes[i].endpoint
    }

    /// Crashes node `i`: it stops at once, without telling anyone, and its connections break.
    pub fn crash(&mut self, i: usize) {
        if let Some(node) = self.nodes[i].node.take() {
            self.record(format!("crash {}", node.id()));
            node.kill();
            self.net.crash(self.nodes[i].endpoint.as_str());
        }
    }

    /// Stops node `i` gracefully (actors drain, peers are told).
    pub async fn shutdown(&mut self, i: usize) {
        if let Some(node) = self.nodes[i].node.take() {
            self.record(format!("shutdown {}", node.id()));
            node.shutdown().await;
            self.net.crash(self.nodes[i].endpoint.as_str());
        }
    }

    /// Restarts node `i` (crashing it first if it runs) with a new generation: a new member
    /// whose old actors are gone.
    pub async fn restart(&mut self, i: usize) {
        self.crash(i);
        self.nodes[i].generation += 1;
        self.record(format!("restart node {i} as generation {}", self.nodes[i].generation));
        let node = self.boot(i).await;
        self.keep.lock().expect("sim keep lock").push(node.clone());
        self.nodes[i].node = Some(node);
    }

    /// Cuts every node of `a` from every node of `b`, both ways.
    pub fn partition(&self, a: &[usize], b: &[usize]) {
        self.record(format!("partition {a:?} | {b:?}"));
        for &x in a {
            for &y in b {
                self.net
                    .partition(self.nodes[x].endpoint.as_str(), self.nodes[y].endpoint.as_str());
            }
        }
    }

    /// Loses every message from node `from` to node `to` (a one-way partition).
    pub fn partition_one_way(&self, from: usize, to: usize) {
        self.record(format!("partition {from} -> {to}"));
        self.net.block(self.nodes[from].endpoint.as_str(), self.nodes[to].endpoint.as_str());
    }

    /// Lifts every partition.
    pub fn heal(&self) {
        self.record("heal".to_owned());
        self.net.heal();
    }

    /// Sets the link behaviour between nodes `a` and `b`, both ways.
    pub fn set_link(&self, a: usize, b: usize, link: LinkConfig) {
        let (x, y) = (self.nodes[a].endpoint.as_str(), self.nodes[b].endpoint.as_str());
        self.net.set_link(x, y, link);
        self.net.set_link(y, x, link);
    }

    /// Sets the behaviour of every link.
    pub fn set_default_link(&self, link: LinkConfig) {
        self.net.set_default_link(link);
    }

    /// A client connected to the first seeds, in `realm`.
    pub async fn client_in(&mut self, realm: Realm) -> Beach {
        self.clients += 1;
        let name = format!("client{}", self.clients);
        let mut seeds = self.seeds();
        seeds.retain(|s| self.nodes.iter().any(|n| n.endpoint == *s && n.node.is_some()));
        let mut builder = ClientBuilder::new()
            .config(&ClusterConfig { secret_file: None, ..self.config.clone() })
            .seeds(seeds.iter().map(ToString::to_string))
            .realm(realm.as_str())
            .name(name.clone())
            .rng_seed(mix(self.seed, u64::MAX - self.clients, 0))
            .transport(self.net.transport(&name))
            .runtime(self.runtime.clone());
        if let Some(secret) = &self.secret {
            builder = builder.secret(secret);
        }
        builder.connect().await.expect("a simulated client connects")
    }

    /// A client connected to the first seeds, in realm `global`.
    pub async fn client(&mut self) -> Beach {
        self.client_in(Realm::global()).await
    }

    /// Lets virtual time pass.
    pub async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    /// Lets time pass until `done` holds (checked every 10 virtual ms) or `limit` passes;
    /// returns how long it took, or `None` at the limit.
    pub async fn run_until(
        &self,
        limit: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Option<Duration> {
        let start = self.runtime.now();
        loop {
            if done(self) {
                return Some(self.runtime.now() - start);
            }
            if self.runtime.now() - start >= limit {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether every running node knows exactly the other running nodes and holds the same
    /// directory (the same digest).
    pub fn converged(&self) -> bool {
        let running = self.running();
        // The cheap test first: on a large cluster this runs every 10 virtual ms.
        if running.iter().any(|&i| self.live(i).member_count() + 1 != running.len()) {
            return false;
        }
        let mut ids: Vec<NodeId> = running.iter().map(|&i| self.live(i).id().clone()).collect();
        // `members()` is sorted by id, which is not the order nodes were added in.
        ids.sort();
        let mut digest = None;
        for &i in &running {
            let node = self.live(i);
            let others: Vec<NodeId> = ids.iter().filter(|n| *n != node.id()).cloned().collect();
            if node.members() != others {
                return false;
            }
            let d = node.with_directory(|d| d.digest());
            match &digest {
                None => digest = Some(d),
                Some(first) if *first != d => return false,
                Some(_) => {}
            }
        }
        true
    }

    /// The trace so far: one line per notable event of every node, with virtual times.
    pub fn trace(&self) -> Vec<String> {
        self.trace.lock().expect("trace lock").clone()
    }

    /// A hash of the trace: the same seed and scenario give the same hash.
    pub fn trace_hash(&self) -> u64 {
        let trace = self.trace.lock().expect("trace lock");
        xxh3_64(trace.join("\n").as_bytes())
    }
}

/// Mixes the simulation seed with a node number and generation into a node's own seed.
fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&a.to_le_bytes());
    bytes[16..].copy_from_slice(&b.to_le_bytes());
    xxh3_64(&bytes)
}
