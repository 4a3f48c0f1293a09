//! How a program connects: [`ClientBuilder`], with the cluster's settings, its seeds, a realm,
//! credentials, and the transport and runtime to use.

use std::sync::Arc;
use std::time::Duration;

use super::{Beach, ClientError, ClientOptions};
use crate::auth::{ClientKey, Credentials, Secret};
use crate::config::ClusterConfig;
use crate::model::{Endpoint, Realm};
use crate::runtime::Runtime;
use crate::transport::{MakeTransport, Transport, TransportChoice};

/// Settings for a connection to a cluster; [`ClientBuilder::connect`] makes the [`Beach`].
///
/// Everything has a default but the seeds: the settings of an empty `cluster.yaml`, the
/// `global` realm, the tokio runtime (with `beach-core`'s `rt-tokio` feature) and a random
/// seed for the client's choices drawn from the runtime (the operating system's randomness
/// outside a simulation). The transport has no default here, since `beach-core` knows none:
/// the `beach` crate's `Beach::builder()` starts from TCP.
///
/// ```no_run
/// # async fn f(transport: std::sync::Arc<dyn beach_core::transport::Transport>) -> Result<(), beach_core::client::ClientError> {
/// use std::time::Duration;
/// use beach_core::client::ClientBuilder;
///
/// let client = ClientBuilder::new()
///     .seed("10.0.0.1:4999")
///     .realm("shop")
///     .request_timeout(Duration::from_secs(2))
///     .transport(transport)
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    seeds: Vec<String>,
    config: ClusterConfig,
    realm: String,
    key: Option<ClientKey>,
    name: String,
    through_entry: bool,
    rng_seed: Option<u64>,
    transport: TransportChoice,
    runtime: Option<Arc<dyn Runtime>>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientBuilder {
    /// A builder with every default and no seed.
    pub fn new() -> Self {
        Self {
            seeds: Vec::new(),
            config: ClusterConfig::default(),
            realm: Realm::global().to_string(),
            key: None,
            name: "client".to_owned(),
            through_entry: false,
            rng_seed: None,
            transport: TransportChoice::Unset,
            runtime: None,
        }
    }

    /// Adds a node to try (`host:port`); any node of the cluster works as entry, and the
    /// seeds are tried in the order given.
    pub fn seed(mut self, endpoint: impl Into<String>) -> Self {
        self.seeds.push(endpoint.into());
        self
    }

    /// Adds several seeds.
    pub fn seeds<S: Into<String>>(mut self, endpoints: impl IntoIterator<Item = S>) -> Self {
        self.seeds.extend(endpoints.into_iter().map(Into::into));
        self
    }

    /// Takes the cluster's settings from its configuration: name, admin token, timeouts, frame
    /// limit, and its seeds when none are given. A configuration with a `secret_file` needs
    /// its key given too ([`ClientBuilder::client_key`]; `beach_node::files::read_key_file`
    /// reads it): this crate does no file I/O.
    pub fn config(mut self, config: &ClusterConfig) -> Self {
        self.config = config.clone();
        self
    }

    /// The realm to work in (default `global`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// The cluster's client key (from `beach gen-key --client`).
    pub fn client_key(mut self, key: ClientKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The cluster secret itself: the client proves the client key derived from it, never
    /// the secret.
    pub fn secret(self, secret: &Secret) -> Self {
        self.client_key(secret.client_key())
    }

    /// The admin token, for spawns, stops and the other admin calls.
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.config.admin_token = Some(token.into());
        self
    }

    /// The default request timeout of this client's handles.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout_default = timeout;
        self
    }

    /// How often the client's copy of the directory is refreshed.
    pub fn sync_interval(mut self, every: Duration) -> Self {
        self.config.sync_interval = every;
        self
    }

    /// A name for the nodes' logs.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sends every request to the entry node, which carries it on to the node hosting its
    /// actor, instead of connecting to that node: for an isolated actor's process, whose only
    /// connection is the socket its node gave it (nodes relay only for those).
    pub fn through_entry(mut self) -> Self {
        self.through_entry = true;
        self
    }

    /// A fixed seed for the client's random choices, for reproducible simulations; by default
    /// one is drawn from the runtime.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = Some(seed);
        self
    }

    /// The transport to connect with, made already (an in-memory network's, for instance).
    /// Its credentials are its own: a TCP transport for a cluster with a secret needs
    /// [`ClientBuilder::transport_with`], which hands it the client's.
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = TransportChoice::Given(transport);
        self
    }

    /// The transport to connect with, made from the client's credentials and frame limit
    /// when connecting (`TcpTransport::make`).
    pub fn transport_with(mut self, make: MakeTransport) -> Self {
        self.transport = TransportChoice::Make(make);
        self
    }

    /// The async runtime to run on (default tokio).
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Connects to the first seed that answers and loads the directory.
    pub async fn connect(self) -> Result<Beach, ClientError> {
        let invalid = |what: String| ClientError::Invalid(what);
        let realm: Realm =
            self.realm.parse().map_err(|e| invalid(format!("realm {:?}: {e}", self.realm)))?;
        let seeds: Vec<Endpoint> = if self.seeds.is_empty() {
            self.config
                .seed_nodes
                .iter()
                .map(|s| Endpoint::new(s.to_string()))
                .collect::<Result<_, _>>()
                .map_err(|e| invalid(format!("seed: {e}")))?
        } else {
            self.seeds
                .iter()
                .map(|s| Endpoint::new(s.as_str()).map_err(|e| invalid(format!("seed {s:?}: {e}"))))
                .collect::<Result<_, _>>()?
        };
        if seeds.is_empty() {
            return Err(invalid("no seed: name at least one node to connect to".to_owned()));
        }
        if self.key.is_none()
            && let Some(path) = &self.config.secret_file
        {
            return Err(invalid(format!(
                "the configuration names secret_file {} but no key was given: read it (beach_node::files::read_key_file) and pass .client_key(..); beach-core reads no files",
                path.display()
            )));
        }
        let key = self.key;
        let runtime = crate::runtime::given_or_default(self.runtime).map_err(invalid)?;
        let credentials = key.clone().map(Credentials::Client);
        let transport = self
            .transport
            .resolve(credentials.as_ref(), &self.config, "Beach::builder()")
            .map_err(invalid)?;
        let rng_seed = self.rng_seed.unwrap_or_else(|| crate::runtime::random_u64(&*runtime));
        let options = ClientOptions {
            seeds,
            cluster_name: self.config.cluster_name.clone(),
            admin_token: self.config.admin_token.clone(),
            request_timeout: self.config.request_timeout_default,
            sync_interval: self.config.sync_interval,
            rng_seed,
            name: self.name,
            client_key: key,
            through_entry: self.through_entry,
        };
        Beach::connect_with(options, realm, transport, runtime).await
    }
}
