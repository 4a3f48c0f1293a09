//! Isolated actors: each in its own child process, so its crash takes nothing else down.
//!
//! The node runs its own executable again with `BEACH_ACTOR_HOST` set to the path of a Unix
//! socket it listens on. The child connects and reads one setup frame (the spawn spec, the
//! actor id, the node's endpoint and the cluster secret: over the socket, never in arguments
//! or the environment), runs the actor's `init` and answers. From then on the node forwards
//! the actor's requests as frames and the child answers them. The child's own handles reach
//! the cluster as a client of its node.
//!
//! When the child dies (even by `kill -9`) the socket closes: requests in flight are answered
//! `wrong dest` (their callers retry elsewhere) and the actor leaves the directory. When the
//! actor is stopped, or the node stops, the child is killed; when the node dies, the child sees
//! the socket close and exits. No child outlives its node.
//!
//! A child is the same binary in host mode. A node binary calls [`host_if_requested`] first
//! thing in a synchronous `main` (the `beach-node` and `beach` binaries do), or
//! [`host_if_requested_async`] first thing in an async one. A program that forgets cannot
//! fork without end: [`crate::daemon::start`] in a host-mode process hosts the actor itself,
//! and [`ProcessIsolation::new`] refuses to run there, so the spawn fails with a message that
//! says what to call.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use beach_core::ErrorCode;
use beach_core::actor::{
    Actor, Context, InitError, Isolation, Registry, Request, Response, panic_message,
};
use beach_core::auth::{ClientKey, KeyFile, Secret};
use beach_core::client::ClientBuilder;
use beach_core::config::ClusterConfig;
use beach_core::model::{ActorId, Endpoint};
use beach_core::value::Payload;
use beach_core::wire::{
    self, AdminAnswer, AdminReply, Envelope, FrameCodec, RemoteError, SpawnSpec, WireError,
};
use beach_transport_tcp::TcpTransport;
use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};

/// The environment variable that puts a node binary in actor-host mode.
pub const HOST_VAR: &str = "BEACH_ACTOR_HOST";

/// How long a child may take to connect back.
const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// What the node tells a new child.
#[derive(Debug, Serialize, Deserialize)]
struct Setup {
    id: ActorId,
    spec: SpawnSpec,
    node: Endpoint,
    cluster: String,
    /// The cluster's client key, never its secret: the child can only be a client.
    client_key: Option<Vec<u8>>,
    request_timeout_ms: u64,
    sync_interval_ms: u64,
    max_frame_size: usize,
}

/// Runs isolated actors in child processes of this executable.
#[derive(Debug)]
pub struct ProcessIsolation {
    exe: PathBuf,
    dir: PathBuf,
    node: Mutex<Option<Endpoint>>,
    cluster: String,
    client_key: Option<ClientKey>,
    request_timeout: Duration,
    sync_interval: Duration,
    max_frame_size: usize,
}

impl ProcessIsolation {
    /// Isolation for a node of the cluster `config` describes (with its secret), running
    /// children of the current executable and keeping their sockets in a private temporary
    /// folder. Children use the cluster's name, timings and frame limit, and are handed the
    /// cluster's client key only: an isolated actor can never act as a node.
    ///
    /// Fails in a process that was started to host an isolated actor: a node there would spawn
    /// its own children, each a copy of the program, without end. The parent's spawn then
    /// fails with this error's message.
    pub fn new(config: &ClusterConfig, secret: Option<&Secret>) -> std::io::Result<Self> {
        if let Some(path) = std::env::var_os(HOST_VAR) {
            let message = format!(
                "this process was started to host an isolated actor ({HOST_VAR} is set) but starts a node instead; call beach_node::isolation::host_if_requested (or host_if_requested_async) first thing in main"
            );
            refuse_to_parent(std::path::Path::new(&path), &message);
            return Err(std::io::Error::other(message));
        }
        let exe = std::env::current_exe()?;
        let dir = private_dir()?;
        Ok(Self {
            exe,
            dir,
            node: Mutex::new(None),
            cluster: config.cluster_name.clone(),
            client_key: secret.map(Secret::client_key),
            request_timeout: config.request_timeout_default,
            sync_interval: config.sync_interval,
            max_frame_size: config.max_frame_size,
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

/// The folder of this node's actor sockets: a new one with an unguessable name, mode 0700,
/// made by this call (so owned by this user and by nobody else). Folders that nodes no longer
/// running left behind (after a `kill -9`) are removed first.
fn private_dir() -> std::io::Result<PathBuf> {
    let tmp = std::env::temp_dir();
    remove_stale_dirs(&tmp);
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(std::io::Error::other)?;
    let name = format!(
        "beach-actors-{}-{}",
        std::process::id(),
        random.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let dir = tmp.join(name);
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    // `create`, not `create_all`: it fails if anything is already there.
    builder.create(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(&dir)?;
        if !meta.is_dir() || meta.permissions().mode() & 0o077 != 0 {
            return Err(std::io::Error::other(format!(
                "{} is not a private folder",
                dir.display()
            )));
        }
    }
    Ok(dir)
}

/// Removes `beach-actors-PID-*` folders of this user whose node process is gone.
fn remove_stale_dirs(tmp: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("beach-actors-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ours = entry.metadata().is_ok_and(|m| m.uid() == own_uid());
            let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
            if ours && !alive && pid != std::process::id() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// This process's user id, as the files it makes are owned.
#[cfg(unix)]
fn own_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid())
}

fn init_error(what: &str, e: impl std::fmt::Display) -> InitError {
    InitError::new(format!("isolated actor: {what}: {e}"))
}

#[async_trait]
impl Isolation for ProcessIsolation {
    async fn spawn(&self, spec: &SpawnSpec, ctx: &Context) -> Result<Arc<dyn Actor>, InitError> {
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
        let accepted = tokio::select! {
            biased;
            a = tokio::time::timeout(CONNECT_WAIT, listener.accept()) => match a {
                // Only the child started here may connect: checked by the kernel's word.
                Ok(Ok((stream, _))) => match stream.peer_cred() {
                    Ok(c) if c.pid() == child.id().map(|p| p as i32) => Ok(stream),
                    Ok(c) => Err(init_error("socket", format!("connected by pid {:?}, not the child", c.pid()))),
                    Err(e) => Err(init_error("socket", e)),
                },
                Ok(Err(e)) => Err(init_error("socket", e)),
                Err(_) => Err(init_error("process", "did not connect in time")),
            },
            status = child.wait() => Err(init_error("process exited before connecting", format!("{status:?}"))),
        };
        let _ = std::fs::remove_file(&path);
        let stream = accepted?;
        let (mut r, mut w) = stream.into_split();
        let setup = Setup {
            id: ctx.id().clone(),
            spec: SpawnSpec { isolated: false, ..spec.clone() },
            node,
            cluster: self.cluster.clone(),
            client_key: self.client_key.as_ref().map(ClientKey::to_file_bytes),
            request_timeout_ms: self.request_timeout.as_millis() as u64,
            sync_interval_ms: self.sync_interval.as_millis() as u64,
            max_frame_size: self.max_frame_size,
        };
        let mut frame = Vec::new();
        ciborium::into_writer(&setup, &mut frame).map_err(|e| init_error("setup", e))?;
        frame.splice(0..0, (frame.len() as u32).to_be_bytes());
        // A child that refuses to host (see `ProcessIsolation::new`) answers without reading
        // the setup: its answer, read next, says more than the broken pipe.
        let sent = w.write_all(&frame).await;
        let codec = FrameCodec::new(self.max_frame_size);
        let mut buf = BytesMut::new();
        match (read_envelope(&mut r, &codec, &mut buf).await, sent) {
            (Some(Envelope::AdminReply(AdminReply { result: Err(e), .. })), _) => {
                return Err(InitError::new(e));
            }
            (_, Err(e)) => return Err(init_error("setup", e)),
            (Some(Envelope::AdminReply(AdminReply { result: Ok(_), .. })), Ok(())) => {}
            (_, Ok(())) => return Err(init_error("process", "exited during init")),
        }
        tracing::info!(actor = %ctx.id(), pid = child.id(), "isolated actor started");
        Ok(Proxy::start(ctx.clone(), child, r, w, codec, buf))
    }
}

async fn read_envelope(
    r: &mut OwnedReadHalf,
    codec: &FrameCodec,
    buf: &mut BytesMut,
) -> Option<Envelope> {
    loop {
        match codec.decode(buf) {
            Ok(Some(e)) => return Some(e),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "bad frame from an isolated actor");
                return None;
            }
        }
        match r.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Why [`write_envelope`] wrote nothing.
enum NotWritten {
    /// The envelope does not fit in a frame; the socket is fine.
    TooLarge(WireError),
    /// The socket is closed or broken.
    Broken,
}

async fn write_envelope(
    w: &mut OwnedWriteHalf,
    codec: &FrameCodec,
    envelope: &Envelope,
) -> Result<(), NotWritten> {
    let mut out = BytesMut::new();
    codec.encode(envelope, &mut out).map_err(NotWritten::TooLarge)?;
    w.write_all(&out).await.map_err(|_| NotWritten::Broken)
}

/// The requests forwarded to the process, by their (request id, attempt).
type Pending = Arc<Mutex<BTreeMap<(u64, u32), oneshot::Sender<Result<Payload, RemoteError>>>>>;

/// How long a stopped isolated actor's process has to run `deinit` and exit.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The node-side stand-in of an isolated actor.
struct Proxy {
    out: mpsc::UnboundedSender<Envelope>,
    pending: Pending,
    /// Closes the socket's writing side: the process sees the end and finishes.
    closing: Arc<tokio::sync::Notify>,
    child: tokio::sync::Mutex<Option<Child>>,
}

impl Proxy {
    fn start(
        ctx: Context,
        child: Child,
        mut r: OwnedReadHalf,
        mut w: OwnedWriteHalf,
        codec: FrameCodec,
        mut buf: BytesMut,
    ) -> Arc<Self> {
        let (out, mut rx) = mpsc::unbounded_channel::<Envelope>();
        let pending: Pending = Arc::default();
        let writer_pending = pending.clone();
        let closing = Arc::new(tokio::sync::Notify::new());
        let closed = closing.clone();
        tokio::spawn(async move {
            loop {
                let env = tokio::select! {
                    biased;
                    () = closed.notified() => break,
                    env = rx.recv() => match env {
                        Some(env) => env,
                        None => break,
                    },
                };
                match write_envelope(&mut w, &codec, &env).await {
                    Ok(()) => {}
                    // Too large to forward: that caller's answer, at once.
                    Err(NotWritten::TooLarge(e)) => {
                        let Envelope::Request(req) = &env else { continue };
                        let key = (req.id, req.attempt);
                        let waiting = writer_pending.lock().expect("proxy lock").remove(&key);
                        if let Some(tx) = waiting {
                            let _ = tx.send(Err(RemoteError::too_large("request", &e)));
                        }
                    }
                    Err(NotWritten::Broken) => break,
                }
            }
            // Dropping the writing half tells the process to finish.
            let _ = w.shutdown().await;
        });
        let reader_pending = pending.clone();
        tokio::spawn(async move {
            while let Some(env) = read_envelope(&mut r, &codec, &mut buf).await {
                if let Envelope::Reply(reply) = env
                    && let Some(tx) = reader_pending
                        .lock()
                        .expect("proxy lock")
                        .remove(&(reply.id, reply.attempt))
                {
                    let _ = tx.send(reply.result);
                }
            }
            // The process is gone: fail what it was serving and leave the directory.
            let lost: Vec<_> = std::mem::take(&mut *reader_pending.lock().expect("proxy lock"))
                .into_values()
                .collect();
            for tx in lost {
                let _ = tx.send(Err(RemoteError {
                    error: ErrorCode::WrongDest.as_str().to_owned(),
                    data: None,
                }));
            }
            if !ctx.is_stopped() {
                tracing::warn!(actor = %ctx.id(), "isolated actor process exited; removing the actor");
                ctx.stop_self();
            }
        });
        Arc::new(Self { out, pending, closing, child: tokio::sync::Mutex::new(Some(child)) })
    }
}

#[async_trait]
impl Actor for Proxy {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Err(InitError::new("a proxy is made by ProcessIsolation, not by a registry"))
    }

    async fn handle(&self, ctx: &Context, request: Request) -> Response {
        // The caller's request id and attempt travel on, so that the actor can de-duplicate
        // retries.
        let key = (request.id(), request.attempt());
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("proxy lock").insert(key, tx);
        let left = request.deadline().saturating_duration_since(Instant::now());
        let forwarded = wire::ActorCall {
            id: key.0,
            to: ctx.id().clone(),
            realm: ctx.realm().clone(),
            kind: request.kind().to_owned(),
            data: request.payload().clone(),
            timeout_ms: (left.as_millis() as u64).max(1),
            ident: request.ident().map(str::to_owned),
            attempt: key.1,
        };
        if self.out.send(Envelope::Request(forwarded)).is_err() {
            self.pending.lock().expect("proxy lock").remove(&key);
            return Response::error(ErrorCode::WrongDest.as_str());
        }
        match tokio::time::timeout(left, rx).await {
            Ok(Ok(Ok(p))) => Response::payload(p),
            Ok(Ok(Err(e))) => Response::from_result(Err(e)),
            Ok(Err(_)) => Response::error(ErrorCode::WrongDest.as_str()),
            Err(_) => {
                self.pending.lock().expect("proxy lock").remove(&key);
                Response::error(ErrorCode::Timeout.as_str())
            }
        }
    }

    /// Tells the process to run its actor's drain hook.
    async fn drain(&self, ctx: &Context) {
        let stop = wire::AdminOp::Stop {
            realm: ctx.realm().clone(),
            ids: vec![ctx.id().clone()],
            categories: Vec::new(),
            delay_ms: 0,
        };
        let _ = self.out.send(Envelope::Admin(wire::AdminCall { id: 0, token: None, op: stop }));
    }

    /// Lets the process finish: the socket closes, its actor's `deinit` runs and it exits;
    /// after [`STOP_GRACE`] it is killed.
    async fn deinit(&self, ctx: &Context) {
        self.closing.notify_one();
        if let Some(mut child) = self.child.lock().await.take() {
            match tokio::time::timeout(STOP_GRACE, child.wait()).await {
                Ok(status) => {
                    let code = status.ok().and_then(|s| s.code());
                    tracing::info!(actor = %ctx.id(), ?code, "isolated actor process finished");
                }
                Err(_) => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    tracing::warn!(actor = %ctx.id(), grace = ?STOP_GRACE, "isolated actor process killed: it did not finish in time");
                }
            }
        }
    }
}

/// Tells the node that started this process why it will not host its actor: the spawn fails
/// with `message` instead of a bare "process exited".
fn refuse_to_parent(path: &std::path::Path, message: &str) {
    use std::io::Write;
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(path) else { return };
    let reply = Envelope::AdminReply(AdminReply { id: 0, result: Err(message.to_owned()) });
    let mut frame = BytesMut::new();
    if FrameCodec::new(wire::DEFAULT_MAX_FRAME_SIZE).encode(&reply, &mut frame).is_ok() {
        let _ = stream.write_all(&frame);
    }
}

/// If this process was started as an isolated actor's host, runs the actor until its node
/// lets go and returns the exit code; otherwise returns `None` at once. Call it first thing in
/// a synchronous `main` of every node binary (it builds its own runtime); from an async
/// `main`, call [`host_if_requested_async`].
///
/// ```no_run
/// use std::process::ExitCode;
/// use beach_node::{actors::builtin_registry, isolation};
///
/// fn main() -> ExitCode {
///     let registry = builtin_registry();
///     if let Some(code) = isolation::host_if_requested(&registry) {
///         return code;
///     }
///     // ... start the node, for instance with beach_node::daemon::run
///     ExitCode::SUCCESS
/// }
/// ```
pub fn host_if_requested(registry: &Registry) -> Option<std::process::ExitCode> {
    let path = std::env::var_os(HOST_VAR)?;
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("beach actor host: cannot start the runtime: {e}");
                return Some(std::process::ExitCode::from(1));
            }
        };
    let code = runtime.block_on(host(PathBuf::from(path), registry.clone()));
    Some(std::process::ExitCode::from(code))
}

/// [`host_if_requested`] for an async `main` (`#[tokio::main]`): hosts the actor on the
/// running runtime. Call it before anything else in `main`.
///
/// ```no_run
/// use std::process::ExitCode;
/// use beach_node::{actors::builtin_registry, isolation};
///
/// #[tokio::main]
/// async fn main() -> ExitCode {
///     let registry = builtin_registry();
///     if let Some(code) = isolation::host_if_requested_async(&registry).await {
///         return code;
///     }
///     // ... start the node, for instance with beach_node::daemon::run
///     ExitCode::SUCCESS
/// }
/// ```
pub async fn host_if_requested_async(registry: &Registry) -> Option<std::process::ExitCode> {
    let path = std::env::var_os(HOST_VAR)?;
    Some(std::process::ExitCode::from(host(PathBuf::from(path), registry.clone()).await))
}

/// Hosts the actor when this process was started for one, then exits; for
/// [`crate::daemon::start`], which a program that forgot [`host_if_requested`] reaches.
pub(crate) async fn host_and_exit_if_requested(registry: &Registry) {
    if let Some(path) = std::env::var_os(HOST_VAR) {
        let code = host(PathBuf::from(path), registry.clone()).await;
        std::process::exit(i32::from(code));
    }
}

async fn host(path: PathBuf, registry: Registry) -> u8 {
    let Ok(stream) = UnixStream::connect(&path).await else { return 1 };
    let (mut r, mut w) = stream.into_split();
    let mut len = [0u8; 4];
    if r.read_exact(&mut len).await.is_err() {
        return 1;
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > wire::DEFAULT_MAX_FRAME_SIZE {
        return 1;
    }
    let mut frame = vec![0u8; len];
    if r.read_exact(&mut frame).await.is_err() {
        return 1;
    }
    let Ok(setup) = ciborium::from_reader::<Setup, _>(&frame[..]) else { return 1 };
    let codec = FrameCodec::new(setup.max_frame_size);
    let answer =
        |result: Result<AdminAnswer, String>| Envelope::AdminReply(AdminReply { id: 0, result });

    // The actor's handles: a client of its node.
    let mut builder = ClientBuilder::new()
        .seed(setup.node.to_string())
        .config(&ClusterConfig {
            cluster_name: setup.cluster.clone(),
            request_timeout_default: Duration::from_millis(setup.request_timeout_ms),
            sync_interval: Duration::from_millis(setup.sync_interval_ms.max(100)),
            max_frame_size: setup.max_frame_size,
            ..ClusterConfig::default()
        })
        .realm(setup.spec.realm.as_str())
        .name(format!("isolated-{}", setup.id.seq()))
        .transport_with(TcpTransport::make);
    if let Some(Ok(KeyFile::Client(key))) = setup.client_key.as_deref().map(KeyFile::parse) {
        builder = builder.client_key(key);
    }
    let client = match builder.connect().await {
        Ok(c) => c,
        Err(e) => {
            let _ = write_envelope(
                &mut w,
                &codec,
                &answer(Err(format!("isolated actor cannot reach its node: {e}"))),
            )
            .await;
            return 1;
        }
    };
    // `ctx.stop_self()` ends the serving loop below; the node sees the socket close and
    // removes the actor.
    let stopping = Arc::new(tokio::sync::Notify::new());
    let stop = stopping.clone();
    let ctx = client.actor_context(setup.id.clone(), &setup.spec, move || stop.notify_one());
    let actor = match registry.init(setup.spec.actor_type.as_str(), ctx.clone()).await {
        Ok(a) => a,
        Err(e) => {
            let _ = write_envelope(&mut w, &codec, &answer(Err(e.0))).await;
            return 1;
        }
    };
    if write_envelope(&mut w, &codec, &answer(Ok(AdminAnswer::Done))).await.is_err() {
        return 1;
    }
    let (out, mut rx) = mpsc::unbounded_channel::<Envelope>();
    let resend = out.clone();
    tokio::spawn(async move {
        while let Some(env) = rx.recv().await {
            match write_envelope(&mut w, &codec, &env).await {
                Ok(()) => {}
                // A reply too large to frame: the caller gets an error in its place.
                Err(NotWritten::TooLarge(e)) => {
                    let Envelope::Reply(r) = env else { continue };
                    let result = Err(RemoteError::too_large("reply", &e));
                    let _ = resend.send(Envelope::Reply(wire::Reply { result, ..r }));
                }
                Err(NotWritten::Broken) => break,
            }
        }
    });
    let mut buf = BytesMut::new();
    loop {
        let env = tokio::select! {
            biased;
            () = stopping.notified() => break,
            env = read_envelope(&mut r, &codec, &mut buf) => match env {
                Some(env) => env,
                None => break,
            },
        };
        let req = match env {
            Envelope::Request(req) => req,
            // The node is stopping this (drainable) actor: its drain hook runs now, while
            // in-flight requests finish.
            Envelope::Admin(wire::AdminCall { op: wire::AdminOp::Stop { .. }, .. }) => {
                let (actor, ctx) = (actor.clone(), ctx.clone());
                tokio::spawn(async move { actor.drain(&ctx).await });
                continue;
            }
            _ => continue,
        };
        let (actor, ctx, out) = (actor.clone(), ctx.clone(), out.clone());
        tokio::spawn(async move {
            let (id, attempt) = (req.id, req.attempt);
            let deadline = beach_core::routing::deadline_after(
                Instant::now(),
                Duration::from_millis(req.timeout_ms),
            );
            let request = Request::from_wire(req, deadline);
            let response = match futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
                actor.handle(&ctx, request),
            ))
            .await
            {
                Ok(r) => r,
                Err(panic) => {
                    Response::error_with(ErrorCode::Exception.as_str(), &panic_message(&*panic))
                }
            };
            let _ = out.send(Envelope::Reply(wire::Reply {
                id,
                attempt,
                result: response.into_result(),
            }));
        });
    }
    // The node let go (stopped the actor, or died), or the actor stopped itself: finish.
    actor.deinit(&ctx).await;
    client.close();
    0
}
