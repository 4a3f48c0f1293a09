//! The child's side: a process started to host one isolated actor runs it here, serving the
//! requests its node forwards until the node lets go.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use beach_core::ErrorCode;
use beach_core::actor::{Registry, Request, Response, panic_message};
use beach_core::client::ClientBuilder;
use beach_core::config::{ClusterConfig, LogConfig, LogFormat};

use beach_core::transport::Preconnected;
use beach_core::wire::{self, AdminAnswer, AdminReply, Envelope, FrameCodec, RemoteError};
use bytes::BytesMut;
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use super::channel::{self, NotWritten, read_envelope, read_value, write_envelope};
use super::{HOST_VAR, Setup};

/// Tells the node that started this process why it will not host its actor: the spawn fails
/// with `message` instead of a bare "process exited".
pub(super) fn refuse_to_parent(path: &std::path::Path, message: &str) {
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
    // The setup is read under the default frame limit: the node's own comes with it.
    let mut buf = BytesMut::new();
    let setup_codec = FrameCodec::new(wire::DEFAULT_MAX_FRAME_SIZE);
    let Some(setup) = read_value::<Setup>(&mut r, &setup_codec, &mut buf).await else { return 1 };
    let codec = FrameCodec::new(setup.max_frame_size);
    // The actor's lines go to the node's log, as the node writes its own.
    let format = if setup.log_json { LogFormat::Json } else { LogFormat::Text };
    let _ = crate::logging::install(&LogConfig { level: setup.log_level.clone(), format });
    let answer =
        |result: Result<AdminAnswer, String>| Envelope::AdminReply(AdminReply { id: 0, result });

    // The actor's handles: a client of its node, over a second socket to it, the only way
    // this process has to the cluster (it holds no key).
    let through_node = match UnixStream::connect(&path).await {
        Ok(stream) => Preconnected::new(channel::connection(stream, codec, "node")),
        Err(e) => {
            let message = format!("isolated actor cannot reach its node: {e}");
            let _ = write_envelope(&mut w, &codec, &answer(Err(message))).await;
            return 1;
        }
    };
    let builder = ClientBuilder::new()
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
        .through_entry()
        .transport(Arc::new(through_node));
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
