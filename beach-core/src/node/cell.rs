//! Hosted actors and serving their requests: admission, concurrency limits, running handlers
//! in place or in tasks, and the replies.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{Semaphore, oneshot};
use tracing::Instrument;

use super::NodeInner;
use crate::ErrorCode;
use crate::actor::{self, Actor, ActorStats, Context, Response, panic_message};
use crate::link::Outbox;
use crate::model::{ActorId, Realm};
use crate::value::{Payload, Value};
use crate::wire::{self, Envelope, RemoteError, SpawnSpec};

/// How long a stopping actor's in-flight requests may take before they are aborted.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// The most actors one spawn call may add.
pub const MAX_SPAWN_COUNT: u32 = crate::wire::MAX_SPAWN_COUNT;

/// What a parameter value is shown as in metadata when its key starts with `_`.
pub const PRIVATE: &str = "<PRIVATE>";

/// One hosted actor.
pub(crate) struct ActorCell {
    pub(crate) id: ActorId,
    pub(crate) realm: Realm,
    /// Shared by every actor of one spawn call.
    pub(crate) spec: Arc<SpawnSpec>,
    pub(crate) actor: Arc<dyn Actor>,
    pub(crate) ctx: Context,
    pub(crate) stats: Arc<ActorStats>,
    pub(super) limit: Option<Arc<Semaphore>>,
    /// Requests accepted and not yet finished (running or waiting for a permit).
    pub(super) admitted: AtomicUsize,
}

impl ActorCell {
    /// Its statistics as the wire carries them (`beach load`).
    pub(crate) fn load(&self, now: std::time::Instant) -> wire::ActorLoad {
        let latency = self.stats.latency();
        wire::ActorLoad {
            id: self.id.clone(),
            in_flight: self.stats.in_flight(),
            received: self.stats.received_count(),
            replied: self.stats.replied_count(),
            queue_full: self.stats.queue_full_count(),
            dropped: self.stats.dropped_count(),
            errors: self.stats.errors(),
            mean_ms: latency.mean().as_secs_f64() * 1000.0,
            p50_ms: latency.quantile(0.5).as_secs_f64() * 1000.0,
            p99_ms: latency.quantile(0.99).as_secs_f64() * 1000.0,
            custom: self.stats.custom(now),
            per_second: self.stats.per_second(now),
        }
    }

    /// The parameters with private ones masked, for metadata views.
    pub(crate) fn public_params(&self) -> BTreeMap<String, Value> {
        mask_private(&self.spec.parameters)
    }
}

/// `params` with the value of every key starting with `_` shown as [`PRIVATE`], at every
/// depth: `{"db": {"_password": ...}}` hides the password too.
pub(crate) fn mask_private(params: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    fn mask(v: &Value) -> Value {
        match v {
            Value::Map(m) => Value::Map(mask_private(m)),
            Value::Array(a) => Value::Array(a.iter().map(mask).collect()),
            other => other.clone(),
        }
    }
    params
        .iter()
        .map(|(k, v)| (k.clone(), if k.starts_with('_') { Value::from(PRIVATE) } else { mask(v) }))
        .collect()
}

/// Where a request's answer goes.
pub(crate) enum ReplyTo {
    /// Back on the connection it came from.
    Link(Outbox),
    /// To a caller on this node.
    Local(oneshot::Sender<Result<Payload, RemoteError>>),
    /// Nowhere: a one-way message.
    Nobody,
}

impl ReplyTo {
    fn send(self, id: u64, attempt: u32, result: Result<Payload, RemoteError>) {
        match self {
            ReplyTo::Link(o) => {
                let _ = o.send(Envelope::Reply(wire::Reply { id, attempt, result }));
            }
            ReplyTo::Local(tx) => {
                let _ = tx.send(result);
            }
            ReplyTo::Nobody => {}
        }
    }
}

/// Counts a request as finished when dropped: on completion, on a dropped deadline, and when
/// the actor's tasks are aborted.
struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn error(message: &str) -> Result<Payload, RemoteError> {
    Err(RemoteError { error: message.to_owned(), data: None })
}

/// Runs one admitted request on `cell`: waits for a permit under a concurrency limit, drops
/// the request if its caller has given up meanwhile, runs the handler (a panic becomes an
/// `exception` error) inside a `request` span with the request's id (a child of the actor's
/// span, so every line the handler logs names both: for every actor when the node logs at
/// `debug`, for a traced actor or one with its own level at any level), and records the
/// statistics. An actor spawned with `trace` logs each request it receives and how it ends.
async fn run_handler(
    cell: Arc<ActorCell>,
    rt: Arc<dyn crate::runtime::Runtime>,
    req: wire::ActorCall,
) -> Option<Result<Payload, RemoteError>> {
    let _admitted = Admitted(&cell.admitted);
    let admitted_at = rt.now();
    let deadline =
        crate::routing::deadline_after(admitted_at, Duration::from_millis(req.timeout_ms));
    let (start, _permit) = match &cell.limit {
        Some(limit) => {
            let permit = limit.clone().acquire_owned().await.ok();
            let start = rt.now();
            if start >= deadline {
                // The caller has given up: the work would be wasted.
                cell.stats.dropped();
                return None;
            }
            (start, permit)
        }
        None => (admitted_at, None),
    };
    cell.stats.started();
    // The request's span costs an allocation per request where it is enabled: at `info` for
    // an actor traced or with a log level of its own, else at `debug` (so off in a node
    // logging at `info`, and free there).
    let span = if cell.spec.trace || cell.spec.log_level.is_some() {
        tracing::info_span!(parent: cell.ctx.span(), "request", id = req.id, kind = %req.kind)
    } else {
        tracing::debug_span!(parent: cell.ctx.span(), "request", id = req.id, kind = %req.kind)
    };
    if cell.spec.trace {
        tracing::info!(parent: &span, ident = ?req.ident, attempt = req.attempt, timeout_ms = req.timeout_ms, "received");
    }
    let request = actor::Request::from_wire(req, deadline);
    let handled = cell.actor.handle(&cell.ctx, request).instrument(span.clone());
    let response = match AssertUnwindSafe(handled).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => {
            let message = panic_message(&*panic);
            tracing::warn!(actor = %cell.id, %message, "handler panicked");
            Response::error_with(ErrorCode::Exception.as_str(), &message)
        }
    };
    let result = response.into_result();
    let now = rt.now();
    cell.stats.finished(now, now - start, result.as_ref().err().map(|e| e.error.as_str()));
    if cell.spec.trace {
        let outcome = result.as_ref().err().map_or("ok", |e| e.error.as_str());
        let micros = (now - start).as_micros() as u64;
        tracing::info!(parent: &span, outcome, micros, "answered");
    }
    Some(result)
}

/// A request's work from admission to its answer; `None` when it was dropped because its
/// caller had already given up.
type Job = Pin<Box<dyn Future<Output = Option<Result<Payload, RemoteError>>> + Send>>;

/// What serving a request led to.
pub(crate) enum Served {
    /// The outcome is known at once: a refusal, or a handler that finished without waiting
    /// (most do). `None`: dropped, its caller had given up.
    Done(Option<Result<Payload, RemoteError>>),
    /// The handler is waiting on something: [`Running::finish`] hands it to the actor's tasks.
    Running(Running),
}

/// A handler that did not finish on its first poll.
pub(crate) struct Running {
    cell: Arc<ActorCell>,
    job: Job,
    id: u64,
    attempt: u32,
}

/// How many handlers may be polled inside one another on a thread: a handler polled in place
/// that asks an actor on its own node polls that one in place too, and so on. Past this depth
/// handlers start in tasks of their own, so a deep (or endless) chain of requests costs tasks,
/// never the thread's stack.
const MAX_NESTED_POLLS: u32 = 8;

thread_local! {
    /// The handlers being polled in place on this thread, one inside the other.
    static NESTED_POLLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Counts one handler polled in place for as long as it lives.
struct NestedPoll;

impl NestedPoll {
    fn enter() -> Option<NestedPoll> {
        NESTED_POLLS.with(|n| {
            (n.get() < MAX_NESTED_POLLS).then(|| {
                n.set(n.get() + 1);
                NestedPoll
            })
        })
    }
}

impl Drop for NestedPoll {
    fn drop(&mut self) {
        NESTED_POLLS.with(|n| n.set(n.get() - 1));
    }
}

impl Running {
    /// Polls the handler once on this thread (unless too many are already nested here):
    /// [`Served::Done`] if it finished.
    fn poll_here(mut self) -> Served {
        let Some(_nested) = NestedPoll::enter() else { return Served::Running(self) };
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match self.job.as_mut().poll(&mut cx) {
            Poll::Ready(outcome) => Served::Done(outcome),
            Poll::Pending => Served::Running(self),
        }
    }

    /// Lets the handler run to its end as one of the actor's tasks (stopping the actor aborts
    /// it), then answers `reply`.
    pub(crate) fn finish(self, reply: ReplyTo) {
        let Running { cell, job, id, attempt } = self;
        cell.ctx.spawn(async move {
            if let Some(result) = job.await {
                reply.send(id, attempt, result);
            }
        });
    }
}

impl NodeInner {
    /// Serves one request to a hosted actor, answering `reply`: started here when it expects a
    /// reply (see [`NodeInner::start_serving`]), always in a task of its own when it is a
    /// one-way message (its sender goes on at once, and an actor that messages itself makes a
    /// loop of messages, not a recursion).
    pub(crate) fn serve(&self, req: wire::ActorCall, reply: ReplyTo) {
        let (id, attempt) = (req.id, req.attempt);
        let served = match (&reply, self.admit(req)) {
            (_, Err(refusal)) => Served::Done(Some(refusal)),
            (ReplyTo::Nobody, Ok(running)) => Served::Running(running),
            (_, Ok(running)) => running.poll_here(),
        };
        match served {
            Served::Done(Some(result)) => reply.send(id, attempt, result),
            Served::Done(None) => {}
            Served::Running(running) => running.finish(reply),
        }
    }

    /// Admits a request to a hosted actor and polls its handler once, right here: a handler
    /// that does not wait (an echo, a lookup, a counter) is answered without a task, a
    /// channel or a timer. One that waits comes back as [`Served::Running`]; its boxed
    /// future keeps its place in memory, so the task that takes it over polls it on from
    /// where it stopped (the first poll's waker is a no-op, the task's first poll registers
    /// its own).
    pub(crate) fn start_serving(&self, req: wire::ActorCall) -> Served {
        match self.admit(req) {
            Ok(running) => running.poll_here(),
            Err(refusal) => Served::Done(Some(refusal)),
        }
    }

    /// The checks before a request runs: the actor is here and serving, trusts the caller's
    /// ident, and has room. `Err` is the answer to send at once.
    fn admit(&self, req: wire::ActorCall) -> Result<Running, Result<Payload, RemoteError>> {
        let cell = self.lock().actors.get(&req.to).cloned();
        let Some(cell) = cell.filter(|c| c.realm == req.realm && !c.ctx.is_stopped()) else {
            return Err(error(ErrorCode::WrongDest.as_str()));
        };
        cell.stats.received();
        if !cell.spec.trusted.is_empty()
            && !req.ident.as_ref().is_some_and(|i| cell.spec.trusted.contains(i))
        {
            cell.stats.error(ErrorCode::Unauthorized.as_str());
            return Err(error(ErrorCode::Unauthorized.as_str()));
        }
        // With a concurrency limit of n, n requests run and `actor_queue_limit` more wait;
        // without one, at most `actor_queue_limit` run at once. Past that the answer is
        // `queue full` at once (a one-way message is dropped and counted): no sender can grow
        // a node's memory without bound. Counted here, synchronously, so a burst that arrives
        // in one batch is judged request by request.
        let capacity = match cell.spec.n_concurrent {
            Some(n) => (n.max(1) as usize).saturating_add(self.config.actor_queue_limit),
            None => self.config.actor_queue_limit.max(1),
        };
        if cell.admitted.fetch_add(1, Ordering::AcqRel) >= capacity {
            cell.admitted.fetch_sub(1, Ordering::AcqRel);
            cell.stats.queue_full();
            return Err(error(ErrorCode::QueueFull.as_str()));
        }
        let (id, attempt) = (req.id, req.attempt);
        let job = Box::pin(run_handler(cell.clone(), self.runtime.clone(), req));
        Ok(Running { cell, job, id, attempt })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_parameters_are_masked_at_every_depth() {
        let secret = || Value::from("s3cret");
        let params = BTreeMap::from([
            ("_top".to_owned(), secret()),
            ("plain".to_owned(), Value::from(1)),
            (
                "db".to_owned(),
                Value::map([
                    ("_password", secret()),
                    ("hosts", Value::Array(vec![Value::map([("_token", secret())])])),
                ]),
            ),
        ]);
        let shown = format!("{:?}", mask_private(&params));
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(shown.matches(PRIVATE).count(), 3, "{shown}");
        assert!(shown.contains("Integer(1)"), "{shown}");
    }
}
