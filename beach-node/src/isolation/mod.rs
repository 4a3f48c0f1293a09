//! Isolated actors: each in its own child process, so its crash takes nothing else down.
//!
//! The node runs its own executable again with `BEACH_ACTOR_HOST` set to the path of a Unix
//! socket it listens on, in a private folder; only the child it started may connect (the
//! kernel's peer credentials say who did). The child connects twice. On the first socket it
//! reads one setup frame (the spawn spec, the actor id, the node's endpoint: over the socket,
//! never in arguments or the environment), runs the actor's `init` and answers; from then on
//! the node forwards the actor's requests as frames and the child answers them. The second
//! socket is the child's client: its handles reach the cluster through its node, which
//! relays their requests. The socket is the child's credential: it holds no key, neither the
//! cluster secret nor the client key, so an isolated actor can never act as a node, nor even
//! reach another node on its own.
//!
//! When the child dies (even by `kill -9`) the socket closes: requests in flight are answered
//! `wrong dest` (their callers retry elsewhere) and the actor leaves the directory. When the
//! actor is stopped, or the node stops, the child is killed; when the node dies, the child sees
//! the socket close and exits. No child outlives its node.
//!
//! This file starts children (`ProcessIsolation`); `proxy.rs` is the actor that stands in for
//! a child on its node, `host.rs` the child's side, and `channel.rs` the socket between them,
//! framed by the wire's `FrameCodec` like every other channel.
//!
//! A child is the same binary in host mode. A node binary calls [`host_if_requested`] first
//! thing in a synchronous `main` (the `beach-node` and `beach` binaries do), or
//! [`host_if_requested_async`] first thing in an async one. A program that forgets cannot
//! fork without end: [`crate::daemon::start`] in a host-mode process hosts the actor itself,
//! and [`ProcessIsolation::new`] refuses to run there, so the spawn fails with a message that
//! says what to call.

mod channel;
mod host;
mod proxy;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use beach_core::actor::{Actor, Context, InitError, Isolation};
use beach_core::config::{ClusterConfig, LogConfig, LogFormat};
use beach_core::model::{ActorId, Endpoint};
use beach_core::transport::AdoptClient;
use beach_core::wire::{self, AdminReply, Envelope, FrameCodec, SpawnSpec};
use bytes::BytesMut;
use serde::{Deserialize, Serialize};

use channel::{NotWritten, read_envelope, write_value};
use host::refuse_to_parent;
use proxy::Proxy;

/// The environment variable that puts a node binary in actor-host mode.
pub const HOST_VAR: &str = "BEACH_ACTOR_HOST";

/// How long a child may take to connect back.
const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// What the node tells a new child.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Setup {
    id: ActorId,
    spec: SpawnSpec,
    node: Endpoint,
    cluster: String,
    request_timeout_ms: u64,
    sync_interval_ms: u64,
    max_frame_size: usize,
    /// The node's log level and whether it logs JSON: the child logs alike, to the same
    /// stderr.
    log_level: String,
    log_json: bool,
}

/// Runs isolated actors in child processes of this executable.
#[derive(Debug)]
pub struct ProcessIsolation {
    exe: PathBuf,
    dir: PathBuf,
    node: Mutex<Option<Endpoint>>,
    cluster: String,
    request_timeout: Duration,
    sync_interval: Duration,
    max_frame_size: usize,
    log: LogConfig,
}

impl ProcessIsolation {
    /// Isolation for a node of the cluster `config` describes, running children of the
    /// current executable and keeping their sockets in a private temporary folder. Children
    /// use the cluster's name, timings and frame limit, and no key at all: they reach the
    /// cluster through their node.
    ///
    /// Fails in a process that was started to host an isolated actor: a node there would spawn
    /// its own children, each a copy of the program, without end. The parent's spawn then
    /// fails with this error's message.
    pub fn new(config: &ClusterConfig) -> std::io::Result<Self> {
        if let Some(path) = std::env::var_os(HOST_VAR) {
            let message = format!(
                "this process was started to host an isolated actor ({HOST_VAR} is set) but starts a node instead; call beach_node::isolation::host_if_requested (or host_if_requested_async) first thing in main"
            );
            refuse_to_parent(std::path::Path::new(&path), &message);
            return Err(std::io::Error::other(message));
        }
        let exe = std::env::current_exe()?;
        let dir = crate::private_dir::make("beach-actors")?;
        Ok(Self {
            exe,
            dir,
            node: Mutex::new(None),
            cluster: config.cluster_name.clone(),
            request_timeout: config.request_timeout_default,
            sync_interval: config.sync_interval,
            max_frame_size: config.max_frame_size,
            log: config.log.clone(),
        })
    }

    /// The endpoint children connect their handles to: the node's own, known once it started.
    pub fn set_node(&self, endpoint: Endpoint) {
        *self.node.lock().expect("isolation lock") = Some(endpoint);
    }
}

impl Drop for ProcessIsolation {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn init_error(what: &str, e: impl std::fmt::Display) -> InitError {
    InitError::new(format!("isolated actor: {what}: {e}"))
}

#[async_trait]
impl Isolation for ProcessIsolation {
    async fn spawn(
        &self,
        spec: &SpawnSpec,
        ctx: &Context,
        links: &dyn AdoptClient,
    ) -> Result<Arc<dyn Actor>, InitError> {
        let node = self
            .node
            .lock()
            .expect("isolation lock")
            .clone()
            .ok_or_else(|| init_error("node", "not started"))?;
        let path = self.dir.join(format!("{}.sock", ctx.id().seq()));
        let _ = std::fs::remove_file(&path);
        let listener =
            tokio::net::UnixListener::bind(&path).map_err(|e| init_error("socket", e))?;
        let mut child = tokio::process::Command::new(&self.exe)
            .env(HOST_VAR, &path)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| init_error("cannot start the process", e))?;
        let accepted = accept_child(&listener, &mut child).await;
        let stream = match accepted {
            Ok(s) => s,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        let (mut r, mut w) = stream.into_split();
        let setup = Setup {
            id: ctx.id().clone(),
            spec: SpawnSpec { isolated: false, ..spec.clone() },
            node,
            cluster: self.cluster.clone(),
            request_timeout_ms: self.request_timeout.as_millis() as u64,
            sync_interval_ms: self.sync_interval.as_millis() as u64,
            max_frame_size: self.max_frame_size,
            log_level: self.log.level.clone(),
            log_json: self.log.format == LogFormat::Json,
        };
        // A child that refuses to host (see `ProcessIsolation::new`) answers without reading
        // the setup: its answer, read next, says more than the broken pipe.
        let sent =
            write_value(&mut w, &FrameCodec::new(wire::DEFAULT_MAX_FRAME_SIZE), &setup).await;
        let codec = FrameCodec::new(self.max_frame_size);
        let mut buf = BytesMut::new();
        // Then the child connects its client's socket, its only way to the cluster; a child
        // that refuses answers on the first socket instead.
        let second = tokio::select! {
            biased;
            early = read_envelope(&mut r, &codec, &mut buf) => Err(early),
            s = accept_child(&listener, &mut child) => Ok(s),
        };
        let _ = std::fs::remove_file(&path);
        let answer = match second {
            Ok(Ok(client)) => {
                let peer = format!("isolated-{}", ctx.id().seq());
                links.adopt_client(channel::connection(client, codec, &peer));
                read_envelope(&mut r, &codec, &mut buf).await
            }
            Ok(Err(e)) => return Err(e),
            Err(early) => early,
        };
        match (answer, sent) {
            (Some(Envelope::AdminReply(AdminReply { result: Err(e), .. })), _) => {
                return Err(InitError::new(e));
            }
            (_, Err(NotWritten::TooLarge(e))) => return Err(init_error("setup", e)),
            (_, Err(NotWritten::Broken)) => {
                return Err(init_error("setup", "the process closed its socket"));
            }
            (Some(Envelope::AdminReply(AdminReply { result: Ok(_), .. })), Ok(())) => {}
            (_, Ok(())) => return Err(init_error("process", "exited during init")),
        }
        tracing::info!(actor = %ctx.id(), pid = child.id(), "isolated actor started");
        Ok(Proxy::start(ctx.clone(), child, r, w, codec, buf))
    }
}

/// The next connection to `listener`, which only `child` may make (checked by the kernel's
/// word), within [`CONNECT_WAIT`]; an error when it does not come or the child exits.
async fn accept_child(
    listener: &tokio::net::UnixListener,
    child: &mut tokio::process::Child,
) -> Result<tokio::net::UnixStream, InitError> {
    tokio::select! {
        biased;
        a = tokio::time::timeout(CONNECT_WAIT, listener.accept()) => match a {
            Ok(Ok((stream, _))) => match stream.peer_cred() {
                Ok(c) if c.pid() == child.id().map(|p| p as i32) => Ok(stream),
                Ok(c) => Err(init_error("socket", format!("connected by pid {:?}, not the child", c.pid()))),
                Err(e) => Err(init_error("socket", e)),
            },
            Ok(Err(e)) => Err(init_error("socket", e)),
            Err(_) => Err(init_error("process", "did not connect in time")),
        },
        status = child.wait() => Err(init_error("process exited before connecting", format!("{status:?}"))),
    }
}

pub(crate) use host::host_and_exit_if_requested;
pub use host::{host_if_requested, host_if_requested_async};
