//! The node-side stand-in of an isolated actor: forwards its requests to the process, hands
//! back the answers, and stops the process with the actor.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use beach_core::ErrorCode;
use beach_core::actor::{Actor, Context, InitError, Request, Response};
use beach_core::value::Payload;
use beach_core::wire::{self, Envelope, FrameCodec, RemoteError};
use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};

use super::channel::{NotWritten, read_envelope, write_envelope};

/// The requests forwarded to the process, by their (request id, attempt).
type Pending = Arc<Mutex<BTreeMap<(u64, u32), oneshot::Sender<Result<Payload, RemoteError>>>>>;

/// How long a stopped isolated actor's process has to run `deinit` and exit.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The node-side stand-in of an isolated actor.
pub(super) struct Proxy {
    out: mpsc::UnboundedSender<Envelope>,
    pending: Pending,
    /// Closes the socket's writing side: the process sees the end and finishes.
    closing: Arc<tokio::sync::Notify>,
    child: tokio::sync::Mutex<Option<Child>>,
}

impl Proxy {
    pub(super) fn start(
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
