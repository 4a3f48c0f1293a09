//! How a program starts a node: [`NodeBuilder`], with the cluster's settings, where to listen,
//! the actor types it offers, and the transport and runtime to use.

use std::sync::Arc;

use super::{Node, NodeError, NodeOptions, Observer};
use crate::actor::{Isolation, Registry, TypeSource};
use crate::auth::{Credentials, Secret};
use crate::config::ClusterConfig;
use crate::model::Endpoint;
use crate::runtime::Runtime;
use crate::transport::{MakeTransport, Transport, TransportChoice};

/// Settings for a node; [`NodeBuilder::start`] starts it.
///
/// Defaults: the settings of an empty `cluster.yaml` (listen on its `listen`, join its
/// `seed_nodes`; its `secret_file` is read by the caller and given to
/// [`NodeBuilder::secrets`]), no actor types, the tokio runtime (with
/// `beach-core`'s `rt-tokio` feature), a generation from the runtime's wall clock (so a
/// restarted node is newer than its last run), and a random seed drawn from the runtime. The
/// transport has no default here: the `beach` crate's `Node::builder()` starts from TCP.
///
/// ```no_run
/// # async fn f(transport: std::sync::Arc<dyn beach_core::transport::Transport>) -> Result<(), Box<dyn std::error::Error>> {
/// use beach_core::actor::Registry;
/// use beach_core::node::NodeBuilder;
///
/// let node = NodeBuilder::new()
///     .listen("127.0.0.1:4999")
///     .seed("127.0.0.1:5000")
///     .registry(Registry::new())
///     .transport(transport)
///     .start()
///     .await?;
/// let client = node.client().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct NodeBuilder {
    config: ClusterConfig,
    listen: Option<String>,
    advertise: Option<String>,
    seeds: Vec<String>,
    generation: Option<u64>,
    rng_seed: Option<u64>,
    secrets: Option<Vec<Secret>>,
    registry: Registry,
    observer: Option<Observer>,
    isolation: Option<Arc<dyn Isolation>>,
    type_source: Option<Arc<dyn TypeSource>>,
    deploy_store: Option<Arc<dyn crate::deploy::DeployStore>>,
    transport: TransportChoice,
    runtime: Option<Arc<dyn Runtime>>,
}

impl Default for NodeBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeBuilder {
    /// A builder with every default.
    pub fn new() -> Self {
        Self {
            config: ClusterConfig::default(),
            listen: None,
            advertise: None,
            seeds: Vec::new(),
            generation: None,
            rng_seed: None,
            secrets: None,
            registry: Registry::new(),
            observer: None,
            isolation: None,
            type_source: None,
            deploy_store: None,
            transport: TransportChoice::Unset,
            runtime: None,
        }
    }

    /// Takes the cluster's settings from its configuration: name, admin token, timings,
    /// limits, realms, and where to listen and the seeds unless set here.
    pub fn config(mut self, config: &ClusterConfig) -> Self {
        self.config = config.clone();
        self
    }

    /// Where to listen (`host:port`; port 0 picks a free one).
    pub fn listen(mut self, endpoint: impl Into<String>) -> Self {
        self.listen = Some(endpoint.into());
        self
    }

    /// What peers should dial, when not the listen address (behind NAT, listening on all
    /// interfaces). A port of 0 stands for the port actually bound.
    pub fn advertise(mut self, endpoint: impl Into<String>) -> Self {
        self.advertise = Some(endpoint.into());
        self
    }

    /// Adds a node to join through; by default the configuration's `seed_nodes`.
    pub fn seed(mut self, endpoint: impl Into<String>) -> Self {
        self.seeds.push(endpoint.into());
        self
    }

    /// Adds several seeds.
    pub fn seeds<S: Into<String>>(mut self, endpoints: impl IntoIterator<Item = S>) -> Self {
        self.seeds.extend(endpoints.into_iter().map(Into::into));
        self
    }

    /// The actor types this node offers (registries merge: [`Registry::merge`]).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// The cluster secret: peers must prove it, clients its client key.
    pub fn secret(self, secret: Secret) -> Self {
        self.secrets(vec![secret])
    }

    /// Several secrets, during a rotation: this node connects with the first and accepts
    /// any. Empty: the cluster trusts its network.
    pub fn secrets(mut self, secrets: Vec<Secret>) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// This start's generation (not 0): a restart must use a larger one. By default the
    /// runtime's wall clock in microseconds.
    pub fn generation(mut self, generation: u64) -> Self {
        self.generation = Some(generation);
        self
    }

    /// A fixed seed for the node's placement and routing choices, for reproducible
    /// simulations; by default one is drawn from the runtime.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = Some(seed);
        self
    }

    /// Receives a line for each notable event (membership, spawns, stops).
    pub fn observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Runs isolated actors; without it isolated spawns are refused.
    pub fn isolation(mut self, isolation: Arc<dyn Isolation>) -> Self {
        self.isolation = Some(isolation);
        self
    }

    /// Where the node keeps the deployments across restarts of the whole cluster (see
    /// [`crate::deploy::DeployStore`]); the node loads them at start.
    pub fn deploy_store(mut self, store: Arc<dyn crate::deploy::DeployStore>) -> Self {
        self.deploy_store = Some(store);
        self
    }

    /// Offers the actor types of `source` (a code directory's programs) beside the registry's.
    pub fn type_source(mut self, source: Arc<dyn TypeSource>) -> Self {
        self.type_source = Some(source);
        self
    }

    /// The transport to listen and connect with, made already (an in-memory network's).
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = TransportChoice::Given(transport);
        self
    }

    /// The transport, made from the node's credentials and frame limit when starting
    /// (`TcpTransport::make`).
    pub fn transport_with(mut self, make: MakeTransport) -> Self {
        self.transport = TransportChoice::Make(make);
        self
    }

    /// The async runtime to run on (default tokio).
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Binds, joins through the seeds, and starts serving.
    pub async fn start(self) -> Result<Node, NodeError> {
        let invalid = NodeError::Invalid;
        let endpoint = |what: &str, s: String| {
            Endpoint::new(s.as_str()).map_err(|e| invalid(format!("{what} {s:?}: {e}")))
        };
        let listen =
            endpoint("listen", self.listen.unwrap_or_else(|| self.config.listen.to_string()))?;
        let advertise = self.advertise.map(|a| endpoint("advertise", a)).transpose()?;
        let seeds = if self.seeds.is_empty() {
            self.config.seed_nodes.iter().map(|s| endpoint("seed", s.to_string())).collect()
        } else {
            self.seeds.into_iter().map(|s| endpoint("seed", s)).collect::<Result<Vec<_>, _>>()
        }?;
        let secrets = match self.secrets {
            Some(s) => s,
            None if self.config.secret_file.is_some() => {
                return Err(invalid(
                    "the configuration names secret_file but no secret was given: read them (beach_node::files::read_secrets) and pass .secrets(..); beach-core reads no files".to_owned(),
                ));
            }
            None => Vec::new(),
        };
        let runtime = crate::runtime::given_or_default(self.runtime).map_err(invalid)?;
        let transport = self
            .transport
            .resolve(Credentials::node(secrets.clone()).as_ref(), &self.config, "Node::builder()")
            .map_err(invalid)?;
        // Node::client reaches other nodes proving the client key, over a transport made for
        // it; a transport given made (a simulation's) carries both.
        let client_transport = match &self.transport {
            TransportChoice::Make(make) => {
                let client = secrets.first().map(|s| Credentials::Client(s.client_key()));
                Some(make(client.as_ref(), &self.config))
            }
            _ => None,
        };
        let generation = match self.generation {
            Some(0) => return Err(invalid("generation must not be 0".to_owned())),
            Some(g) => g,
            None => {
                let since = runtime.system_time().duration_since(std::time::UNIX_EPOCH);
                u64::try_from(since.unwrap_or_default().as_micros()).unwrap_or(u64::MAX).max(1)
            }
        };
        let rng_seed = self.rng_seed.unwrap_or_else(|| crate::runtime::random_u64(&*runtime));
        let options = NodeOptions {
            config: self.config,
            listen,
            advertise,
            seeds,
            generation,
            rng_seed,
            secrets,
            observer: self.observer,
            isolation: self.isolation,
            type_source: self.type_source,
            deploy_store: self.deploy_store,
            client_transport,
        };
        Node::start_with(options, self.registry, transport, runtime).await
    }
}
