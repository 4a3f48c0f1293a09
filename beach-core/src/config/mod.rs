//! `cluster.yaml`: the one file every node of a cluster is started with.
//!
//! Every key is optional (a lone node needs none); a multi-node cluster names its
//! `seed_nodes`. Durations are written like `"30s"`, `"500ms"` or `"1m 30s"`, sizes like
//! `16777216`, `"64KiB"` or `"16MiB"`. Paths are relative to the file's folder. Unknown keys and
//! bad values are errors that name the file and the key.
//!
//! ```
//! use std::time::Duration;
//! use beach_core::config::ClusterConfig;
//!
//! let config = ClusterConfig::from_yaml_str(
//!     "cluster_name: lab\nseed_nodes: [node1, 'node2:5000']\nsync_interval: 500ms\n",
//!     "cluster.yaml",
//!     "/etc/beach".as_ref(),
//! ).unwrap();
//! assert_eq!(config.seed_nodes[0].to_string(), "node1:4999");
//! assert_eq!(config.sync_interval, Duration::from_millis(500));
//!
//! let err = ClusterConfig::from_yaml_str("sync_intervall: 1s\n", "cluster.yaml", "/".as_ref()).unwrap_err();
//! assert!(err.to_string().contains("sync_intervall"));
//! ```

mod raw;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::auth::{KeyFile, Secret};
use crate::model::{ActorType, Realm};
use crate::wire::DEFAULT_MAX_FRAME_SIZE;

/// The port a node listens on when none is configured.
pub const DEFAULT_PORT: u16 = 4999;

/// The size of a cluster secret, in bytes.
pub const SECRET_LEN: usize = 32;

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {message}")]
    Read {
        /// The file.
        file: String,
        /// The operating system's reason.
        message: String,
    },
    /// The file is not YAML of the expected shape (unknown keys, wrong types); the message
    /// names the key and the line.
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// A key has a value that is not allowed.
    #[error("{file}: {key}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The key, dotted for nested keys (`log.level`).
        key: String,
        /// What is wrong and what is expected.
        message: String,
    },
}

/// A `host:port` address as written in the configuration. The host stays a name: it is
/// resolved (and re-resolved on retry) by the transport.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPort {
    /// A host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The port.
    pub port: u16,
}

impl HostPort {
    /// Whether the host only accepts connections from this machine: `localhost`, `127.x.y.z`,
    /// `::1`. Protected mode and the HTTP gateway ask more of an address that is not.
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self
                .host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`, using `default_port` when none is
    /// written. A bare IPv6 address without brackets is taken as a host without port.
    pub fn parse(text: &str, default_port: u16) -> Result<Self, String> {
        Self::parse_port_range(text, default_port, 1)
    }

    /// Like [`HostPort::parse`], but port 0 is allowed: for an address to listen on, where
    /// 0 means "any free port".
    pub fn parse_bind(text: &str, default_port: u16) -> Result<Self, String> {
        Self::parse_port_range(text, default_port, 0)
    }

    fn parse_port_range(text: &str, default_port: u16, lowest: u16) -> Result<Self, String> {
        let text = text.trim();
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) =
                rest.split_once(']').ok_or_else(|| format!("{text:?}: missing ']'"))?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| format!("{text:?}: expected ':' after ']'"))?,
                    ),
                ),
            }
        } else {
            match text.matches(':').count() {
                0 => (text, None),
                1 => text.split_once(':').map(|(h, p)| (h, Some(p))).expect("one colon"),
                _ => (text, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{text:?}: empty host"));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control() || "/#@".contains(c)) {
            return Err(format!("{text:?}: host contains a character not allowed in a host name"));
        }
        let port = match port {
            None => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p >= lowest => p,
                _ => return Err(format!("{text:?}: port must be a number from {lowest} to 65535")),
            },
        };
        Ok(Self { host: host.to_owned(), port })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for HostPort {
    type Err = String;
    /// Parses with [`DEFAULT_PORT`] as the default port.
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s, DEFAULT_PORT)
    }
}

/// What a realm offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RealmConfig {
    /// The actor types that may be spawned in the realm; `None` allows every registered type.
    pub actors: Option<BTreeSet<ActorType>>,
}

/// The log output's format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The format.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".to_owned(), format: LogFormat::Text }
    }
}

/// A validated `cluster.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// The cluster's name; nodes and clients of another cluster are refused.
    pub cluster_name: String,
    /// The nodes a starting node announces itself to.
    pub seed_nodes: Vec<HostPort>,
    /// The address to listen on; by default all interfaces at `port`.
    pub listen: HostPort,
    /// The address peers should use for this node, when it differs from `listen` (behind NAT,
    /// or when listening on all interfaces).
    pub advertise: Option<HostPort>,
    /// The default port, for `listen` and for seeds written without one.
    pub port: u16,
    /// The folder that holds one sub-folder of actor code per realm (relative to the
    /// configuration file): `<dir>/<realm>/<Type>.py` is a Python actor, `<dir>/<realm>/<Type>`
    /// with the run bit an actor in any language (docs/actor-protocol.md).
    pub code_directory: Option<PathBuf>,
    /// Where the node keeps what must outlive it (relative to the configuration file): the
    /// deployments, so they survive a restart of the whole cluster. `None`: kept in memory
    /// only (every node holds them, so they survive the restart of any one node).
    pub state_dir: Option<PathBuf>,
    /// The interpreter that runs the code directory's Python actors (`python: python3`).
    pub python: String,
    /// How long a code directory actor's `init` may take before its spawn fails
    /// (`actor_init_timeout: 30s`).
    pub actor_init_timeout: Duration,
    /// The realms offered and what each allows; empty means every realm allows every type.
    pub realms: BTreeMap<Realm, RealmConfig>,
    /// The file holding the cluster secret (32 bytes) a node offers, or a client's key:
    /// `secret_file`, or the first of `secret_files`.
    pub secret_file: Option<PathBuf>,
    /// The rest of `secret_files`: further secrets a node accepts from its peers and their
    /// clients while a secret is rotated.
    pub accepted_secret_files: Vec<PathBuf>,
    /// The token admin calls must carry.
    pub admin_token: Option<String>,
    /// Lets a node without `secret_file` listen on an address other than loopback (protected
    /// mode is off): only for a network where everyone who can reach the port is trusted.
    pub insecure: bool,
    /// Reading actors' metadata (parameters, resources, idents) needs the admin token too.
    pub metadata_needs_token: bool,
    /// A fraction of the machine's memory (`0.9`): above it a node drains its oldest
    /// drainable actor every sync period (deployments replace theirs elsewhere) and new
    /// deployment replicas go elsewhere (py-beach's `high_mem_watermark`). `None`: no limit.
    pub high_mem_watermark: Option<f64>,
    /// The HTTP gateway's listen address; no gateway when absent.
    pub http: Option<HostPort>,
    /// The bearer token requests and reads through the HTTP gateway need when it is set
    /// (beyond loopback it must be, with `admin_token` for writes).
    pub http_token: Option<String>,
    /// How often a node runs a directory anti-entropy exchange.
    pub sync_interval: Duration,
    /// How often membership probes a random member.
    pub probe_interval: Duration,
    /// How long a suspected member has to refute before it is declared down.
    pub suspect_timeout: Duration,
    /// A connection between two nodes over which nothing travelled for this long, and on
    /// which nobody waits for an answer, is closed with a close handshake that loses nothing
    /// (`link_idle: 60s`). A node of a large cluster then keeps connections to the peers it
    /// talks to, not to every member; one it needs again is reopened (a handshake). Default
    /// 60 s: a probe or sync exchange reaches each peer of a cluster of up to about a hundred
    /// nodes more often than that, so their connections stay.
    pub link_idle: Duration,
    /// A request's timeout when the caller names none.
    pub request_timeout_default: Duration,
    /// The largest frame accepted, in bytes.
    pub max_frame_size: usize,
    /// How long a TCP connection's reader polls for more before it sleeps (`tcp_spin: 50us`):
    /// a request/response exchange then avoids a thread wake-up on each side (on two cores,
    /// p50 80 µs → 15 µs), for up to that much CPU per message on a quiet connection. Zero,
    /// the default: sleep at once.
    pub tcp_spin: Duration,
    /// How many requests may wait for an actor with a concurrency limit, or run at once on
    /// one without, before `queue full` is answered (and one-way messages are dropped).
    pub actor_queue_limit: usize,
    /// Logging.
    pub log: LogConfig,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            cluster_name: "beach".to_owned(),
            seed_nodes: Vec::new(),
            listen: HostPort { host: "0.0.0.0".to_owned(), port: DEFAULT_PORT },
            advertise: None,
            port: DEFAULT_PORT,
            code_directory: None,
            state_dir: None,
            python: "python3".to_owned(),
            actor_init_timeout: Duration::from_secs(30),
            realms: BTreeMap::new(),
            secret_file: None,
            accepted_secret_files: Vec::new(),
            admin_token: None,
            insecure: false,
            metadata_needs_token: false,
            high_mem_watermark: None,
            http: None,
            http_token: None,
            sync_interval: Duration::from_secs(1),
            probe_interval: Duration::from_secs(1),
            suspect_timeout: Duration::from_secs(3),
            link_idle: Duration::from_secs(60),
            request_timeout_default: Duration::from_secs(30),
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            tcp_spin: Duration::ZERO,
            actor_queue_limit: 1000,
            log: LogConfig::default(),
        }
    }
}

impl ClusterConfig {
    /// Parses and validates YAML text; `file` names it in errors and relative paths resolve
    /// against `base`.
    pub fn from_yaml_str(text: &str, file: &str, base: &Path) -> Result<Self, ConfigError> {
        raw::parse(text, file, base)
    }

    /// Whether `realm` may host actors of type `actor_type`.
    pub fn allows(&self, realm: &Realm, actor_type: &ActorType) -> bool {
        if self.realms.is_empty() {
            return true;
        }
        match self.realms.get(realm) {
            None => false,
            Some(r) => r.actors.as_ref().is_none_or(|a| a.contains(actor_type)),
        }
    }
}

/// The key file at `path` from its bytes: a cluster secret or a client key, or an error naming
/// the `secret_file` key and what the bytes are instead. Reading the file is the caller's
/// (`beach_node::files`): this crate does no I/O.
pub fn key_file_from_bytes(path: &Path, bytes: &[u8]) -> Result<KeyFile, ConfigError> {
    KeyFile::parse(bytes).map_err(|message| invalid_secret_file(path, message))
}

/// A node's cluster secret from the bytes of the file at `path`: a client key is an error
/// (it can make a client, never a node).
pub fn secret_from_bytes(path: &Path, bytes: &[u8]) -> Result<Secret, ConfigError> {
    match key_file_from_bytes(path, bytes)? {
        KeyFile::Secret(s) => Ok(s),
        KeyFile::Client(_) => Err(invalid_secret_file(
            path,
            "this is a client key; a node needs the cluster secret itself".to_owned(),
        )),
    }
}

/// An error about the secret file at `path`, under the key `secret_file`.
pub fn invalid_secret_file(path: &Path, message: String) -> ConfigError {
    ConfigError::Invalid {
        file: path.display().to_string(),
        key: "secret_file".to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests;
