//! The HTTP gateway (`http:` in `cluster.yaml`, or `beach-node --http ADDR`): JSON requests to
//! categories, the admin and read API of the CLI, py-beach's REST bridge, Prometheus metrics,
//! an OpenAPI description and the dashboard. Any node's gateway serves the whole cluster: it
//! calls through the node's own in-process client ([`Node::client`]), so a request is routed
//! exactly as one from a Rust client on that node.
//!
//! Who may call what: on a loopback address requests and reads are open and writes
//! need `admin_token` when one is set; beyond loopback every endpoint but `/healthz` and
//! `/readyz` needs a bearer token (`http_token` for requests and reads, `admin_token` for
//! writes), and the gateway refuses to start without them unless `insecure: true`.

mod admin;
mod auth;
mod bridge;
mod calls;
mod dashboard;
mod deploy;
mod error;
mod metrics;
mod openapi;
mod reads;
mod server;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use beach_core::client::Beach;
use beach_core::config::{ClusterConfig, HostPort};
use beach_core::node::Node;

pub use metrics::Metrics;

/// The longest a request through the gateway may ask to wait (`timeout`); the whole HTTP
/// exchange is cut a little after it.
const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a client has to send its request head before the connection is dropped.
const HEADER_WAIT: Duration = Duration::from_secs(10);
/// How many connections the gateway serves at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 4096;

/// Why the gateway did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// Listening beyond loopback without the tokens that protect it.
    #[error(
        "refusing to serve HTTP on {addr} without {missing}: anyone who can reach it could call actors{writes}; set them in cluster.yaml, listen on 127.0.0.1, or set `insecure: true` if everyone on this network is trusted"
    )]
    Unprotected {
        /// The gateway's address.
        addr: String,
        /// The missing settings.
        missing: String,
        /// What else they could do.
        writes: &'static str,
    },
    /// The address cannot be bound.
    #[error("cannot listen for HTTP on {addr}: {reason}")]
    Bind {
        /// The gateway's address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The node's own client could not be made.
    #[error("the gateway cannot reach its node: {0}")]
    Client(String),
}

/// What every handler reads: the node's client, who may call what, the metrics.
#[derive(Debug)]
pub(crate) struct Gateway {
    pub(crate) node: Node,
    pub(crate) client: Beach,
    pub(crate) access: auth::Access,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) dashboard: dashboard::History,
    pub(crate) config: ClusterConfig,
}

type State = axum::extract::State<Arc<Gateway>>;

/// A running gateway: it serves until its node stops.
#[derive(Debug)]
pub struct GatewayServer {
    addr: std::net::SocketAddr,
}

impl GatewayServer {
    /// The address it listens on (the port is known here when `http:` named port 0).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}

/// Checks that a gateway on `addr` would be protected (tokens beyond loopback, see the module
/// documentation) before its node starts: a node that cannot serve its gateway should not
/// join and leave at once.
pub fn check(config: &ClusterConfig, addr: &HostPort) -> Result<(), GatewayError> {
    auth::Access::for_address(addr, config).map(|_| ())
}

/// Starts the gateway of `node` on `addr`, checking first that it is protected (see
/// [`check`]). It serves until the node stops.
pub async fn start(
    node: &Node,
    config: &ClusterConfig,
    addr: &HostPort,
) -> Result<GatewayServer, GatewayError> {
    let access = auth::Access::for_address(addr, config)?;
    let listener = tokio::net::TcpListener::bind((addr.host.as_str(), addr.port))
        .await
        .map_err(|e| GatewayError::Bind { addr: addr.to_string(), reason: e.to_string() })?;
    let local = listener
        .local_addr()
        .map_err(|e| GatewayError::Bind { addr: addr.to_string(), reason: e.to_string() })?;
    let client = node.client().await.map_err(|e| GatewayError::Client(e.to_string()))?;
    let metrics = Arc::new(Metrics::new());
    if !node.observe_routes(metrics.clone()) {
        tracing::warn!(
            "the node's requests are counted elsewhere already: /metrics will not show the requests it routes"
        );
    }
    let gateway = Arc::new(Gateway {
        node: node.clone(),
        client,
        access,
        metrics,
        dashboard: dashboard::History::default(),
        config: config.clone(),
    });
    dashboard::start_sampling(&gateway);
    let app = router(gateway.clone(), config.max_frame_size);
    tracing::info!(http = %local, "HTTP gateway listening");
    tokio::spawn(server::serve(listener, app, node.clone()));
    Ok(GatewayServer { addr: local })
}

/// Every route: the API, the bridge, metrics, health, the dashboard.
fn router(gateway: Arc<Gateway>, body_limit: usize) -> Router {
    Router::new()
        .route("/v1/request", post(calls::request))
        .route("/v1/shoot", post(calls::shoot))
        .route("/v1/broadcast", post(calls::broadcast))
        .route("/v1/group", post(calls::group))
        .route("/v1/nodes", get(reads::nodes))
        .route("/v1/directory", get(reads::directory))
        .route("/v1/types", get(reads::types))
        .route("/v1/load", get(reads::load))
        .route("/v1/health", get(reads::health))
        .route("/v1/metadata", get(reads::metadata))
        .route("/v1/spawn", post(admin::spawn))
        .route("/v1/stop", post(admin::stop))
        .route("/v1/flush", post(admin::flush))
        .route("/v1/categorize", post(admin::categorize))
        .route("/v1/uncategorize", post(admin::uncategorize))
        .route("/v1/deployments", get(deploy::status).post(deploy::apply))
        .route("/v1/deployments/{name}", axum::routing::delete(deploy::delete))
        .route("/v1/deployments/{name}/restart", post(deploy::restart))
        .route("/v1/drain", post(deploy::drain))
        .route("/v1/openapi.json", get(openapi::document))
        .route("/bridge/{*category}", post(bridge::call).get(bridge::call))
        .route("/metrics", get(metrics::scrape))
        .route("/healthz", get(reads::healthz))
        .route("/readyz", get(reads::readyz))
        .route("/", get(dashboard::page))
        .route("/v1/events", get(dashboard::events))
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            MAX_TIMEOUT + Duration::from_secs(10),
        ))
        .with_state(gateway)
}
