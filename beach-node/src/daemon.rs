//! Running a node from a configuration: the library entry point behind `beach-node`, for
//! node binaries with their own actors registered.
//!
//! ```no_run
//! use beach_node::{actors::builtin_registry, daemon, isolation};
//! use beach_core::config::ClusterConfig;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), daemon::DaemonError> {
//!     let registry = builtin_registry(); // .with::<MyActor>("MyActor")
//!     // An isolated actor's process is this program again, in host mode.
//!     if isolation::host_if_requested_async(&registry).await.is_some() {
//!         return Ok(());
//!     }
//!     let config = beach_node::files::load_config("cluster.yaml".as_ref())?;
//!     daemon::run(config, daemon::Overrides::default(), registry).await
//! }
//! ```
//!
//! A program that forgets the host call still works: [`start`] in a process launched to host
//! an isolated actor hosts it with `registry` and exits, rather than starting another node
//! that would spawn copies of the program without end.

use std::net::{IpAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use beach_core::actor::Registry;
use beach_core::config::{ClusterConfig, ConfigError, HostPort};
use beach_core::node::{Node, NodeBuilder, NodeError};
use beach_transport_tcp::TcpTransport;

use crate::code::CodeDirectory;
use crate::files;
use crate::health::LoadSampler;
use crate::isolation::ProcessIsolation;

/// Command-line values that take precedence over the configuration file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`: where to listen.
    pub listen: Option<String>,
    /// `--advertise`: what peers should dial.
    pub advertise: Option<String>,
    /// `--http`: where to serve the HTTP gateway.
    pub http: Option<String>,
    /// `--state-dir`: where to keep what must outlive the process.
    pub state_dir: Option<std::path::PathBuf>,
}

/// Why a node could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The configuration is missing, unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An address given on the command line or in the configuration is not usable.
    #[error("{0}")]
    Address(String),
    /// The node could not start (the port is taken, ...).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// Isolated actors cannot be prepared (no executable path, no temporary folder).
    #[error("cannot prepare isolated actors: {0}")]
    Isolation(String),
    /// The HTTP gateway cannot start (unprotected beyond loopback, its port taken).
    #[error(transparent)]
    Gateway(#[from] crate::gateway::GatewayError),
    /// The state directory cannot be used (not creatable, a damaged state file).
    #[error("{0}")]
    State(String),
    /// Protected mode: a node without a secret would listen beyond loopback.
    #[error(
        "refusing to listen on {0} without a cluster secret: anyone who can reach it could run actors and read every request; set secret_file (make one with `beach gen-key FILE`), listen on 127.0.0.1, or set `insecure: true` if everyone on this network is trusted"
    )]
    Unprotected(String),
}

/// How often CPU and memory use are sampled for placement and `health`.
const LOAD_SAMPLE: Duration = Duration::from_secs(2);

/// Starts a node as `config` says (with `overrides`), serving the actor types of `registry`.
///
/// In a process that a node launched to host an isolated actor, this hosts the actor with
/// `registry` instead, and exits the process when the actor stops: see
/// [`crate::isolation::host_if_requested`].
pub async fn start(
    config: ClusterConfig,
    overrides: Overrides,
    registry: Registry,
) -> Result<Node, DaemonError> {
    crate::isolation::host_and_exit_if_requested(&registry).await;
    let listen = match &overrides.listen {
        Some(l) => HostPort::parse_bind(l, config.port)
            .map_err(|e| DaemonError::Address(format!("--listen {e}")))?,
        None => config.listen.clone(),
    };
    let advertise = match (&overrides.advertise, &config.advertise) {
        (Some(a), _) => HostPort::parse(a, listen.port)
            .map_err(|e| DaemonError::Address(format!("--advertise {e}")))?,
        (None, Some(a)) => a.clone(),
        (None, None) => advertised_for(&listen, &config)?,
    };
    let http = match &overrides.http {
        Some(h) => Some(
            HostPort::parse(h, 0)
                .ok()
                .filter(|_| h.contains(':'))
                .ok_or_else(|| DaemonError::Address(format!("--http {h:?}: expected host:port")))?,
        ),
        None => config.http.clone(),
    };
    if let Some(addr) = &http {
        crate::gateway::check(&config, addr)?;
    }
    let secrets = files::read_secrets(&config)?;
    if secrets.is_empty() && !config.insecure && !listen.is_loopback() {
        return Err(DaemonError::Unprotected(listen.to_string()));
    }
    for path in config.secret_file.iter().chain(&config.accepted_secret_files) {
        files::warn_if_readable_by_others(path, "the cluster secret");
    }
    let isolation = Arc::new(
        ProcessIsolation::new(&config).map_err(|e| DaemonError::Isolation(e.to_string()))?,
    );
    let code = CodeDirectory::new(&config)
        .map_err(|e| DaemonError::Isolation(format!("code directory: {e}")))?;
    let mut builder = NodeBuilder::new()
        .config(&config)
        .listen(listen.to_string())
        .advertise(advertise.to_string())
        .secrets(secrets)
        .isolation(isolation.clone())
        .registry(registry)
        .transport_with(TcpTransport::make);
    if let Some(code) = &code {
        builder = builder.type_source(code.clone());
    }
    if let Some(dir) = overrides.state_dir.as_ref().or(config.state_dir.as_ref()) {
        if advertise.port == 0 {
            tracing::warn!(
                "state_dir with port 0: the next start has another address, and another state file"
            );
        }
        let store = crate::state_dir::FileDeployStore::open(dir, &advertise.to_string())
            .map_err(DaemonError::State)?;
        tracing::info!(file = %store.path().display(), "deployments kept in the state directory");
        builder = builder.deploy_store(Arc::new(store));
    }
    let node = builder.start().await?;
    isolation.set_node(node.id().endpoint().clone());
    if let Some(code) = &code {
        code.set_node(node.id().endpoint().clone());
        code.watch_deployments(node.clone(), config.sync_interval);
    }
    tracing::info!(node = %node.id(), cluster = %config.cluster_name, "node started");
    if let Some(addr) = &http
        && let Err(e) = crate::gateway::start(&node, &config, addr).await
    {
        node.shutdown().await;
        return Err(e.into());
    }
    let sampled = node.clone();
    tokio::spawn(async move {
        let mut sampler = LoadSampler::new();
        while !sampled.is_stopped() {
            tokio::time::sleep(LOAD_SAMPLE).await;
            let (cpu, memory) = sampler.sample();
            sampled.set_load(cpu, memory);
        }
    });
    Ok(node)
}

/// Starts a node and runs it until SIGTERM or SIGINT, then stops it gracefully: actors drain,
/// peers are told it leaves.
pub async fn run(
    config: ClusterConfig,
    overrides: Overrides,
    registry: Registry,
) -> Result<(), DaemonError> {
    let node = start(config, overrides, registry).await?;
    shutdown_signal().await;
    tracing::info!(node = %node.id(), "stopping: draining actors and leaving the cluster");
    node.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    biased;
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The address to advertise when none is configured: the listen address itself, unless it is
/// a wildcard (`0.0.0.0`, `::`), in which case the local address that routes towards the first
/// seed (found without sending anything), or loopback for a node without seeds.
fn advertised_for(listen: &HostPort, config: &ClusterConfig) -> Result<HostPort, DaemonError> {
    let wildcard = listen.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified());
    if !wildcard {
        return Ok(listen.clone());
    }
    let Some(seed) = config.seed_nodes.first() else {
        tracing::warn!(
            "listening on all interfaces without seeds: advertising 127.0.0.1 (set advertise)"
        );
        return Ok(HostPort { host: "127.0.0.1".to_owned(), port: listen.port });
    };
    let probe = || -> std::io::Result<IpAddr> {
        let socket = UdpSocket::bind("0.0.0.0:0")?;
        socket.connect((seed.host.as_str(), seed.port))?;
        Ok(socket.local_addr()?.ip())
    };
    match probe() {
        Ok(ip) => Ok(HostPort { host: ip.to_string(), port: listen.port }),
        Err(e) => Err(DaemonError::Address(format!(
            "listening on {listen}: cannot tell which address peers should dial (no route to seed {seed}: {e}); set advertise"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str, insecure: bool) -> ClusterConfig {
        ClusterConfig {
            listen: HostPort::parse_bind(listen, 0).unwrap(),
            insecure,
            ..ClusterConfig::default()
        }
    }

    #[tokio::test]
    async fn protected_mode_refuses_open_addresses_without_a_secret() {
        let registry = crate::actors::builtin_registry;
        let err = start(config("0.0.0.0:0", false), Overrides::default(), registry())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("refusing to listen on 0.0.0.0:0 without a cluster secret"), "{err}");
        assert!(err.contains("insecure: true") && err.contains("secret_file"), "{err}");
        for (listen, insecure) in [("127.0.0.1:0", false), ("0.0.0.0:0", true)] {
            let node = start(config(listen, insecure), Overrides::default(), registry()).await;
            node.unwrap_or_else(|e| panic!("{listen}: {e}")).kill();
        }
        let is_loopback = |host: &str| HostPort { host: host.to_owned(), port: 1 }.is_loopback();
        assert!(is_loopback("localhost") && is_loopback("::1") && is_loopback("127.3.4.5"));
        assert!(!is_loopback("10.0.0.1") && !is_loopback("example.org") && !is_loopback("::"));
    }
}
