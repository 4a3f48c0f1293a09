//! One actor program's process and the node's end of its socket: starting it (its own process
//! group, killed when the node dies), the version handshake, the frames both ways, keep-alive,
//! its output in the node's log, and what happens to its actors when it dies.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use beach_core::ErrorCode;
use beach_core::actor::Context;
use beach_core::wire::FrameCodec;
use bytes::BytesMut;
use ciborium::Value as Cbor;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::calls;
use super::protocol::{FromProgram, ToProgram, VERSION};

/// How often the node pings a program.
const KEEPALIVE: Duration = Duration::from_secs(5);
/// A program silent this long is judged dead and killed.
const SILENT_LIMIT: Duration = Duration::from_secs(30);
/// How long a program has to say hello.
const HELLO_WAIT: Duration = Duration::from_secs(30);
/// How long a program whose socket the node closed has to exit before it is killed.
pub(super) const EXIT_GRACE: Duration = Duration::from_secs(5);
/// The file descriptor a program finds its socket on (`BEACH_ACTOR_FD`).
const PROGRAM_FD: i32 = 3;

/// A request to forward to a program's actor.
pub(super) struct Forwarded {
    pub(super) kind: String,
    pub(super) data: Cbor,
    pub(super) ident: Option<String>,
    pub(super) attempt: u32,
    /// The request's id in the cluster (what every node logs it under).
    pub(super) request_id: u64,
}

/// An answer to a request: data, or an error message with data.
pub(super) type Answer = Result<Cbor, (String, Cbor)>;

/// What starts a program: the command, its folder and environment.
#[derive(Debug, Clone)]
pub(super) struct Launch {
    pub(super) program: PathBuf,
    pub(super) args: Vec<String>,
    pub(super) cwd: PathBuf,
    pub(super) env: Vec<(String, String)>,
    /// How the log names it: `global/Pong` (with its pid once started).
    pub(super) label: String,
}

/// The node's side of one actor of a program.
#[derive(Default)]
struct Slot {
    ctx: Option<Context>,
    init: Option<oneshot::Sender<Answer>>,
    drained: Option<oneshot::Sender<()>>,
    stopped: Option<oneshot::Sender<()>>,
}

#[derive(Default)]
struct State {
    pending: HashMap<u64, oneshot::Sender<Answer>>,
    actors: HashMap<u64, Slot>,
    next_actor: u64,
    next_rid: u64,
}

/// A running program and its socket.
pub(super) struct Host {
    label: String,
    out: mpsc::UnboundedSender<ToProgram>,
    state: Mutex<State>,
    closed: AtomicBool,
    /// Tells the writer to close the socket: the program sees the end and exits.
    closing: tokio::sync::Notify,
    child: tokio::sync::Mutex<Option<tokio::process::Child>>,
    /// Milliseconds since `born` when the program last sent anything.
    heard: AtomicU64,
    born: Instant,
    /// Called once when the program is gone, to forget it.
    on_exit: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("label", &self.label).finish_non_exhaustive()
    }
}

/// Makes the child's end of the socket its descriptor [`PROGRAM_FD`], and sets the child to be
/// killed when the thread that started it (a runtime worker, living as long as the node)
/// ends: nothing outlives the node, even after a `kill -9`.
#[allow(unsafe_code)]
fn set_up_child(command: &mut tokio::process::Command, fd: i32) {
    let parent = std::process::id() as i32;
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (prctl, getppid, dup2, fcntl, _exit) on plain integers; it
    // allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The node died between fork and prctl: exit as the signal would have made us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            let moved = if fd == PROGRAM_FD {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, PROGRAM_FD)
            };
            if moved < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

impl Host {
    /// Starts the program and waits for its hello (answered welcome, or refused for a
    /// version this node does not speak).
    pub(super) async fn start(
        launch: &Launch,
        node: &str,
        codec: FrameCodec,
        on_exit: Box<dyn FnOnce() + Send>,
    ) -> Result<Arc<Host>, String> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| format!("cannot make the program's socket: {e}"))?;
        let mut command = tokio::process::Command::new(&launch.program);
        command
            .args(&launch.args)
            .current_dir(&launch.cwd)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .env("BEACH_ACTOR_FD", PROGRAM_FD.to_string())
            .env("BEACH_NODE", node)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        set_up_child(&mut command, theirs.as_raw_fd());
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", launch.program.display()))?;
        drop(OwnedFd::from(theirs));
        let label = format!("{} pid {}", launch.label, child.id().unwrap_or(0));
        for (stream, is_err) in [
            (
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
                false,
            ),
            (
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
                true,
            ),
        ] {
            if let Some(stream) = stream {
                tokio::spawn(log_lines(stream, label.clone(), is_err));
            }
        }
        ours.set_nonblocking(true).map_err(|e| format!("socket: {e}"))?;
        let stream = tokio::net::UnixStream::from_std(ours).map_err(|e| format!("socket: {e}"))?;
        let (mut r, mut w) = stream.into_split();
        let mut buf = BytesMut::new();
        let hello = tokio::select! {
            biased;
            frame = tokio::time::timeout(HELLO_WAIT, read_frame(&mut r, &codec, &mut buf)) => match frame {
                Ok(Ok(Some(f))) => f,
                Ok(Ok(None)) => return Err(exit_reason(&mut child, "closed its socket before saying hello").await),
                Ok(Err(e)) => return Err(format!("the program's first frame is not a hello: {e}")),
                Err(_) => return Err(format!("the program did not say hello within {HELLO_WAIT:?}")),
            },
            status = child.wait() => return Err(format!("the program exited before saying hello ({})", status_text(status))),
        };
        match hello {
            FromProgram::Hello { version, sdk } if version == VERSION => {
                tracing::info!(host = %label, sdk = sdk.as_deref().unwrap_or("?"), "actor program started");
            }
            FromProgram::Hello { version, .. } => {
                let error = format!(
                    "actor protocol version {version} is not supported (this node speaks {VERSION})"
                );
                let _ =
                    write_frame(&mut w, &codec, &ToProgram::Refused { error: error.clone() }).await;
                return Err(error);
            }
            other => return Err(format!("the program's first frame is not a hello: {other:?}")),
        }
        let welcome = ToProgram::Welcome {
            version: VERSION,
            node: node.to_owned(),
            max_frame: codec.max_frame_size() as u64,
        };
        write_frame(&mut w, &codec, &welcome).await.map_err(|e| format!("welcome: {e}"))?;
        let (out, rx) = mpsc::unbounded_channel();
        let host = Arc::new(Host {
            label,
            out,
            state: Mutex::default(),
            closed: AtomicBool::new(false),
            closing: tokio::sync::Notify::new(),
            child: tokio::sync::Mutex::new(Some(child)),
            heard: AtomicU64::new(0),
            born: Instant::now(),
            on_exit: Mutex::new(Some(on_exit)),
        });
        tokio::spawn(write_loop(host.clone(), w, codec, rx));
        tokio::spawn(read_loop(host.clone(), r, codec, buf));
        tokio::spawn(keepalive(Arc::downgrade(&host)));
        Ok(host)
    }

    /// The program's name in the log.
    pub(super) fn label(&self) -> &str {
        &self.label
    }

    /// Whether the program is gone (its socket closed).
    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// How many actors it runs (or is starting).
    pub(super) fn actor_count(&self) -> usize {
        self.state.lock().expect("host lock").actors.len()
    }

    /// Takes a number for a new actor in this program, or `None` when it is gone.
    pub(super) fn reserve_actor(&self) -> Option<u64> {
        let mut st = self.state.lock().expect("host lock");
        if self.is_closed() {
            return None;
        }
        st.next_actor += 1;
        let n = st.next_actor;
        st.actors.insert(n, Slot::default());
        Some(n)
    }

    /// Sends `init` for actor `n` and waits for `ready` (Ok) or `failed`, at most `wait`.
    pub(super) async fn init(
        &self,
        n: u64,
        ctx: &Context,
        frame: ToProgram,
        wait: Duration,
    ) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        if let Some(slot) = self.state.lock().expect("host lock").actors.get_mut(&n) {
            slot.ctx = Some(ctx.clone());
            slot.init = Some(tx);
        }
        if self.out.send(frame).is_err() {
            self.forget_actor(n);
            return Err("the actor's process is gone".to_owned());
        }
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(Ok(_))) => Ok(()),
            Ok(Ok(Err((error, data)))) => {
                self.forget_actor(n);
                Err(with_detail(error, &data))
            }
            Ok(Err(_)) => {
                self.forget_actor(n);
                Err("the actor's process exited during init".to_owned())
            }
            Err(_) => {
                self.forget_actor(n);
                Err(format!("init did not finish within {wait:?} (actor_init_timeout)"))
            }
        }
    }

    /// Forwards a request to actor `n` and waits for the answer, at most `wait`.
    pub(super) async fn request(&self, n: u64, call: Forwarded, wait: Duration) -> Answer {
        let Forwarded { kind, data, ident, attempt, request_id } = call;
        let (tx, rx) = oneshot::channel();
        let rid = {
            let mut st = self.state.lock().expect("host lock");
            if self.is_closed() {
                return Err((ErrorCode::WrongDest.as_str().to_owned(), Cbor::Null));
            }
            st.next_rid += 1;
            let rid = st.next_rid;
            st.pending.insert(rid, tx);
            rid
        };
        let timeout_ms = (wait.as_millis() as u64).max(1);
        let frame = ToProgram::Request {
            actor: n,
            rid,
            kind,
            data,
            ident,
            timeout_ms,
            attempt,
            request_id,
        };
        if self.out.send(frame).is_err() {
            self.state.lock().expect("host lock").pending.remove(&rid);
            return Err((ErrorCode::WrongDest.as_str().to_owned(), Cbor::Null));
        }
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err((ErrorCode::WrongDest.as_str().to_owned(), Cbor::Null)),
            Err(_) => {
                self.state.lock().expect("host lock").pending.remove(&rid);
                Err((ErrorCode::Timeout.as_str().to_owned(), Cbor::Null))
            }
        }
    }

    /// Asks actor `n` to drain (or stop, with `stop`) and waits for its answer, at most
    /// `wait`.
    pub(super) async fn finish(&self, n: u64, stop: bool, wait: Duration) {
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.state.lock().expect("host lock");
            let Some(slot) = st.actors.get_mut(&n) else { return };
            if stop {
                slot.stopped = Some(tx);
            } else {
                slot.drained = Some(tx);
            }
        }
        let frame = if stop { ToProgram::Stop { actor: n } } else { ToProgram::Drain { actor: n } };
        if self.out.send(frame).is_ok() && tokio::time::timeout(wait, rx).await.is_err() {
            let what = if stop { "deinit" } else { "drain" };
            tracing::warn!(host = %self.label, actor = n, "{what} did not finish within {wait:?}");
        }
        if stop {
            self.forget_actor(n);
        }
    }

    /// Sends a frame to the program (a call's result); false when it is gone.
    pub(super) fn send(&self, frame: ToProgram) -> bool {
        self.out.send(frame).is_ok()
    }

    /// Drops actor `n`; a program left with no actor is told to finish.
    fn forget_actor(&self, n: u64) {
        let empty = {
            let mut st = self.state.lock().expect("host lock");
            st.actors.remove(&n);
            st.actors.is_empty()
        };
        if empty {
            self.close();
        }
    }

    /// Closes the socket: the program exits; after [`EXIT_GRACE`] it is killed.
    pub(super) fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            if let Some(forget) = self.on_exit.lock().expect("host lock").take() {
                forget();
            }
            self.closing.notify_one();
        }
    }

    /// Kills the program at once.
    async fn kill(&self) {
        if let Some(child) = self.child.lock().await.as_mut() {
            let _ = child.start_kill();
        }
    }

    fn actor_ctx(&self, n: u64) -> Option<Context> {
        self.state.lock().expect("host lock").actors.get(&n).and_then(|s| s.ctx.clone())
    }

    /// Handles one frame from the program; an error ends the program.
    fn on_frame(self: &Arc<Self>, frame: FromProgram) -> Result<(), String> {
        match frame {
            FromProgram::Hello { .. } => return Err("a second hello".to_owned()),
            FromProgram::Pong { .. } => {}
            FromProgram::Ready { actor } | FromProgram::Failed { actor, .. } => {
                let answer = match frame {
                    FromProgram::Failed { error, data, .. } => {
                        Err((error, data.unwrap_or(Cbor::Null)))
                    }
                    _ => Ok(Cbor::Null),
                };
                let waiting = self
                    .state
                    .lock()
                    .expect("host lock")
                    .actors
                    .get_mut(&actor)
                    .and_then(|s| s.init.take());
                match waiting {
                    Some(tx) => {
                        let _ = tx.send(answer);
                    }
                    None => {
                        tracing::warn!(host = %self.label, actor, "ready or failed for an actor not starting; ignored")
                    }
                }
            }
            FromProgram::Answer { rid, ok, data, error } => {
                let waiting = self.state.lock().expect("host lock").pending.remove(&rid);
                let answer = if ok {
                    Ok(data)
                } else {
                    Err((error.unwrap_or_else(|| ErrorCode::Exception.as_str().to_owned()), data))
                };
                match waiting {
                    Some(tx) => {
                        let _ = tx.send(answer);
                    }
                    None => {
                        tracing::debug!(host = %self.label, rid, "answer to a request no longer waited for (timed out); dropped")
                    }
                }
            }
            FromProgram::Drained { actor } | FromProgram::Stopped { actor } => {
                let stopped = matches!(frame, FromProgram::Stopped { .. });
                let mut st = self.state.lock().expect("host lock");
                let tx = st
                    .actors
                    .get_mut(&actor)
                    .and_then(|s| if stopped { s.stopped.take() } else { s.drained.take() });
                if let Some(tx) = tx {
                    let _ = tx.send(());
                }
            }
            FromProgram::StopSelf { actor } => {
                if let Some(ctx) = self.actor_ctx(actor) {
                    ctx.stop_self();
                }
            }
            FromProgram::Stat { actor, name, value } => {
                if let Some(ctx) = self.actor_ctx(actor) {
                    ctx.stats().set_custom(&name, value);
                }
            }
            FromProgram::Log { actor, level, message } => {
                let actor = actor.and_then(|a| self.actor_ctx(a)).map(|c| c.id().to_string());
                let actor = actor.as_deref().unwrap_or("-");
                match level.as_str() {
                    "critical" | "error" => tracing::error!(host = %self.label, actor, "{message}"),
                    "warn" | "warning" => tracing::warn!(host = %self.label, actor, "{message}"),
                    "debug" => tracing::debug!(host = %self.label, actor, "{message}"),
                    _ => tracing::info!(host = %self.label, actor, "{message}"),
                }
            }
            FromProgram::Call { actor, cid, call } => match self.actor_ctx(actor) {
                Some(ctx) => {
                    let host = self.clone();
                    tokio::spawn(async move {
                        let (ok, data, error) = match calls::execute(&ctx, call).await {
                            Ok(data) => (true, data, None),
                            Err((error, data)) => (false, data, Some(error)),
                        };
                        host.send(ToProgram::Result { cid, ok, data, error });
                    });
                }
                None => {
                    let error = format!("call from actor {actor}, which this program does not run");
                    self.send(ToProgram::Result {
                        cid,
                        ok: false,
                        data: Cbor::Null,
                        error: Some(error),
                    });
                }
            },
        }
        Ok(())
    }

    /// The program is gone: its requests fail at once (callers retry elsewhere), waiting
    /// spawns and stops end, and its actors leave the directory.
    fn gone(&self) {
        self.close();
        let (pending, actors) = {
            let mut st = self.state.lock().expect("host lock");
            (std::mem::take(&mut st.pending), std::mem::take(&mut st.actors))
        };
        for tx in pending.into_values() {
            let _ = tx.send(Err((ErrorCode::WrongDest.as_str().to_owned(), Cbor::Null)));
        }
        for slot in actors.into_values() {
            if let Some(ctx) = slot.ctx
                && !ctx.is_stopped()
                && slot.stopped.is_none()
            {
                tracing::warn!(host = %self.label, actor = %ctx.id(), "actor program exited; removing the actor");
                ctx.stop_self();
            }
        }
    }
}

/// Writes frames as they come, batching what is queued into one write; closes the socket when
/// told, and then lets the program finish (killing it after [`EXIT_GRACE`]).
async fn write_loop(
    host: Arc<Host>,
    mut w: tokio::net::unix::OwnedWriteHalf,
    codec: FrameCodec,
    mut rx: mpsc::UnboundedReceiver<ToProgram>,
) {
    let mut out = BytesMut::new();
    loop {
        let frame = tokio::select! {
            biased;
            () = host.closing.notified() => break,
            f = rx.recv() => match f { Some(f) => f, None => break },
        };
        out.clear();
        let mut next = Some(frame);
        while let Some(frame) = next {
            if let Err(e) = codec.encode_value(&frame, &mut out) {
                refuse(&host, frame, &e.to_string());
            }
            next = if out.len() < 64 * 1024 { rx.try_recv().ok() } else { None };
        }
        if w.write_all(&out).await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
    drop(w);
    let child = host.child.lock().await.take();
    if let Some(mut child) = child {
        let status = match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
            Ok(status) => status_text(status),
            Err(_) => {
                let _ = child.start_kill();
                format!("killed after {EXIT_GRACE:?}: {}", status_text(child.wait().await))
            }
        };
        tracing::info!(host = %host.label, "actor program finished ({status})");
    }
}

/// A frame too large to send: a request or an init gets its error at once, a call result an
/// error instead.
fn refuse(host: &Host, frame: ToProgram, why: &str) {
    match frame {
        ToProgram::Request { rid, .. } => {
            if let Some(tx) = host.state.lock().expect("host lock").pending.remove(&rid) {
                let _ = tx.send(Err((format!("request too large: {why}"), Cbor::Null)));
            }
        }
        ToProgram::Result { cid, .. } => {
            let error = Some(format!("reply too large: {why}"));
            host.send(ToProgram::Result { cid, ok: false, data: Cbor::Null, error });
        }
        ToProgram::Init { actor, .. } => {
            let mut st = host.state.lock().expect("host lock");
            if let Some(tx) = st.actors.get_mut(&actor).and_then(|slot| slot.init.take()) {
                let _ = tx.send(Err((format!("parameters too large: {why}"), Cbor::Null)));
            }
        }
        other => tracing::warn!(host = %host.label, "frame not sent ({why}): {other:?}"),
    }
}

/// Reads the program's frames until its socket ends or it breaks the protocol.
async fn read_loop(
    host: Arc<Host>,
    mut r: tokio::net::unix::OwnedReadHalf,
    codec: FrameCodec,
    mut buf: BytesMut,
) {
    loop {
        match read_frame(&mut r, &codec, &mut buf).await {
            Ok(Some(frame)) => {
                host.heard.store(host.born.elapsed().as_millis() as u64, Ordering::Relaxed);
                if let Err(e) = host.on_frame(frame) {
                    tracing::warn!(host = %host.label, "protocol error: {e}; stopping the program");
                    host.kill().await;
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(host = %host.label, "protocol error: {e}; stopping the program");
                host.kill().await;
                break;
            }
        }
    }
    host.gone();
}

/// Pings the program every [`KEEPALIVE`]; kills it when it was silent for [`SILENT_LIMIT`].
async fn keepalive(host: std::sync::Weak<Host>) {
    let mut n = 0;
    loop {
        tokio::time::sleep(KEEPALIVE).await;
        let Some(host) = host.upgrade() else { return };
        if host.is_closed() {
            return;
        }
        let heard = Duration::from_millis(host.heard.load(Ordering::Relaxed));
        if host.born.elapsed().saturating_sub(heard) > SILENT_LIMIT {
            tracing::warn!(host = %host.label, "actor program silent for {SILENT_LIMIT:?} (no answer to pings); killing it");
            host.kill().await;
            return;
        }
        n += 1;
        host.send(ToProgram::Ping { n });
    }
}

/// The next frame; `Ok(None)` when the socket ended between frames.
async fn read_frame(
    r: &mut tokio::net::unix::OwnedReadHalf,
    codec: &FrameCodec,
    buf: &mut BytesMut,
) -> Result<Option<FromProgram>, String> {
    loop {
        if let Some(frame) = codec.decode_value::<FromProgram>(buf).map_err(|e| e.to_string())? {
            return Ok(Some(frame));
        }
        match r.read_buf(buf).await {
            Ok(0) if buf.is_empty() => return Ok(None),
            Ok(0) => return Err("the socket closed in the middle of a frame".to_owned()),
            Ok(_) => {}
            Err(e) => return Err(format!("socket: {e}")),
        }
    }
}

async fn write_frame(
    w: &mut tokio::net::unix::OwnedWriteHalf,
    codec: &FrameCodec,
    frame: &ToProgram,
) -> Result<(), String> {
    let mut out = BytesMut::new();
    codec.encode_value(frame, &mut out).map_err(|e| e.to_string())?;
    w.write_all(&out).await.map_err(|e| e.to_string())
}

/// Logs the program's output line by line, as printed.
async fn log_lines(
    stream: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    label: String,
    is_err: bool,
) {
    let mut lines = tokio::io::BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if is_err {
            tracing::warn!(host = %label, "{line}");
        } else {
            tracing::info!(host = %label, "{line}");
        }
    }
}

async fn exit_reason(child: &mut tokio::process::Child, what: &str) -> String {
    match tokio::time::timeout(Duration::from_secs(1), child.wait()).await {
        Ok(status) => format!("the program {what} ({})", status_text(status)),
        Err(_) => format!("the program {what}"),
    }
}

fn status_text(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => e.to_string(),
    }
}

/// An error message with its data (a traceback) appended, for a spawn's error.
fn with_detail(error: String, data: &Cbor) -> String {
    match data {
        Cbor::Null => error,
        Cbor::Text(t) => format!("{error}\n{}", t.trim_end()),
        other => format!("{error} ({other:?})"),
    }
}
