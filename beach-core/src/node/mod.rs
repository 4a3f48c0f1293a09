//! The node engine: hosts actors, serves requests and admin calls from peers and clients, and
//! keeps membership and the directory in sync. Generic over the transport and the runtime (both
//! held as trait objects), so the same engine runs on TCP and in the simulator.
//!
//! The engine's mutable state sits behind one mutex that is never held across an `.await`;
//! anything slow (actor handlers, connecting, admin calls to other nodes) runs in tasks.
//!
//! This file is the node's public API and its start; each other idea has its file:
//! `builder.rs` (how a program starts a node), `router.rs` (what the node does with each
//! envelope), `cell.rs` (serving one actor's requests), `lifecycle.rs` (spawning and stopping
//! local actors), `admin.rs` (admin operations across the cluster), `execute.rs` (one
//! node's part of them), `port.rs` (what its actors' handles use), `sync.rs` (the
//! membership and anti-entropy loops) and `in_process.rs` (the embedding program's client).

mod admin;
mod builder;
mod cell;
mod counters;
mod deploy;
mod execute;
mod in_process;
mod lifecycle;
mod port;
mod router;
mod sync;
mod types;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use rand::RngExt;
use tokio::sync::Notify;

use crate::actor::{Isolation, Registry, TypeSource};
use crate::auth::{Credentials, Role, Secret};
use crate::config::ClusterConfig;
use crate::directory::Directory;
use crate::link::{Dispatch, Links};
use crate::membership::{Membership, MembershipConfig, MembershipError};
use crate::model::{ActorId, Endpoint, NodeId};
use crate::rng::{NodeRng, derive};
use crate::runtime::Runtime;
use crate::tasks::TaskSet;
use crate::transport::{Transport, TransportError};
use crate::wire::Envelope;

pub use builder::NodeBuilder;
pub(crate) use cell::ActorCell;
pub use counters::{HostedActor, NodeCounters};

/// The largest membership packet accepted: a few times what membership itself sends
/// (`max_packet_size`, 16 KiB), far below what would stall a node decoding it.
const MAX_MEMBERSHIP_PACKET: usize = 256 * 1024;
pub use cell::{MAX_SPAWN_COUNT, PRIVATE};

/// A node's settings, resolved from a [`NodeBuilder`].
#[derive(Debug, Clone)]
pub(crate) struct NodeOptions {
    pub(crate) config: ClusterConfig,
    pub(crate) listen: Endpoint,
    /// What peers should dial; by default the endpoint actually bound. A port of 0 here
    /// stands for the port actually bound.
    pub(crate) advertise: Option<Endpoint>,
    pub(crate) seeds: Vec<Endpoint>,
    /// This start's generation; not 0. At one endpoint, the larger generation is the newer
    /// node.
    pub(crate) generation: u64,
    /// The seed of this node's placement and routing choices (nonces and ids come from the
    /// runtime's secure randomness instead).
    pub(crate) rng_seed: u64,
    /// The cluster secrets: peers must prove one of them (clients, its client key); this node
    /// connects with the first. Empty: the cluster trusts its network.
    pub(crate) secrets: Vec<Secret>,
    pub(crate) observer: Option<Observer>,
    pub(crate) isolation: Option<Arc<dyn Isolation>>,
    pub(crate) type_source: Option<Arc<dyn TypeSource>>,
    pub(crate) deploy_store: Option<Arc<dyn crate::deploy::DeployStore>>,
    /// How [`Node::client`] reaches other nodes: a transport proving the client key (the
    /// node's own, when it has no credentials of its own, as in a simulation).
    pub(crate) client_transport: Option<Arc<dyn Transport>>,
}

impl NodeOptions {
    fn credentials(&self) -> Option<Credentials> {
        Credentials::node(self.secrets.clone())
    }
}

/// What an [`Isolation`] may do with its node: hand it the connection of a child process as a
/// client that needs no key (the connection is its credential) and whose requests the node
/// carries on to other nodes. Holds the node weakly: a child never keeps its node alive.
#[derive(Clone)]
pub struct ChildLinks {
    node: Weak<NodeInner>,
}

impl fmt::Debug for ChildLinks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildLinks").finish_non_exhaustive()
    }
}

impl ChildLinks {
    pub(crate) fn new(node: Weak<NodeInner>) -> Self {
        Self { node }
    }
}

impl crate::transport::AdoptClient for ChildLinks {
    /// Serves `conn` as the connection of a child's client (see
    /// [`crate::client::ClientBuilder::through_entry`]); nothing when the node has stopped.
    fn adopt_client(&self, conn: crate::transport::Connection) {
        if let Some(node) = self.node.upgrade() {
            node.links.adopt_client(conn, node.id.clone());
        }
    }
}

/// What an [`Observer`] calls: the node and one line about what happened.
pub type ObserverFn = dyn Fn(&NodeId, String) + Send + Sync;

/// A callback receiving trace lines.
#[derive(Clone)]
pub struct Observer(pub Arc<ObserverFn>);

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer")
    }
}

/// Why a node could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The listen endpoint could not be bound.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Membership refused the identity.
    #[error(transparent)]
    Membership(#[from] MembershipError),
    /// A setting of the [`NodeBuilder`] is not usable (a bad address, an unreadable secret
    /// file, no transport): names which and why.
    #[error("{0}")]
    Invalid(String),
}

/// A running node. Cheap to clone; stop it with [`Node::shutdown`] (graceful) or
/// [`Node::kill`] (a crash, for simulations).
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node").field("id", &self.inner.id).finish_non_exhaustive()
    }
}

pub(crate) struct NodeInner {
    pub(crate) id: NodeId,
    pub(crate) config: ClusterConfig,
    pub(crate) registry: Registry,
    pub(crate) isolation: Option<Arc<dyn Isolation>>,
    pub(crate) type_source: Option<Arc<dyn TypeSource>>,
    /// Where the deployments are saved, if anywhere.
    pub(crate) deploy_store: Option<Arc<dyn crate::deploy::DeployStore>>,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) links: Arc<Links>,
    pub(crate) state: Mutex<NodeState>,
    pub(crate) me: Weak<NodeInner>,
    pub(crate) port: Arc<port::NodePort>,
    /// The client key derived from the first secret, for [`Node::client`].
    pub(crate) client_key: Option<crate::auth::ClientKey>,
    pub(crate) client_transport: Arc<dyn Transport>,
    membership_wake: Notify,
    /// Wakes the deployment loop: a deployment changed.
    deploy_wake: Notify,
    next_request_id: AtomicU64,
    load: Mutex<(f64, f64)>,
    stopped: AtomicBool,
    tasks: Arc<TaskSet>,
    observer: Option<Observer>,
    /// Spawns and stops, for metrics.
    pub(crate) life: counters::LifeCounters,
    /// The name clashes between a code directory's types and the registry's already logged.
    pub(crate) clashes_logged: Mutex<std::collections::BTreeSet<String>>,
}

pub(crate) struct NodeState {
    pub(crate) directory: Directory,
    pub(crate) membership: Membership,
    pub(crate) rng: NodeRng,
    pub(crate) actors: BTreeMap<ActorId, Arc<ActorCell>>,
    pub(crate) next_actor_seq: u64,
    pub(crate) roundrobin_previous: Option<NodeId>,
    /// The members suspected at the last look, to log changes.
    pub(crate) suspected: Vec<NodeId>,
    /// The deployments, and this node's reconciling of them.
    pub(crate) deploy: deploy::DeployState,
}

impl Node {
    /// Starts a node: binds, joins through the seeds, and starts serving.
    pub(crate) async fn start_with(
        options: NodeOptions,
        registry: Registry,
        transport: Arc<dyn Transport>,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Node, NodeError> {
        let mut listener = transport.bind(&options.listen).await?;
        let bound = listener.local_endpoint();
        let advertise = match options.advertise.clone() {
            // An advertised port 0 means "the port actually bound" (listening on port 0).
            Some(a) if a.as_str().ends_with(":0") => {
                let port = bound.as_str().rsplit_once(':').map_or("0", |(_, p)| p);
                let host = &a.as_str()[..a.as_str().len() - 2];
                Endpoint::new(format!("{host}:{port}")).unwrap_or(bound)
            }
            Some(a) => a,
            None => bound,
        };
        let id = NodeId::new(advertise, options.generation);
        let mut rng = derive(options.rng_seed, 0);
        let membership = Membership::new(
            id.clone(),
            options.seeds.clone(),
            &MembershipConfig::from_cluster(&options.config),
            derive(options.rng_seed, 1),
        )?;
        let client_transport = options.client_transport.clone().unwrap_or(transport.clone());
        let client_key = options.secrets.first().map(Secret::client_key);
        let links = Links::new(
            transport,
            runtime.clone(),
            options.credentials(),
            Role::Node,
            derive(options.rng_seed, 2),
            Some(options.config.link_idle),
        );
        let mut deploy = deploy::DeployState::default();
        if let Some(store) = &options.deploy_store {
            let saved = store.load().map_err(NodeError::Invalid)?;
            deploy.set.merge_sync(saved.unwrap_or_default());
        }
        let first_request_id = rng.random::<u64>() >> 1;
        let request_timeout_default = options.config.request_timeout_default;
        let inner = Arc::new_cyclic(|me| NodeInner {
            id: id.clone(),
            config: options.config,
            registry,
            isolation: options.isolation,
            type_source: options.type_source,
            deploy_store: options.deploy_store.clone(),
            clashes_logged: Mutex::default(),
            runtime: runtime.clone(),
            links: links.clone(),
            state: Mutex::new(NodeState {
                directory: Directory::new(id.clone()),
                membership,
                rng,
                actors: BTreeMap::new(),
                next_actor_seq: 1,
                roundrobin_previous: None,
                suspected: Vec::new(),
                deploy,
            }),
            me: me.clone(),
            // One port for every actor of this node: handles need nothing actor-specific here.
            port: Arc::new(port::NodePort::new(
                me.clone(),
                id.clone(),
                runtime.clone(),
                request_timeout_default,
            )),
            client_key,
            client_transport,
            membership_wake: Notify::new(),
            deploy_wake: Notify::new(),
            next_request_id: AtomicU64::new(first_request_id),
            load: Mutex::new((0.0, 0.0)),
            stopped: AtomicBool::new(false),
            tasks: Arc::default(),
            observer: options.observer,
            life: counters::LifeCounters::default(),
        });
        let weak: Weak<dyn Dispatch> = Arc::downgrade(&inner) as Weak<dyn Dispatch>;
        links.set_dispatch(weak);

        // Accept loop.
        let me = Arc::downgrade(&inner);
        inner.spawn_task(async move {
            loop {
                match listener.accept().await {
                    Ok(conn) => match me.upgrade() {
                        Some(node) => node.links.accept(conn, node.id.clone()),
                        None => return,
                    },
                    Err(e) => tracing::warn!(error = %e, "accept failed"),
                }
            }
        });
        inner.observe(format!("start {id}"));
        {
            let now = inner.runtime.now();
            let mut st = inner.lock();
            st.membership.start(now);
            inner.flush_membership(&mut st);
        }
        inner.wake_membership();
        inner.spawn_task(sync::membership_loop(Arc::downgrade(&inner)));
        inner.spawn_task(sync::anti_entropy_loop(Arc::downgrade(&inner)));
        inner.spawn_task(deploy::deploy_loop(Arc::downgrade(&inner)));
        Ok(Node { inner })
    }

    /// This node's identity.
    pub fn id(&self) -> &NodeId {
        &self.inner.id
    }

    /// The other nodes this node believes alive, sorted.
    pub fn members(&self) -> Vec<NodeId> {
        self.inner.lock().membership.members().cloned().collect()
    }

    /// How many other nodes this node believes alive.
    pub fn member_count(&self) -> usize {
        self.inner.lock().membership.member_count()
    }

    /// A snapshot of this node's directory view (a copy: with many actors, prefer
    /// [`Node::with_directory`]).
    pub fn directory(&self) -> Directory {
        self.inner.lock().directory.clone()
    }

    /// Calls `f` with this node's directory view, without copying it. The node waits for `f`:
    /// keep it short.
    pub fn with_directory<R>(&self, f: impl FnOnce(&Directory) -> R) -> R {
        f(&self.inner.lock().directory)
    }

    /// Applies the deployments a code directory file declares for `realm` (`file` names the
    /// file, e.g. `global/deployments.yaml`): each is then owned by the file, an apply of the
    /// same name through the CLI or an API is refused, and removing it from the file deletes
    /// it. What changed; an error names the spec at fault, and then nothing is applied.
    pub async fn apply_deployment_file(
        &self,
        file: &str,
        realm: &crate::model::Realm,
        specs: Vec<crate::deploy::DeploymentSpec>,
    ) -> Result<Vec<(String, crate::deploy::Change)>, String> {
        self.inner.apply_file(file, realm, specs).await
    }

    /// The deployments this node knows, deleted ones included (as tombstones), by name.
    pub fn deployments(&self) -> Vec<crate::deploy::DeployRecord> {
        self.inner.lock().deploy.set.records().cloned().collect()
    }

    /// The actors hosted here, sorted.
    pub fn local_actors(&self) -> Vec<ActorId> {
        self.inner.lock().actors.keys().cloned().collect()
    }

    /// Sets the CPU and memory use (0.0 to 1.0) this node reports; the daemon feeds it from
    /// the operating system, simulations set it directly.
    pub fn set_load(&self, cpu: f64, memory: f64) {
        *self.inner.load.lock().expect("load lock") = (cpu.clamp(0.0, 1.0), memory.clamp(0.0, 1.0));
    }

    /// Stops gracefully: actors drain and stop, peers are told this node leaves, then every
    /// task ends.
    pub async fn shutdown(&self) {
        let ids = self.local_actors();
        self.inner.stop_local(&ids, true).await;
        {
            let now = self.inner.runtime.now();
            let mut st = self.inner.lock();
            st.membership.leave(now);
            self.inner.flush_membership(&mut st);
        }
        // Give the goodbye packets a moment to leave the queues.
        self.inner.runtime.sleep(Duration::from_millis(50)).await;
        self.kill();
    }

    /// Stops at once, as a crash would: no draining, no goodbye.
    pub fn kill(&self) {
        self.inner.stopped.store(true, Ordering::Release);
        self.inner.tasks.close();
        let cells: Vec<Arc<ActorCell>> =
            std::mem::take(&mut self.inner.lock().actors).into_values().collect();
        for c in cells {
            c.ctx.stop();
        }
        self.inner.links.close();
        self.inner.observe("killed".to_owned());
    }

    /// Whether the node was stopped.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }
}

impl NodeInner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, NodeState> {
        self.state.lock().expect("node state lock")
    }

    pub(crate) fn arc(&self) -> Arc<NodeInner> {
        self.me.upgrade().expect("node is alive while in use")
    }

    /// Runs `task` until it ends or the node stops; a finished task is forgotten.
    pub(crate) fn spawn_task(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(&self.runtime, task);
    }

    pub(crate) fn observe(&self, line: String) {
        if let Some(o) = &self.observer {
            (o.0)(&self.id, line);
        }
    }

    pub(crate) fn next_request_id(&self) -> u64 {
        self.next_request_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn load(&self) -> (f64, f64) {
        *self.load.lock().expect("load lock")
    }

    /// Sends the own partition's pending changes to every member (the fast path).
    pub(crate) fn push_delta(&self, st: &mut NodeState) {
        if let Some(delta) = st.directory.take_delta() {
            for m in st.membership.members() {
                self.links.send(m.endpoint(), Envelope::Delta(delta.clone()));
            }
        }
    }

    /// Sends what membership wants sent and applies what it learnt to the directory.
    pub(crate) fn flush_membership(&self, st: &mut NodeState) {
        use crate::membership::MembershipEvent as E;
        while let Some(t) = st.membership.poll_transmit() {
            self.links.send(&t.to, Envelope::Membership(t.data));
        }
        while let Some(event) = st.membership.poll_event() {
            self.observe(format!("{event:?}"));
            match &event {
                E::Up(n) => tracing::info!(node = %n, "member up"),
                E::Down(n) => tracing::info!(node = %n, "member down"),
                E::Renamed { from, to } => tracing::info!(%from, %to, "member restarted"),
                E::Idle => tracing::info!("alone: no other member"),
                E::Active | E::Rejoined => {}
            }
            match event {
                E::Up(n) => {
                    st.directory.node_up(&n);
                    self.greet(st, &n);
                }
                E::Down(n) => {
                    st.directory.node_down(&n);
                    self.links.fail_calls_to(n.endpoint(), "node is down", true);
                }
                E::Renamed { from, to } => {
                    st.directory.node_down(&from);
                    st.directory.node_up(&to);
                    self.links.fail_calls_to(from.endpoint(), "node restarted", true);
                    self.greet(st, &to);
                }
                E::Idle | E::Active | E::Rejoined => {}
            }
        }
    }

    /// Swaps own partitions with a node just seen up, without waiting for the next sync
    /// period: ours, and a partial digest asking for theirs. Only the two owners' partitions
    /// move; everything else is left to anti-entropy, so a join costs O(n), not O(n²), in
    /// the whole cluster.
    fn greet(&self, st: &NodeState, node: &NodeId) {
        // A partition never written is empty, as the peer knows without being told (see
        // `Directory::node_up`); so a join of nodes without actors opens no connections.
        let own = st.directory.own();
        if !own.is_blank() {
            let partitions = vec![own.clone()];
            let digest = Some(st.directory.digest_for(node));
            self.links.send(node.endpoint(), Envelope::Partitions { partitions, digest });
        }
        let deployments = st.deploy.set.sync();
        if !deployments.is_empty() {
            self.links.send(node.endpoint(), Envelope::Deployments(deployments));
        }
    }

    /// Lets membership meet the nodes a peer's directory names (see
    /// [`Membership::introduce`]).
    fn introduce<'a>(&self, st: &mut NodeState, nodes: impl IntoIterator<Item = &'a NodeId>) {
        let now = self.runtime.now();
        st.membership.introduce(now, nodes);
        self.flush_membership(st);
    }

    /// Logs members newly suspected of being down, and those cleared of it.
    pub(crate) fn log_suspects(&self, st: &mut NodeState) {
        let now = st.membership.suspects();
        if now == st.suspected {
            return;
        }
        for n in now.iter().filter(|n| !st.suspected.contains(n)) {
            tracing::info!(node = %n, "member suspect");
        }
        for n in st.suspected.iter().filter(|n| !now.contains(n)) {
            if st.membership.members().any(|m| m == n) {
                tracing::info!(node = %n, "member no longer suspect");
            }
        }
        st.suspected = now;
    }

    /// Asks each owner for its own partition (newer than the version held), directly.
    fn fetch_from_owners(&self, owners: Vec<(NodeId, u64)>) {
        for (owner, held) in owners {
            let digest = crate::directory::Digest::for_owner(owner.clone(), held);
            self.links.send(owner.endpoint(), Envelope::Digest(digest));
        }
    }

    /// Tells the membership loop that timers may have changed.
    pub(crate) fn wake_membership(&self) {
        self.membership_wake.notify_one();
    }
}
