//! `beach bench --target local`: everything in this process, on the in-memory network with no
//! added latency. A driver actor asks an `Echo` actor on the same node (the actor-to-actor
//! path, no encoding, no socket); then the spawn rate and the memory an idle actor costs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use beach_core::actor::{Actor, Context, InitError, Message, Request, Response};
use beach_core::client::ClientBuilder;
use beach_core::config::ClusterConfig;
use beach_core::model::Endpoint;
use beach_core::node::NodeBuilder;
use beach_core::runtime::{Runtime, TokioRuntime};
use beach_core::value::Payload;
use beach_transport_mem::{LinkConfig, MemNetwork};
use serde::{Deserialize, Serialize};

use crate::args::BenchArgs;
use crate::bench_measure::{Plan, Workloads, measure, serde_bytes_of};
use crate::outcome::Failure;

/// What the driver is asked to do.
#[derive(Debug, Serialize, Deserialize)]
struct Run {
    plan: Plan,
    payload: usize,
}

impl Message for Run {
    const KIND: &'static str = "run";
    type Reply = Workloads;
}

/// Measures `bench/echo` and `bench/fan` from its own node (see [`measure`]).
struct Driver;

#[async_trait]
impl Actor for Driver {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Ok(Driver)
    }

    async fn handle(&self, ctx: &Context, request: Request) -> Response {
        let run = match request.message::<Run>() {
            Ok(r) => r,
            Err(answer) => return answer,
        };
        let echo = ctx.handle("bench/echo").timeout(Duration::from_secs(10));
        let fan = ctx.handle("bench/fan").timeout(Duration::from_secs(10));
        let data = match Payload::encode(&serde_bytes_of(run.payload)) {
            Ok(d) => d,
            Err(e) => return Response::error(e.to_string()),
        };
        match measure("local", &echo, &fan, &data, run.plan).await {
            Ok(w) => Run::reply(&w),
            Err(e) => Response::error(e.to_string()),
        }
    }
}

/// The resident memory of this process, in bytes; `None` without `/proc` (not Linux).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// What `--target local` measures.
#[derive(Debug)]
pub(crate) struct LocalFigures {
    pub(crate) workloads: Workloads,
    pub(crate) spawn_per_s: f64,
    /// `None` where this process's resident memory cannot be read.
    pub(crate) idle_bytes_per_actor: Option<f64>,
    pub(crate) idle_actors: u32,
}

/// Runs the local workloads: actor-to-actor requests and fan-out, then `args.actors` idle
/// actors.
pub(crate) async fn run(args: &BenchArgs) -> Result<LocalFigures, Failure> {
    let actors = args.actors;
    let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime);
    let net = MemNetwork::new(rt.clone(), 1);
    net.set_default_link(LinkConfig { latency: Duration::ZERO, ..LinkConfig::default() });
    let endpoint = Endpoint::new("local:1").expect("valid");
    let config = ClusterConfig { actor_queue_limit: 1_000_000, ..ClusterConfig::default() };
    let node = NodeBuilder::new()
        .config(&config)
        .listen(endpoint.to_string())
        .registry(beach_node::actors::builtin_registry().with::<Driver>("BenchDriver"))
        .transport(net.transport(endpoint.as_str()))
        .runtime(rt.clone())
        .start()
        .await
        .map_err(|e| Failure::usage(format!("cannot start a node: {e}")))?;
    let client = ClientBuilder::new()
        .config(&config)
        .seed(endpoint.to_string())
        .request_timeout(Duration::from_secs(600))
        .transport(net.transport("bench-client"))
        .runtime(rt)
        .connect()
        .await?;
    let spec = |t: &str, c: &str| client.actor(t, [c]);
    client.add_actor(spec("Echo", "bench/echo")).await?;
    client.add_actor(spec("Echo", "bench/fan").count(args.fanout)).await?;
    client.add_actor(spec("BenchDriver", "bench/driver")).await?;
    let workloads = client
        .handle("bench/driver")
        .timeout(Duration::from_secs(600))
        .ask(Run { plan: args.plan(), payload: args.payload })
        .await
        .map_err(|e| Failure::cluster(e.to_string()))?;

    // Spawn rate and idle memory: `actors` Echo actors in one call.
    let before = rss_bytes();
    let start = Instant::now();
    client.add_actor(spec("Echo", "bench/idle").count(actors)).await?;
    let spawn_per_s = f64::from(actors) / start.elapsed().as_secs_f64();
    let after = rss_bytes();
    let idle_bytes_per_actor =
        before.zip(after).map(|(b, a)| a.saturating_sub(b) as f64 / f64::from(actors));
    client.close();
    node.kill();
    Ok(LocalFigures { workloads, spawn_per_s, idle_bytes_per_actor, idle_actors: actors })
}
