//! The client: how programs outside the cluster (and the CLI) deploy actors and talk to
//! categories.
//!
//! [`ClientBuilder::connect`] reaches any seed; that node is the client's entry for admin
//! calls and keeps the client's read-only copy of the directory fresh (every sync period, or at
//! once after the client's own changes). Requests go straight to the node hosting the chosen
//! actor. [`ActorSpec`] says what to spawn; the read calls return the views of `views.rs`.

mod builder;
mod deploy;
mod port;
mod spec;
mod views;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::ErrorCode;
use crate::actor::{Group, Handle};
use crate::auth::{ClientKey, Credentials, Role};
use crate::directory::Directory;
use crate::link::{Dispatch, Links, Outbox, Remote};
use crate::model::{ActorId, Category, Endpoint, NodeId, Realm};
use crate::rng::{NodeRng, derive};
use crate::routing::Mode;
use crate::runtime::{Runtime, timeout};
use crate::transport::Transport;
use crate::wire::{ActorRecord, AdminAnswer, AdminOp, Envelope, Peer, SpawnSpec};
pub use builder::ClientBuilder;
use port::ClientPort;
pub use spec::ActorSpec;
pub use views::{
    ActorLoad, ActorMetadata, NodeHealth, NodeInfo, NodeMetadata, NodeState, TypeInfo,
};

/// A client's settings, resolved from a [`ClientBuilder`].
#[derive(Debug, Clone)]
pub(crate) struct ClientOptions {
    pub(crate) seeds: Vec<Endpoint>,
    pub(crate) cluster_name: String,
    pub(crate) admin_token: Option<String>,
    pub(crate) request_timeout: Duration,
    pub(crate) sync_interval: Duration,
    pub(crate) rng_seed: u64,
    pub(crate) name: String,
    pub(crate) client_key: Option<ClientKey>,
    /// Every request goes to the entry node, which carries it on (see
    /// [`ClientBuilder::through_entry`]).
    pub(crate) through_entry: bool,
}

/// Why a client call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No seed answered.
    #[error("cannot reach any seed ({seeds}): {reason}; is beach-node running?")]
    NoSeed {
        /// The seeds tried.
        seeds: String,
        /// The last failure.
        reason: String,
    },
    /// The cluster answered with an error (`unprivileged`, an init error, an unknown type,
    /// ...).
    #[error("{0}")]
    Cluster(String),
    /// A setting of the [`ClientBuilder`] is not usable (a bad seed or realm, no transport,
    /// an unreadable key file): names which and why.
    #[error("{0}")]
    Invalid(String),
    /// The cluster answered something this client did not expect.
    #[error("unexpected answer from the cluster: {0}")]
    Protocol(String),
    /// Some nodes did their part and some failed: the actors `done` (spawned or stopped)
    /// stay as they are, and `errors` says what failed where.
    #[error("partly done ({} actors): {}", done.len(), errors.join("; "))]
    Partial {
        /// The actors spawned or stopped all the same.
        done: Vec<ActorId>,
        /// Each failure, naming its node.
        errors: Vec<String>,
    },
}

impl ClientError {
    /// The fixed error this is, if it is one (`unprivileged` for a missing or wrong admin
    /// token, `unreachable` when no seed answered, ...): what to match on, never the text.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::NoSeed { .. } => Some(ErrorCode::Unreachable),
            ClientError::Cluster(message) => ErrorCode::of_message(message),
            ClientError::Invalid(_) | ClientError::Protocol(_) | ClientError::Partial { .. } => {
                None
            }
        }
    }
}

/// How long connecting to one seed may take.
const SEED_WAIT: Duration = Duration::from_secs(3);

/// A connection to a cluster. Cheap to clone; [`Beach::with_realm`] gives a copy working in
/// another realm over the same connections.
#[derive(Clone)]
pub struct Beach {
    inner: Arc<ClientInner>,
    realm: Realm,
}

impl fmt::Debug for Beach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Beach").field("realm", &self.realm).finish_non_exhaustive()
    }
}

pub(crate) struct ClientInner {
    pub(crate) options: ClientOptions,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) links: Arc<Links>,
    pub(crate) view: Mutex<Directory>,
    pub(crate) entry: Mutex<Endpoint>,
    pub(crate) rng: Mutex<NodeRng>,
    pub(crate) next_request_id: AtomicU64,
    view_updated: Notify,
    /// Hears of each request this client's handles make, once set.
    pub(crate) routes: std::sync::OnceLock<Arc<dyn crate::actor::RouteObserver>>,
}

impl Beach {
    /// Connects to the first seed that answers, and loads the directory.
    pub(crate) async fn connect_with(
        options: ClientOptions,
        realm: Realm,
        transport: Arc<dyn Transport>,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Beach, ClientError> {
        let me = NodeId::new(
            Endpoint::new(format!("client-{}", options.name))
                .unwrap_or_else(|_| Endpoint::new("client").expect("valid")),
            1,
        );
        let links = Links::new(
            transport,
            runtime.clone(),
            options.client_key.clone().map(Credentials::Client),
            Role::Client,
            derive(options.rng_seed, 8),
            None,
        );
        let mut rng = derive(options.rng_seed, 7);
        let first_id = rand::RngExt::random::<u64>(&mut rng) >> 1;
        let first_seed = options.seeds.first().cloned().ok_or(ClientError::NoSeed {
            seeds: String::new(),
            reason: "no seed given".to_owned(),
        })?;
        let inner = Arc::new(ClientInner {
            options: options.clone(),
            runtime: runtime.clone(),
            links: links.clone(),
            view: Mutex::new(Directory::new(me)),
            entry: Mutex::new(first_seed),
            rng: Mutex::new(rng),
            next_request_id: AtomicU64::new(first_id),
            view_updated: Notify::new(),
            routes: std::sync::OnceLock::new(),
        });
        links.set_dispatch(Arc::downgrade(&inner) as Weak<dyn Dispatch>);
        let mut reason = String::new();
        let mut entry = None;
        for seed in &options.seeds {
            match links.admin(seed, None, AdminOp::Nodes, SEED_WAIT).await {
                Ok(_) => {
                    entry = Some(seed.clone());
                    break;
                }
                Err(e) => reason = e,
            }
        }
        let Some(entry) = entry else {
            links.close();
            let seeds =
                options.seeds.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            return Err(ClientError::NoSeed { seeds, reason });
        };
        *inner.entry.lock().expect("client lock") = entry;
        let client = Beach { inner, realm };
        client.refresh().await;
        let weak = Arc::downgrade(&client.inner);
        links.spawn(async move {
            loop {
                let Some(c) = weak.upgrade() else { return };
                let rt = c.runtime.clone();
                let every = c.options.sync_interval;
                c.request_view();
                drop(c);
                rt.sleep(every).await;
            }
        });
        Ok(client)
    }

    /// The realm this client works in.
    pub fn realm(&self) -> &Realm {
        &self.realm
    }

    /// This client working in another realm, over the same connections.
    pub fn with_realm(&self, realm: Realm) -> Beach {
        Beach { inner: self.inner.clone(), realm }
    }

    /// The node this client uses as its entry.
    pub fn entry(&self) -> Endpoint {
        self.inner.entry.lock().expect("client lock").clone()
    }

    /// A spec for actors of type `actor_type` in `categories`, in this client's realm, to
    /// adjust and pass to [`Beach::add_actor`].
    pub fn actor<C: Into<String>>(
        &self,
        actor_type: &str,
        categories: impl IntoIterator<Item = C>,
    ) -> ActorSpec {
        ActorSpec::new(actor_type, categories)
    }

    /// Adds actors as `spec` says; returns their ids once every `init` succeeded. The new
    /// actors are visible to this client's handles at once. A spec that does not check out is
    /// [`ClientError::Invalid`], naming every problem.
    pub async fn add_actor(&self, spec: ActorSpec) -> Result<Vec<ActorId>, ClientError> {
        let spec = spec.to_wire(&self.realm).map_err(ClientError::Invalid)?;
        let (answer, errors) = split(self.admin(AdminOp::Spawn(Box::new(spec))).await?);
        match answer {
            AdminAnswer::Spawned(records) => {
                self.learn(&records, true);
                done(records.into_iter().map(|r| r.id).collect(), errors)
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Where `spec`'s actors would be placed, and why, without spawning them.
    pub async fn place(&self, spec: ActorSpec) -> Result<Vec<(NodeId, String)>, ClientError> {
        let mut spec = spec.to_wire(&self.realm).map_err(ClientError::Invalid)?;
        spec.dry_run = true;
        match self.admin(AdminOp::Spawn(Box::new(spec))).await? {
            AdminAnswer::Placement(p) => Ok(p),
            other => Err(unexpected(&other)),
        }
    }

    /// The realm's directory as the entry node sees it: categories starting with `prefix`,
    /// each with its actors (read page by page, however large).
    pub async fn directory(
        &self,
        prefix: &str,
    ) -> Result<BTreeMap<Category, Vec<ActorId>>, ClientError> {
        let mut all: BTreeMap<Category, Vec<ActorId>> = BTreeMap::new();
        let mut after = None;
        loop {
            let op = AdminOp::Directory {
                realm: self.realm.clone(),
                prefix: prefix.to_owned(),
                after: after.take(),
            };
            match self.admin(op).await? {
                AdminAnswer::Directory { categories, next } => {
                    for (c, ids) in categories {
                        all.entry(c).or_default().extend(ids);
                    }
                    match next {
                        Some(n) => after = Some(n),
                        None => return Ok(all),
                    }
                }
                other => return Err(unexpected(&other)),
            }
        }
    }

    /// Has `observer` hear of every request this client's handles make when it ends (its
    /// outcome, its time, the attempts retried and why). One observer per client: `false`,
    /// and nothing changed, when one is set already.
    pub fn observe_routes(&self, observer: Arc<dyn crate::actor::RouteObserver>) -> bool {
        self.inner.routes.set(observer).is_ok()
    }

    /// Stops every actor in every realm; returns how many.
    pub async fn flush(&self) -> Result<u64, ClientError> {
        let (answer, errors) = split(self.admin(AdminOp::Flush).await?);
        match answer {
            AdminAnswer::Flushed(n) => {
                self.refresh().await;
                if errors.is_empty() {
                    Ok(n)
                } else {
                    Err(ClientError::Partial { done: Vec::new(), errors })
                }
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Stops actors by id and by category prefix (in this realm); returns those stopped.
    pub async fn stop_actors(
        &self,
        ids: &[ActorId],
        categories: &[&str],
    ) -> Result<Vec<ActorId>, ClientError> {
        self.stop_actors_after(ids, categories, Duration::ZERO).await
    }

    /// [`Beach::stop_actors`] after a delay.
    pub async fn stop_actors_after(
        &self,
        ids: &[ActorId],
        categories: &[&str],
        delay: Duration,
    ) -> Result<Vec<ActorId>, ClientError> {
        let op = AdminOp::Stop {
            realm: self.realm.clone(),
            ids: ids.to_vec(),
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        };
        let (answer, errors) = split(self.admin(op).await?);
        match answer {
            AdminAnswer::Stopped(records) => {
                self.learn(&records, false);
                done(records.into_iter().map(|r| r.id).collect(), errors)
            }
            other => Err(unexpected(&other)),
        }
    }

    /// The nodes of the cluster.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, ClientError> {
        match self.admin(AdminOp::Nodes).await? {
            AdminAnswer::Nodes(n) => Ok(n.into_iter().map(Into::into).collect()),
            other => Err(unexpected(&other)),
        }
    }

    /// How many nodes the cluster has.
    pub async fn node_count(&self) -> Result<usize, ClientError> {
        Ok(self.nodes().await?.len())
    }

    /// The actor types the nodes offer, in `realm` or in every realm, with where each comes
    /// from and which nodes offer it: a code directory's types by version, so a rollout that
    /// reached only some nodes shows.
    pub async fn types(&self, realm: Option<&str>) -> Result<Vec<TypeInfo>, ClientError> {
        let realm = realm
            .map(Realm::new)
            .transpose()
            .map_err(|e| ClientError::Invalid(format!("realm: {e}")))?;
        match self.admin(AdminOp::Types { realm, actor_type: None }).await? {
            AdminAnswer::Types(t) => Ok(t.into_iter().map(Into::into).collect()),
            other => Err(unexpected(&other)),
        }
    }

    /// CPU and memory use of every node.
    pub async fn cluster_health(&self) -> Result<Vec<NodeHealth>, ClientError> {
        match self.admin(AdminOp::Health).await? {
            AdminAnswer::Health(h) => Ok(h.into_iter().map(Into::into).collect()),
            other => Err(unexpected(&other)),
        }
    }

    /// Load and statistics of every actor.
    pub async fn load_info(&self) -> Result<Vec<ActorLoad>, ClientError> {
        match self.admin(AdminOp::Load).await? {
            AdminAnswer::Load(l) => Ok(l.into_iter().map(Into::into).collect()),
            other => Err(unexpected(&other)),
        }
    }

    /// Metadata of every actor, per node, private parameters masked.
    pub async fn node_metadata(&self) -> Result<Vec<NodeMetadata>, ClientError> {
        match self.admin(AdminOp::Metadata).await? {
            AdminAnswer::Metadata(m) => Ok(m.into_iter().map(Into::into).collect()),
            other => Err(unexpected(&other)),
        }
    }

    /// Adds `category` to a live actor.
    pub async fn add_to_category(&self, id: &ActorId, category: &str) -> Result<(), ClientError> {
        let category = Category::new(category).map_err(|e| ClientError::Cluster(e.to_string()))?;
        self.recategorize(AdminOp::AddCategory { id: id.clone(), category }).await
    }

    /// Removes `category` from a live actor.
    pub async fn remove_from_category(
        &self,
        id: &ActorId,
        category: &str,
    ) -> Result<(), ClientError> {
        let category = Category::new(category).map_err(|e| ClientError::Cluster(e.to_string()))?;
        self.recategorize(AdminOp::RemoveCategory { id: id.clone(), category }).await
    }

    async fn recategorize(&self, op: AdminOp) -> Result<(), ClientError> {
        match self.admin(op).await? {
            AdminAnswer::Recategorized(r) => {
                self.learn(std::slice::from_ref(&r), true);
                Ok(())
            }
            other => Err(unexpected(&other)),
        }
    }

    /// A handle to the actors of this realm whose category starts with `category`; outside
    /// actors the default mode is `random`.
    pub fn handle(&self, category: &str) -> Handle {
        Handle::new(self.port(), self.realm.clone(), category, Mode::Random, None)
    }

    /// A group handle over the sub-categories one level below `root`.
    pub fn group(&self, root: &str) -> Group {
        Group::new(self.handle(root))
    }

    /// The context of actor `id`, described by `spec`, hosted outside any node (an isolated
    /// actor's process): its handles go through this client, in the spec's realm, and
    /// `stop_self` runs when the actor calls [`crate::actor::Context::stop_self`].
    pub fn actor_context(
        &self,
        id: ActorId,
        spec: &SpawnSpec,
        stop_self: impl Fn() + Send + Sync + 'static,
    ) -> crate::actor::Context {
        crate::actor::Context::new(crate::actor::ContextParts {
            id,
            realm: spec.realm.clone(),
            actor_type: spec.actor_type.clone(),
            params: spec.parameters.clone(),
            resources: spec.resources.clone(),
            ident: spec.ident.clone(),
            port: Arc::new(ClientPort::new(self.inner.clone(), Some(Arc::new(stop_self)))),
            stats: Default::default(),
            log_level: spec.log_level.clone(),
        })
    }

    /// Closes every connection; handles made from this client stop working.
    pub fn close(&self) {
        self.inner.links.close();
    }

    /// Fetches the directory from the entry node now and waits for it, every page of it (up
    /// to five seconds).
    pub async fn refresh(&self) {
        let updated = self.inner.view_updated.notified();
        futures::pin_mut!(updated);
        // Registered before asking, so an answer that beats us to the await still counts.
        updated.as_mut().enable();
        self.inner.request_view();
        let _ = timeout(&*self.inner.runtime, Duration::from_secs(5), updated).await;
    }

    fn port(&self) -> Arc<ClientPort> {
        Arc::new(ClientPort::new(self.inner.clone(), None))
    }

    fn learn(&self, records: &[ActorRecord], present: bool) {
        let mut view = self.inner.view.lock().expect("client lock");
        for r in records {
            view.learn(&r.id, present.then(|| r.entry.clone()), r.version);
        }
    }

    async fn admin(&self, op: AdminOp) -> Result<AdminAnswer, ClientError> {
        let entry = self.entry();
        let token = self.inner.options.admin_token.clone();
        // Spawns wait for init on every node: give them the request timeout and then some.
        let wait = self.inner.options.request_timeout + Duration::from_secs(5);
        self.inner.links.admin(&entry, token, op, wait).await.map_err(ClientError::Cluster)
    }
}

/// An answer and the failures of a [`AdminAnswer::Partial`] one.
fn split(answer: AdminAnswer) -> (AdminAnswer, Vec<String>) {
    match answer {
        AdminAnswer::Partial { done, errors } => (*done, errors),
        other => (other, Vec::new()),
    }
}

/// The actors done, or with failures a [`ClientError::Partial`] that names them too.
fn done(ids: Vec<ActorId>, errors: Vec<String>) -> Result<Vec<ActorId>, ClientError> {
    if errors.is_empty() { Ok(ids) } else { Err(ClientError::Partial { done: ids, errors }) }
}

fn unexpected(answer: &AdminAnswer) -> ClientError {
    ClientError::Protocol(format!("{answer:?}"))
}

/// A client dropped without [`Beach::close`] still closes its connections and stops its
/// tasks, once its last clone, handle and actor context are gone.
impl Drop for ClientInner {
    fn drop(&mut self) {
        self.links.close();
    }
}

impl ClientInner {
    fn request_view(&self) {
        let entry = self.entry.lock().expect("client lock").clone();
        let digest = self.view.lock().expect("client lock").digest();
        self.links.send(&entry, Envelope::ViewRequest(digest));
    }
}

impl Dispatch for ClientInner {
    fn dispatch(&self, envelope: Envelope, _reply: &Outbox, _from: &Remote) -> Result<(), String> {
        let Envelope::View { alive, partitions, more } = envelope else {
            return Err(format!("a node sent a client a {}", crate::link::kind_of(&envelope)));
        };
        {
            let mut view = self.view.lock().expect("client lock");
            let gone: Vec<NodeId> = view.alive().filter(|n| !alive.contains(n)).cloned().collect();
            for n in gone {
                view.node_down(&n);
            }
            for n in &alive {
                view.node_up(n);
            }
            for p in partitions {
                view.install(p);
            }
            drop(view);
            if more {
                // A page of a larger directory: the next, before anyone reads a partial view.
                self.request_view();
            } else {
                self.view_updated.notify_waiters();
            }
        }
        Ok(())
    }

    fn hello(&self) -> (String, Peer) {
        (self.options.cluster_name.clone(), Peer::Client { name: self.options.name.clone() })
    }

    fn link_lost(&self, endpoint: &Endpoint) {
        // The entry node is gone: move to another live node, or back to the seeds.
        let mut entry = self.entry.lock().expect("client lock");
        if *entry != *endpoint {
            return;
        }
        let view = self.view.lock().expect("client lock");
        let next = view
            .alive()
            .map(|n| n.endpoint().clone())
            .find(|e| e != endpoint)
            .or_else(|| self.options.seeds.iter().find(|s| *s != endpoint).cloned());
        if let Some(next) = next {
            *entry = next;
        }
    }
}
