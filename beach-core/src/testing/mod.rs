//! Testing one actor without a cluster (py-beach's `initTestActor` and `mockRequest`): start it
//! with parameters and resources, stub the categories it calls, send it requests, move its
//! clock to run its timers and schedules, and read its statistics and what it sent.
//!
//! ```
//! use std::time::Duration;
//! use async_trait::async_trait;
//! use beach_core::actor::{Actor, Context, InitError, Message, Request, Response};
//! use beach_core::testing::TestActor;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Price { item: String }
//! impl Message for Price { const KIND: &'static str = "price"; type Reply = u64; }
//!
//! /// Asks `svc/catalog` for a price and adds the tax.
//! struct Till;
//!
//! #[async_trait]
//! impl Actor for Till {
//!     async fn init(_ctx: &Context) -> Result<Self, InitError> { Ok(Till) }
//!
//!     async fn handle(&self, ctx: &Context, request: Request) -> Response {
//!         let price = match request.message::<Price>() {
//!             Ok(price) => price,
//!             Err(answer) => return answer,
//!         };
//!         match ctx.handle("svc/catalog").ask(price).await {
//!             Ok(net) => Price::reply(&(net * 120 / 100)),
//!             Err(e) => Response::error(e.to_string()),
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let till = TestActor::builder()
//!     .stub_message("svc/catalog", |_: Price| 100)
//!     .start::<Till>()
//!     .await
//!     .unwrap();
//! assert_eq!(till.ask(Price { item: "tea".into() }).await.unwrap(), 120);
//! assert_eq!(till.sent()[0].category, "svc/catalog");
//! assert_eq!(till.stats().replied_count(), 1);
//! # }
//! ```

mod clock;
mod port;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use serde::Serialize;

use crate::ErrorCode;
use crate::actor::{
    Actor, ActorStats, Context, ContextParts, InitError, Message, Request, RequestError, Response,
    panic_message,
};
use crate::model::{ActorId, ActorType, Category, Endpoint, NodeId, Realm};
use crate::value::{Payload, Value};
use crate::wire;
use clock::TestClock;
pub use port::SentCall;
use port::{Stub, StubFn, TestPort};

/// How to start an actor under test; [`TestActorBuilder::start`] runs its `init`.
#[derive(Clone, Default)]
pub struct TestActorBuilder {
    params: BTreeMap<String, Value>,
    resources: Vec<(String, String)>,
    ident: Option<String>,
    stubs: Vec<(String, StubFn)>,
    seed: u64,
    timeout: Option<Duration>,
    errors: Vec<String>,
}

impl std::fmt::Debug for TestActorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestActorBuilder")
            .field("params", &self.params)
            .field("resources", &self.resources)
            .field("stubs", &self.stubs.iter().map(|(c, _)| c).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl TestActorBuilder {
    /// With parameter `key` for init.
    pub fn param<T: Serialize + ?Sized>(mut self, key: &str, value: &T) -> Self {
        match Value::from_serialize(value) {
            Ok(v) => {
                self.params.insert(key.to_owned(), v);
            }
            Err(e) => self.errors.push(format!("parameter `{key}`: {e}")),
        }
        self
    }

    /// With resource `name` wired to `category` (stub the category to answer for it).
    pub fn resource(mut self, name: &str, category: &str) -> Self {
        self.resources.push((name.to_owned(), category.to_owned()));
        self
    }

    /// With the ident the actor's own requests carry.
    pub fn ident(mut self, ident: &str) -> Self {
        self.ident = Some(ident.to_owned());
        self
    }

    /// Stubs the actors of `category`: every request the actor sends there (by category
    /// prefix, as handles match) gets `answer`'s response. A category without a stub has no
    /// actors: requests there fail with "no actor".
    pub fn stub(
        mut self,
        category: &str,
        answer: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> Self {
        self.stubs.push((category.to_owned(), Arc::new(answer)));
        self
    }

    /// Stubs the message `M` in `category` with a typed answer; other kinds sent there are
    /// answered `request type not supported by actor`.
    pub fn stub_message<M: Message>(
        self,
        category: &str,
        answer: impl Fn(M) -> M::Reply + Send + Sync + 'static,
    ) -> Self {
        self.stub(category, move |request| match request.message::<M>() {
            Ok(m) => M::reply(&answer(m)),
            Err(refusal) => refusal,
        })
    }

    /// The seed of the actor's random choices (its handles' picks).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The default timeout of the actor's requests and of those sent to it (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs `A`'s `init` in a context made of these settings.
    pub async fn start<A: Actor>(self) -> Result<TestActor, InitError> {
        if !self.errors.is_empty() {
            return Err(InitError::new(self.errors.join("; ")));
        }
        let clock = Arc::new(TestClock::new(self.seed));
        let endpoint = Endpoint::new("test:1").expect("a valid endpoint");
        let node = NodeId::new(endpoint, 1);
        let stubs = self
            .stubs
            .into_iter()
            .enumerate()
            .map(|(i, (category, answer))| Stub {
                category,
                id: NodeId::new(Endpoint::new("stub:1").expect("valid"), 1).actor_id(i as u64 + 1),
                answer,
            })
            .collect();
        let timeout = self.timeout.unwrap_or(Duration::from_secs(5));
        let port = Arc::new(TestPort {
            clock: clock.clone(),
            node: node.clone(),
            stubs,
            sent: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            timeout,
            stopped_itself: AtomicBool::new(false),
            seed: self.seed,
        });
        let mut resources = BTreeMap::new();
        for (name, category) in self.resources {
            let c = Category::new(&category)
                .map_err(|e| InitError::new(format!("resource `{name}`: {e}")))?;
            resources.insert(name, c);
        }
        let stats = Arc::new(ActorStats::default());
        let ctx = Context::new(ContextParts {
            id: node.actor_id(1),
            realm: Realm::global(),
            actor_type: ActorType::new("TestActor").expect("a valid type name"),
            params: self.params,
            resources,
            ident: self.ident,
            port: port.clone(),
            stats: stats.clone(),
            log_level: None,
        });
        let actor = match AssertUnwindSafe(A::init(&ctx)).catch_unwind().await {
            Ok(Ok(actor)) => Arc::new(actor) as Arc<dyn Actor>,
            Ok(Err(e)) => return Err(e),
            Err(panic) => {
                return Err(InitError::new(format!("init panicked: {}", panic_message(&*panic))));
            }
        };
        // What init started (a schedule's first call) runs before the test goes on.
        clock::settle().await;
        Ok(TestActor { actor, ctx, port, clock, stats })
    }
}

/// One actor running in a test, with no node around it: made by [`TestActor::builder`].
pub struct TestActor {
    actor: Arc<dyn Actor>,
    ctx: Context,
    port: Arc<TestPort>,
    clock: Arc<TestClock>,
    stats: Arc<ActorStats>,
}

impl std::fmt::Debug for TestActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestActor").field("id", self.ctx.id()).finish_non_exhaustive()
    }
}

impl TestActor {
    /// Settings for an actor under test.
    pub fn builder() -> TestActorBuilder {
        TestActorBuilder::default()
    }

    /// The actor's context, as its handler sees it.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The actor's id.
    pub fn id(&self) -> &ActorId {
        self.ctx.id()
    }

    /// Sends the actor a request of kind `kind` with `data`, as a caller would, and returns
    /// its answer. A panic in the handler is answered `exception`, as on a node.
    pub async fn request<T: Serialize + ?Sized>(
        &self,
        kind: &str,
        data: &T,
    ) -> Result<Payload, RequestError> {
        let data = Payload::encode(data)?;
        let request = wire::ActorCall {
            id: self.port.next_id.fetch_add(1, Ordering::Relaxed),
            to: self.ctx.id().clone(),
            realm: self.ctx.realm().clone(),
            kind: kind.to_owned(),
            data,
            timeout_ms: u64::try_from(self.port.timeout.as_millis()).unwrap_or(u64::MAX),
            ident: None,
            attempt: 0,
        };
        let deadline = port::deadline(&self.clock, self.port.timeout);
        self.stats.received();
        self.stats.started();
        let start = crate::runtime::Runtime::now(&*self.clock);
        let handled =
            AssertUnwindSafe(self.actor.handle(&self.ctx, Request::from_wire(request, deadline)))
                .catch_unwind()
                .await;
        let response = match handled {
            Ok(r) => r,
            Err(panic) => {
                Response::error_with(ErrorCode::Exception.as_str(), &panic_message(&*panic))
            }
        };
        let result = response.into_result();
        let now = crate::runtime::Runtime::now(&*self.clock);
        self.stats.finished(now, now - start, result.as_ref().err().map(|e| e.error.as_str()));
        result.map_err(|e| RequestError::Remote { error: e.error, data: e.data })
    }

    /// Sends the actor `message` and returns its typed answer.
    pub async fn ask<M: Message>(&self, message: M) -> Result<M::Reply, RequestError> {
        Ok(self.request(M::KIND, &message).await?.decode()?)
    }

    /// Moves the actor's clock `by` forward: its timers, delays and schedules due meanwhile
    /// run, in order, in no real time.
    pub async fn advance(&self, by: Duration) {
        self.clock.advance(by).await;
    }

    /// What the actor has sent to stubbed categories so far, in order.
    pub fn sent(&self) -> Vec<SentCall> {
        self.port.sent.lock().expect("test port lock").clone()
    }

    /// The actor's statistics, as `beach load` shows them.
    pub fn stats(&self) -> &ActorStats {
        &self.stats
    }

    /// Whether the actor asked to stop ([`Context::stop_self`]).
    pub fn stopped_itself(&self) -> bool {
        self.port.stopped_itself.load(Ordering::Acquire)
    }

    /// Stops the actor as a node would: its drain hook, then its tasks stop and `deinit`
    /// runs.
    pub async fn stop(self) {
        self.actor.drain(&self.ctx).await;
        self.ctx.stop();
        self.actor.deinit(&self.ctx).await;
    }
}

#[cfg(test)]
mod tests;
