//! What an actor under test reaches through its handles: the stubs a test set up for
//! categories, and a record of every call and one-way message it sent.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::clock::TestClock;
use crate::actor::{CallError, Port, Request, Response};
use crate::model::{ActorId, NodeId, Realm};
use crate::rng::NodeRng;
use crate::runtime::Runtime;
use crate::value::Payload;
use crate::wire;

/// What a stub answers with, given a request.
pub(crate) type StubFn = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// A stand-in for the actors of one category.
pub(crate) struct Stub {
    pub(crate) category: String,
    pub(crate) id: ActorId,
    pub(crate) answer: StubFn,
}

/// A request or message the actor under test sent.
#[derive(Debug, Clone, PartialEq)]
pub struct SentCall {
    /// The category of the stub that got it.
    pub category: String,
    /// The request kind.
    pub kind: String,
    /// Its data.
    pub data: Payload,
    /// Whether it was one-way (`shoot`, `broadcast`): no answer was waited for.
    pub one_way: bool,
}

pub(crate) struct TestPort {
    pub(crate) clock: Arc<TestClock>,
    pub(crate) node: NodeId,
    pub(crate) stubs: Vec<Stub>,
    pub(crate) sent: Mutex<Vec<SentCall>>,
    pub(crate) next_id: AtomicU64,
    pub(crate) timeout: Duration,
    pub(crate) stopped_itself: AtomicBool,
    pub(crate) seed: u64,
}

impl TestPort {
    fn stub(&self, id: &ActorId) -> Option<&Stub> {
        self.stubs.iter().find(|s| s.id == *id)
    }

    /// Runs the stub a request is for and records the call; `None` when no stub has its id.
    fn answer(&self, request: wire::ActorCall, one_way: bool) -> Option<Response> {
        let stub = self.stub(&request.to)?;
        self.sent.lock().expect("test port lock").push(SentCall {
            category: stub.category.clone(),
            kind: request.kind.clone(),
            data: request.data.clone(),
            one_way,
        });
        let deadline = deadline(&self.clock, Duration::from_millis(request.timeout_ms));
        Some((stub.answer)(&Request::from_wire(request, deadline)))
    }
}

#[async_trait]
impl Port for TestPort {
    fn runtime(&self) -> &dyn Runtime {
        &*self.clock
    }

    fn members(&self, _realm: &Realm, prefix: &str) -> Vec<ActorId> {
        self.stubs.iter().filter(|s| s.category.starts_with(prefix)).map(|s| s.id.clone()).collect()
    }

    fn subcategories(&self, _realm: &Realm, root: &str) -> BTreeMap<String, Vec<ActorId>> {
        let mut groups: BTreeMap<String, Vec<ActorId>> = BTreeMap::new();
        for s in self.stubs.iter().filter(|s| s.category.starts_with(root)) {
            if let Some(g) = crate::directory::index::subcategory(&s.category, root) {
                groups.entry(g.to_owned()).or_default().push(s.id.clone());
            }
        }
        groups
    }

    fn local_node(&self) -> Option<&NodeId> {
        Some(&self.node)
    }

    fn reach(&self, _actor: &ActorId) -> crate::routing::Reach {
        crate::routing::Reach::UNKNOWN
    }

    fn fork_rng(&self) -> NodeRng {
        crate::rng::derive(self.seed, self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    fn next_request_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn default_timeout(&self) -> Duration {
        self.timeout
    }

    async fn call(&self, request: wire::ActorCall) -> Result<Payload, CallError> {
        let to = request.to.clone();
        match self.answer(request, false) {
            Some(response) => response.into_result().map_err(CallError::Remote),
            None => Err(CallError::Unreachable(format!("no stub is actor {to}"))),
        }
    }

    fn tell(&self, request: wire::ActorCall) -> bool {
        self.answer(request, true).is_some()
    }

    fn pending(&self, _actor: &ActorId) -> u64 {
        0
    }

    fn stop_actor(&self, _id: &ActorId) {
        self.stopped_itself.store(true, Ordering::Release);
    }
}

/// When a request's caller gives up, on the test clock.
pub(crate) fn deadline(clock: &TestClock, timeout: Duration) -> Instant {
    crate::routing::deadline_after(clock.now(), timeout)
}
