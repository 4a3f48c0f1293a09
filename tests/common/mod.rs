//! Actors and helpers shared by the simulation tests.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use beach::actor::{Actor, Context, InitError, Message, Registry, Request, Response};
use beach::model::ActorId;
use beach_node::actors::builtin_registry;
use beach_transport_mem::SimCluster;
use serde::{Deserialize, Serialize};

/// An actor's id, as [`Whoami`] answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Id {
    pub id: String,
}

impl Id {
    pub fn actor(&self) -> ActorId {
        self.id.parse().expect("an actor id")
    }
}

/// `who`: [`Whoami`] answers with its id.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Who;
impl Message for Who {
    const KIND: &'static str = "who";
    type Reply = Id;
}

/// `incr`: [`Counter`] adds one and answers the count.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Incr;
impl Message for Incr {
    const KIND: &'static str = "incr";
    type Reply = u64;
}

/// `count`: [`Counter`] answers the count.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Count;
impl Message for Count {
    const KIND: &'static str = "count";
    type Reply = u64;
}

/// `down` n: [`Countdown`] answers n after a chain n deep.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Down(pub u64);
impl Message for Down {
    const KIND: &'static str = "down";
    type Reply = u64;
}

beach::messages! {
    enum CounterRequest { Incr(Incr), Count(Count) }
}

/// Answers every request with its own id.
pub struct Whoami;

#[async_trait]
impl Actor for Whoami {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Ok(Whoami)
    }
    async fn handle(&self, ctx: &Context, _request: Request) -> Response {
        Response::ok(&Id { id: ctx.id().to_string() })
    }
}

/// `incr` adds one, `count` tells the count.
pub struct Counter(AtomicU64);

#[async_trait]
impl Actor for Counter {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Ok(Counter(AtomicU64::new(0)))
    }
    async fn handle(&self, _ctx: &Context, request: Request) -> Response {
        match request.decode::<CounterRequest>() {
            Ok(CounterRequest::Incr(_)) => {
                Incr::reply(&(self.0.fetch_add(1, Ordering::SeqCst) + 1))
            }
            Ok(CounterRequest::Count(_)) => Count::reply(&self.0.load(Ordering::SeqCst)),
            Err(answer) => answer,
        }
    }
}

/// Refuses to start.
pub struct Failing;

#[async_trait]
impl Actor for Failing {
    /// Fails on every node, or with the parameter `fail_on` only on the node of that address.
    async fn init(ctx: &Context) -> Result<Self, InitError> {
        match ctx.param::<String>("fail_on") {
            Some(Ok(node)) if node != ctx.node().endpoint().as_str() => Ok(Failing),
            _ => Err(InitError::new("boom: parameter `db` is missing")),
        }
    }
    async fn handle(&self, _ctx: &Context, _request: Request) -> Response {
        Response::unsupported()
    }
}

/// Panics in init.
pub struct PanicInit;

#[async_trait]
impl Actor for PanicInit {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        panic!("init exploded")
    }
    async fn handle(&self, _ctx: &Context, _request: Request) -> Response {
        Response::unsupported()
    }
}

/// `panic` panics, anything else answers `ok`.
pub struct Panicky;

#[async_trait]
impl Actor for Panicky {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Ok(Panicky)
    }
    async fn handle(&self, _ctx: &Context, request: Request) -> Response {
        if request.kind() == "panic" {
            panic!("handler exploded");
        }
        Response::ok("ok")
    }
}

/// `quit` stops the actor.
pub struct Quitter;

#[async_trait]
impl Actor for Quitter {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Ok(Quitter)
    }
    async fn handle(&self, ctx: &Context, request: Request) -> Response {
        if request.kind() == "quit" {
            ctx.stop_self();
        }
        Response::empty()
    }
}

/// Takes two seconds to start.
pub struct SlowInit;

#[async_trait]
impl Actor for SlowInit {
    async fn init(ctx: &Context) -> Result<Self, InitError> {
        ctx.sleep(Duration::from_secs(2)).await;
        Ok(SlowInit)
    }
    async fn handle(&self, _ctx: &Context, _request: Request) -> Response {
        Response::empty()
    }
}

/// `secret` answers its private parameter `_secret`.
pub struct Secretive;

#[async_trait]
impl Actor for Secretive {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Ok(Secretive)
    }
    async fn handle(&self, ctx: &Context, _request: Request) -> Response {
        match ctx.param::<String>("_secret") {
            Some(Ok(s)) => Response::ok(&s),
            _ => Response::error("no secret"),
        }
    }
}

/// Asks its resource `backend` for `ping` and answers with the reply: actor-to-actor calls.
pub struct Relay;

#[async_trait]
impl Actor for Relay {
    async fn init(ctx: &Context) -> Result<Self, InitError> {
        if ctx.resource("backend").is_none() {
            return Err(InitError::new("resource `backend` is required"));
        }
        Ok(Relay)
    }
    async fn handle(&self, ctx: &Context, request: Request) -> Response {
        let backend = ctx.resource("backend").expect("checked in init");
        match backend.request_payload(request.kind(), request.payload().clone()).await {
            Ok(p) => Response::payload(p),
            Err(e) => Response::error(e.message()),
        }
    }
}

/// `work` takes a second, then answers `done`.
pub struct Worker;

#[async_trait]
impl Actor for Worker {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Ok(Worker)
    }
    async fn handle(&self, ctx: &Context, _request: Request) -> Response {
        ctx.sleep(Duration::from_secs(1)).await;
        Response::ok("done")
    }
}

/// `down` with n asks its own category `down` with n - 1 and answers 1 + that, down to 0: a
/// chain of requests nested n deep, each answered at once.
pub struct Countdown;

#[async_trait]
impl Actor for Countdown {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Ok(Countdown)
    }
    async fn handle(&self, ctx: &Context, request: Request) -> Response {
        let n: u64 = match request.data() {
            Ok(n) => n,
            Err(e) => return Response::error(e.to_string()),
        };
        if n == 0 {
            return Response::ok(&0u64);
        }
        if request.kind() == "shoot" {
            // One-way to itself: a loop of messages, never a nested call.
            let _ = ctx.handle("countdown").shoot("shoot", &(n - 1));
            return Response::ok(&n);
        }
        let handle = ctx.handle("countdown").timeout(Duration::from_secs(60));
        match handle.ask(Down(n - 1)).await {
            Ok(below) => Response::ok(&(below + 1)),
            Err(e) => Response::error(e.message()),
        }
    }
}

/// `add` with a key: counts per key; answers who counted it and the key's count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Add {
    pub key: String,
}
impl Message for Add {
    const KIND: &'static str = "add";
    type Reply = (String, u64);
}

/// Keeps a count per key: a shard of a keyed store, for affinity tests.
pub struct Tally(std::sync::Mutex<std::collections::BTreeMap<String, u64>>);

#[async_trait]
impl Actor for Tally {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Ok(Tally(Default::default()))
    }
    async fn handle(&self, ctx: &Context, request: Request) -> Response {
        match request.message::<Add>() {
            Ok(Add { key }) => {
                let mut counts = self.0.lock().unwrap();
                let n = counts.entry(key).or_default();
                *n += 1;
                Add::reply(&(ctx.id().to_string(), *n))
            }
            Err(answer) => answer,
        }
    }
}

/// The built-in actors plus the test actors above.
pub fn registry() -> Registry {
    builtin_registry()
        .with::<Whoami>("Whoami")
        .with::<Tally>("Tally")
        .with::<Counter>("Counter")
        .with::<Failing>("Failing")
        .with::<PanicInit>("PanicInit")
        .with::<Panicky>("Panicky")
        .with::<Quitter>("Quitter")
        .with::<SlowInit>("SlowInit")
        .with::<Secretive>("Secretive")
        .with::<Relay>("Relay")
        .with::<Worker>("Worker")
        .with::<Countdown>("Countdown")
}

/// Waits until every running node knows the others and holds the same directory.
pub async fn converge(sim: &SimCluster, limit: Duration) -> Duration {
    sim.run_until(limit, |s| s.converged())
        .await
        .unwrap_or_else(|| panic!("no convergence within {limit:?} (seed {})", sim.seed()))
}

/// Whether node `i`'s directory view holds any actor hosted on `owner`'s endpoint with a
/// generation other than `keep`.
pub fn knows_actors_of(sim: &SimCluster, i: usize, owner: &beach::model::NodeId) -> bool {
    sim.live(i)
        .directory()
        .lookup(&beach::model::Realm::global(), "")
        .iter()
        .any(|a| a.node() == owner)
}

/// Polls `done` every 10 ms of the runtime's clock until it holds or `limit` passes; whether
/// it held. For tests on real time (TCP); simulations use `SimCluster::run_until`.
pub async fn poll(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = tokio::time::Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

/// Starts a node over TCP on a free loopback port with the cluster `secret` and this suite's
/// actors, announcing itself to `seed` when given.
pub async fn tcp_node(
    config: &beach::config::ClusterConfig,
    secret: &beach::auth::Secret,
    seed: Option<String>,
) -> beach::node::Node {
    let mut b = beach::node::NodeBuilder::new()
        .config(config)
        .listen("127.0.0.1:0")
        .secret(secret.clone())
        .registry(registry())
        .transport_with(beach_transport_tcp::TcpTransport::make);
    if let Some(s) = seed {
        b = b.seed(s);
    }
    b.start().await.expect("a TCP node starts")
}
