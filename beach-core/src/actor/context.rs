//! An actor's services, all tied to its lifetime.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use futures::future::{AbortHandle, abortable};
use serde::de::DeserializeOwned;

use super::InitError;
use super::stats::ActorStats;
use super::{Group, Handle, Port};
use crate::model::{ActorId, ActorType, Category, NodeId, Realm};
use crate::routing::Mode;
use crate::runtime::Runtime;
use crate::value::{Value, ValueError};

/// What an actor knows and can do: its id, realm, node, parameters and resources; handles to
/// other categories; timers and tasks that stop when it stops. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Tasks {
    running: BTreeMap<u64, AbortHandle>,
    next: u64,
}

struct Inner {
    id: ActorId,
    realm: Realm,
    actor_type: ActorType,
    params: BTreeMap<String, Value>,
    resources: BTreeMap<String, Category>,
    ident: Option<String>,
    port: Arc<dyn Port>,
    stats: Arc<ActorStats>,
    /// The running tasks (handlers, timers, spawned work), aborted when the actor stops.
    tasks: Mutex<Tasks>,
    stopped: AtomicBool,
    span: tracing::Span,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("id", &self.inner.id)
            .field("realm", &self.inner.realm)
            .finish()
    }
}

/// Everything a context is made of, filled in by the node that spawns the actor.
pub(crate) struct ContextParts {
    pub(crate) id: ActorId,
    pub(crate) realm: Realm,
    pub(crate) actor_type: ActorType,
    pub(crate) params: BTreeMap<String, Value>,
    pub(crate) resources: BTreeMap<String, Category>,
    pub(crate) ident: Option<String>,
    pub(crate) port: Arc<dyn Port>,
    pub(crate) stats: Arc<ActorStats>,
    /// The actor's own log level (its spawn's `log_level`), recorded on its span as `log`.
    pub(crate) log_level: Option<String>,
}

impl Context {
    pub(crate) fn new(p: ContextParts) -> Self {
        let span = tracing::info_span!(
            "actor",
            id = %p.id,
            realm = %p.realm,
            actor_type = %p.actor_type,
            log = tracing::field::Empty
        );
        if let Some(level) = &p.log_level {
            span.record("log", level.as_str());
        }
        Self {
            inner: Arc::new(Inner {
                id: p.id,
                realm: p.realm,
                actor_type: p.actor_type,
                params: p.params,
                resources: p.resources,
                ident: p.ident,
                port: p.port,
                stats: p.stats,
                tasks: Mutex::new(Tasks::default()),
                stopped: AtomicBool::new(false),
                span,
            }),
        }
    }

    /// This actor's id.
    pub fn id(&self) -> &ActorId {
        &self.inner.id
    }

    /// The realm it lives in.
    pub fn realm(&self) -> &Realm {
        &self.inner.realm
    }

    /// Its registered type.
    pub fn actor_type(&self) -> &ActorType {
        &self.inner.actor_type
    }

    /// The node hosting it.
    pub fn node(&self) -> &NodeId {
        self.inner.id.node()
    }

    /// Its parameters, private ones (`_key`) included: they are hidden only from metadata
    /// views.
    pub fn parameters(&self) -> &BTreeMap<String, Value> {
        &self.inner.params
    }

    /// One parameter decoded into `T`; `None` when absent.
    pub fn param<T: DeserializeOwned>(&self, key: &str) -> Option<Result<T, ValueError>> {
        self.inner.params.get(key).map(Value::deserialize_into)
    }

    /// One parameter decoded into `T`, or `default` when absent; a parameter of the wrong
    /// shape is an error naming it, ready for `?` in `init`:
    /// `let greeting: String = ctx.param_or("greeting", "hello".into())?;`
    pub fn param_or<T: DeserializeOwned>(&self, key: &str, default: T) -> Result<T, InitError> {
        match self.param(key) {
            None => Ok(default),
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(InitError::new(format!("parameter `{key}`: {e}"))),
        }
    }

    /// Its resources: logical name → category, so wiring stays out of actor code.
    pub fn resources(&self) -> &BTreeMap<String, Category> {
        &self.inner.resources
    }

    /// A handle to the category a resource names; `None` when the resource is not given.
    pub fn resource(&self, name: &str) -> Option<Handle> {
        self.inner.resources.get(name).map(|c| self.handle(c.as_str()))
    }

    /// A handle to every actor of this realm whose category starts with `category`. Inside
    /// actors the default mode is `local`, and requests carry this actor's ident.
    pub fn handle(&self, category: &str) -> Handle {
        Handle::new(
            self.inner.port.clone(),
            self.inner.realm.clone(),
            category,
            Mode::Local,
            self.inner.ident.clone(),
        )
    }

    /// A group handle over the sub-categories one level below `root`.
    pub fn group(&self, root: &str) -> Group {
        Group::new(self.handle(root))
    }

    /// This actor's counters.
    pub fn stats(&self) -> &ActorStats {
        &self.inner.stats
    }

    pub(super) fn stats_arc(&self) -> &Arc<ActorStats> {
        &self.inner.stats
    }

    /// The tracing span with the actor's id and realm: `let _g = ctx.span().enter();`.
    pub fn span(&self) -> &tracing::Span {
        &self.inner.span
    }

    /// The monotonic clock (virtual in simulations).
    pub fn now(&self) -> Instant {
        self.runtime().now()
    }

    /// Seconds since the Unix epoch, as py-beach's `time.time()` (virtual in simulations).
    pub fn unix_time(&self) -> f64 {
        self.runtime().system_time().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
    }

    /// Stops this actor: it leaves the directory at once, then its in-flight requests drain
    /// and [`crate::actor::Actor::deinit`] runs.
    pub fn stop_self(&self) {
        self.inner.port.stop_actor(&self.inner.id);
    }

    /// Waits `duration` (virtual in simulations).
    pub fn sleep(&self, duration: Duration) -> crate::runtime::BoxFuture<'static, ()> {
        self.runtime().sleep(duration)
    }

    /// Whether the actor has been stopped.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }

    /// Runs `task` in the background until it ends or the actor stops.
    pub fn spawn<F: Future<Output = ()> + Send + 'static>(&self, task: F) {
        if self.is_stopped() {
            return;
        }
        let (task, handle) = abortable(task);
        let key = {
            let mut tasks = self.inner.tasks.lock().expect("context lock");
            tasks.next += 1;
            let key = tasks.next;
            tasks.running.insert(key, handle);
            key
        };
        let inner = Arc::downgrade(&self.inner);
        self.runtime().spawn(Box::pin(async move {
            let _ = task.await;
            if let Some(inner) = inner.upgrade() {
                inner.tasks.lock().expect("context lock").running.remove(&key);
            }
        }));
    }

    /// Calls `f` every `every`, the first time at once, until the actor stops. A call that is
    /// still running when the next is due delays it: calls never overlap.
    pub fn schedule<F, Fut>(&self, every: Duration, f: F)
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let ctx = self.clone();
        self.spawn(async move {
            loop {
                let next = ctx.now() + every;
                f(ctx.clone()).await;
                crate::runtime::sleep_until(ctx.runtime(), next).await;
            }
        });
    }

    /// Calls `f` once after `after`, unless the actor stopped first.
    pub fn delay<F, Fut>(&self, after: Duration, f: F)
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let ctx = self.clone();
        self.spawn(async move {
            ctx.runtime().sleep(after).await;
            f(ctx).await;
        });
    }

    pub(crate) fn runtime(&self) -> &dyn Runtime {
        self.inner.port.runtime()
    }

    /// Stops every task, timer and schedule of the actor.
    pub(crate) fn stop(&self) {
        self.inner.stopped.store(true, Ordering::Release);
        let running = std::mem::take(&mut self.inner.tasks.lock().expect("context lock").running);
        for h in running.into_values() {
            h.abort();
        }
    }
}
