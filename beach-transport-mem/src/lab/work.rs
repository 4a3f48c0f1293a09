//! The lab's actor and the machine model it runs on.
//!
//! Every node has a number of cores: a request holds one while it is served, so a node with
//! more actors than it can serve queues them, and placement shows in tail latency. A slow node
//! multiplies service times. The time cores are busy and the actors' memory make the CPU and
//! memory use each node reports, which is what `resource` placement reads.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use beach_core::actor::{Actor, Context, InitError, Request, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// The actor type the lab spawns.
pub(crate) const WORK_TYPE: &str = "LabWork";
/// The request kind it serves.
pub(crate) const WORK_KIND: &str = "work";
/// The spawn parameter that names the run whose model an actor uses.
const RUN_PARAM: &str = "lab_run";

/// A request: how long it takes on a node that is not slow, and its payload.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Work {
    /// Service time in microseconds.
    pub(crate) us: u64,
    /// Payload, for the wire's sake.
    pub(crate) pad: Bytes,
}

/// One node as the model sees it.
#[derive(Debug)]
struct Machine {
    cores: Arc<Semaphore>,
    core_count: u32,
    memory_mb: u32,
    slow: f64,
    busy: Duration,
}

/// The machines of one run, by endpoint.
#[derive(Debug, Default)]
pub(crate) struct Model {
    machines: Mutex<HashMap<String, Machine>>,
}

impl Model {
    fn with<T>(&self, endpoint: &str, f: impl FnOnce(&mut Machine) -> T) -> Option<T> {
        self.machines.lock().expect("lab model lock").get_mut(endpoint).map(f)
    }

    /// Adds a machine (or resets it, for a restart).
    pub(crate) fn add(&self, endpoint: &str, cores: u32, memory_mb: u32) {
        let m = Machine {
            cores: Arc::new(Semaphore::new(cores as usize)),
            core_count: cores,
            memory_mb,
            slow: 1.0,
            busy: Duration::ZERO,
        };
        self.machines.lock().expect("lab model lock").insert(endpoint.to_owned(), m);
    }

    /// Sets how much slower a machine serves.
    pub(crate) fn set_slow(&self, endpoint: &str, factor: f64) {
        self.with(endpoint, |m| m.slow = factor);
    }

    /// Whether a machine is slow now.
    pub(crate) fn is_slow(&self, endpoint: &str) -> bool {
        self.with(endpoint, |m| m.slow > 1.0).unwrap_or(false)
    }

    /// The busy share of a machine's cores since the last call over `period`, and its memory
    /// in MB; resets the busy time.
    pub(crate) fn take_cpu(&self, endpoint: &str, period: Duration) -> (f64, u32) {
        self.with(endpoint, |m| {
            let busy = std::mem::take(&mut m.busy);
            (busy.as_secs_f64() / (period.as_secs_f64() * f64::from(m.core_count)), m.memory_mb)
        })
        .unwrap_or((0.0, 1))
    }

    async fn serve(&self, endpoint: &str, ctx: &Context, base: Duration) {
        let Some((cores, factor)) = self.with(endpoint, |m| (m.cores.clone(), m.slow)) else {
            return;
        };
        let Ok(_core) = cores.acquire_owned().await else { return };
        let took = base.mul_f64(factor);
        ctx.sleep(took).await;
        self.with(endpoint, |m| m.busy += took);
    }
}

/// The models of the runs going on in this process, by run key.
static RUNS: LazyLock<Mutex<HashMap<String, Arc<Model>>>> = LazyLock::new(Mutex::default);

/// A run's model, registered for its actors to find while the guard lives.
pub(crate) struct RunModel {
    key: String,
    pub(crate) model: Arc<Model>,
}

impl RunModel {
    /// Registers a fresh model under a key unique in this process.
    pub(crate) fn register() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Fixed width, so every run's spawn requests have the same size on the wire.
        let key = format!("{n:016x}");
        let model = Arc::new(Model::default());
        RUNS.lock().expect("lab runs lock").insert(key.clone(), model.clone());
        Self { key, model }
    }

    /// The spawn parameter that ties an actor to this run.
    pub(crate) fn param(&self) -> (&'static str, &str) {
        (RUN_PARAM, &self.key)
    }
}

impl Drop for RunModel {
    fn drop(&mut self) {
        RUNS.lock().expect("lab runs lock").remove(&self.key);
    }
}

/// The lab's actor: serves `work` requests on its machine's cores, answers its id.
pub(crate) struct LabWork {
    model: Arc<Model>,
}

#[async_trait]
impl Actor for LabWork {
    async fn init(ctx: &Context) -> Result<Self, InitError> {
        let key: String = ctx.param_or(RUN_PARAM, String::new())?;
        let model = RUNS.lock().expect("lab runs lock").get(&key).cloned();
        model
            .map(|model| LabWork { model })
            .ok_or_else(|| InitError::new(format!("no lab run {key:?} in this process")))
    }

    async fn handle(&self, ctx: &Context, request: Request) -> Response {
        if request.kind() != WORK_KIND {
            return Response::unsupported();
        }
        match request.data::<Work>() {
            Ok(work) => {
                let endpoint = ctx.node().endpoint().as_str();
                self.model.serve(endpoint, ctx, Duration::from_micros(work.us)).await;
                Response::ok(&ctx.id().to_string())
            }
            Err(e) => Response::error(format!("bad work request: {e}")),
        }
    }
}
