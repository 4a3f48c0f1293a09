//! Connections to peers, shared by nodes and clients: one outbound link per endpoint, opened on
//! first use, with the handshake, a writer task that sends whatever queued up in one batch (a
//! sender that finds the connection idle writes itself, sparing the hand-off), a reader task
//! that dispatches what arrives, and the table of calls waiting for replies.
//!
//! A connection a node accepts from another node also serves as this node's link to it, so a
//! pair of nodes usually shares one connection. When a link fails, every call waiting on it
//! fails at once as unreachable (and is retried elsewhere by its handle).
//!
//! This file holds the connections' lifecycle (opening with backoff, accepting with bounded
//! handshakes, losing, closing) and the calling API. Each other idea has its file:
//! `outbox.rs` (the bounded queue a connection's writer drains, and the direct write),
//! `pump.rs` (the read/write loop of an established connection), `reap.rs` (closing quiet
//! connections between nodes by a handshake), `calls.rs` (the table of calls waiting for
//! answers, a pure state machine) and `handshake.rs` (driving the handshake state machine of
//! [`crate::auth::handshake`] over a connection).

mod calls;
mod handshake;
mod outbox;
mod pump;
mod reap;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use std::time::Instant;

use futures::future::{AbortHandle, abortable};
use tokio::sync::oneshot;

use rand::Rng as _;

use calls::{CallKey, Calls, PendingAdmin, PendingCall};
use outbox::Inbox;
pub(crate) use outbox::Outbox;

use crate::ErrorCode;
use crate::actor::CallError;
use crate::auth::handshake::{Acceptor, Connector};
use crate::auth::{Credentials, NONCE_LEN, Role, may_send};
use crate::model::{ActorId, Endpoint, NodeId};
use crate::rng::NodeRng;
use crate::runtime::{Runtime, timeout};
use crate::tasks::TaskSet;
use crate::throttle::Throttle;
use crate::transport::{Connection, Transport};
use crate::value::Payload;
use crate::wire::{ActorCall, AdminAnswer, AdminCall, AdminOp, AdminReply, Envelope, Peer, Reply};

/// Reconnect backoff after a failed connect: 100ms doubling to 5s, with jitter.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
struct Backoff {
    failures: u32,
    retry_at: Instant,
    /// Why the last attempt failed, for the calls refused meanwhile.
    why: String,
}

/// The most connections in their handshake at once, and from one address; past either the
/// oldest is dropped. Peers dial a node all at once when a change reaches every member (a
/// cluster of 400 simulated nodes spawning at once dropped handshakes at 256, and directories
/// took 5 s instead of 16 ms to converge); each costs a few KiB until it is done or dropped.
const MAX_HANDSHAKES: usize = 1024;
const MAX_HANDSHAKES_PER_ADDRESS: usize = 64;

static REFUSED: Throttle = Throttle::new(Duration::from_secs(1));
static PROTOCOL_BREAK: Throttle = Throttle::new(Duration::from_secs(1));

/// One handshake under way: its ticket, the peer's host, and how to drop it.
type Pending = (u64, String, AbortHandle);

/// The handshakes under way on accepted connections (oldest first), and the last ticket.
#[derive(Default)]
struct Handshakes {
    pending: Mutex<(u64, VecDeque<Pending>)>,
}

impl Handshakes {
    /// Registers a handshake from `address`; drops the oldest past the bounds.
    fn enter(&self, address: &str, abort: AbortHandle) -> u64 {
        // The host part: the port changes with every connection.
        let host = address.rsplit_once(':').map_or(address, |(h, _)| h).to_owned();
        let mut p = self.pending.lock().expect("handshakes lock");
        p.0 += 1;
        let ticket = p.0;
        let from_host = p.1.iter().filter(|(_, h, _)| *h == host).count();
        if from_host >= MAX_HANDSHAKES_PER_ADDRESS
            && let Some(i) = p.1.iter().position(|(_, h, _)| *h == host)
            && let Some((_, _, oldest)) = p.1.remove(i)
        {
            oldest.abort();
        }
        if p.1.len() >= MAX_HANDSHAKES
            && let Some((_, _, oldest)) = p.1.pop_front()
        {
            oldest.abort();
        }
        p.1.push_back((ticket, host, abort));
        ticket
    }

    fn leave(&self, ticket: u64) {
        self.pending.lock().expect("handshakes lock").1.retain(|(t, _, _)| *t != ticket);
    }
}

/// Past this many remembered unreachable addresses, those no longer backing off are forgotten.
const MAX_BACKOFF_ENTRIES: usize = 4096;

/// How long a node keeps a client connection over which nothing arrives.
const IDLE_CLIENT: Duration = Duration::from_secs(300);

/// The most envelopes written in one batch.
const MAX_BATCH: usize = 256;

/// How long connecting and the handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What a node or client does with what arrives.
pub(crate) trait Dispatch: Send + Sync + 'static {
    /// Handles an envelope other than a reply; `reply` sends back on the same connection.
    /// `from` is who the peer proved to be in the handshake, and the envelope is one that
    /// [`may_send`] allows from its role. An envelope the peer had no business sending is
    /// an `Err` with the reason, and the connection is closed.
    fn dispatch(&self, envelope: Envelope, reply: &Outbox, from: &Remote) -> Result<(), String>;
    /// The cluster this side belongs to and who it is, for the hello it sends.
    fn hello(&self) -> (String, Peer);
    /// The link to `endpoint` failed.
    fn link_lost(&self, _endpoint: &Endpoint) {}
}

/// Who is on the other end of an established connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Remote {
    /// The role it proved (or, without a secret, claimed).
    pub(crate) role: Role,
    /// Its node id, when it is a node.
    pub(crate) node: Option<NodeId>,
    /// A client whose requests this node carries on to other nodes: an isolated actor's
    /// process, which reaches the cluster only through its node (it holds no key).
    pub(crate) relay: bool,
}

#[derive(Default)]
struct State {
    links: BTreeMap<Endpoint, Outbox>,
    backoff: BTreeMap<Endpoint, Backoff>,
    calls: Calls,
    closed: bool,
    /// The connections to nodes the sweep of quiet ones looks at (see `reap.rs`).
    watched: Vec<reap::Watched>,
}

/// The links of one node or client.
pub(crate) struct Links {
    transport: Arc<dyn Transport>,
    runtime: Arc<dyn Runtime>,
    credentials: Option<Credentials>,
    /// Who this side is: what it may receive depends on it.
    role: Role,
    /// Jitters reconnect backoff (nonces and ids come from the runtime's secure randomness).
    rng: Mutex<NodeRng>,
    dispatch: Mutex<Option<Weak<dyn Dispatch>>>,
    state: Mutex<State>,
    tasks: Arc<TaskSet>,
    handshakes: Handshakes,
    counters: Arc<LinkCounters>,
    /// How long a connection between two nodes may stay quiet before it is closed (see
    /// `reap.rs`); `None`: never (a client's links).
    idle: Option<Duration>,
}

/// What the links of a node or client count, for metrics: connections, frames and bytes (relaxed
/// atomic increments, off every lock).
#[derive(Debug, Default)]
pub(crate) struct LinkCounters {
    pub(crate) open: AtomicU64,
    pub(crate) opened: AtomicU64,
    pub(crate) frames_in: AtomicU64,
    pub(crate) frames_out: AtomicU64,
    pub(crate) frames_refused: AtomicU64,
    pub(crate) broken: AtomicU64,
    /// Connections closed by the close handshake (see `reap.rs`).
    pub(crate) reaped: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
}

/// Adds `n` to one of the [`LinkCounters`].
pub(super) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
}

impl Links {
    /// Its connection and frame counters.
    pub(crate) fn counters(&self) -> &LinkCounters {
        &self.counters
    }
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock().expect("links lock");
        f.debug_struct("Links")
            .field("links", &s.links.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Links {
    pub(crate) fn new(
        transport: Arc<dyn Transport>,
        runtime: Arc<dyn Runtime>,
        credentials: Option<Credentials>,
        role: Role,
        rng: NodeRng,
        idle: Option<Duration>,
    ) -> Arc<Self> {
        let links = Arc::new(Self {
            transport,
            runtime,
            credentials,
            role,
            rng: Mutex::new(rng),
            dispatch: Mutex::new(None),
            state: Mutex::new(State::default()),
            tasks: Arc::default(),
            handshakes: Handshakes::default(),
            counters: Arc::default(),
            idle,
        });
        links.start_sweep();
        links
    }

    /// Sets who handles what arrives (the node or client owning these links).
    pub(crate) fn set_dispatch(&self, dispatch: Weak<dyn Dispatch>) {
        *self.dispatch.lock().expect("links lock") = Some(dispatch);
    }

    fn dispatcher(&self) -> Option<Arc<dyn Dispatch>> {
        self.dispatch.lock().expect("links lock").as_ref()?.upgrade()
    }

    /// Runs `task` until it ends or the links close; aborted by [`Links::close`].
    pub(crate) fn spawn(
        self: &Arc<Self>,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        self.tasks.spawn(&self.runtime, task);
    }

    /// Whether connections are authenticated (the cluster has a secret): only then is a
    /// peer's role proven rather than claimed.
    pub(crate) fn authenticates(&self) -> bool {
        self.credentials.is_some()
    }

    /// How `actor` looks from here, for routing, in one look-up: whether its node's link is
    /// open or opening, whether connecting to it failed recently (backing off), and the calls
    /// in flight to it.
    pub(crate) fn reach(&self, actor: &ActorId) -> crate::routing::Reach {
        let s = self.state.lock().expect("links lock");
        let endpoint = actor.node().endpoint();
        let connected = s.links.contains_key(endpoint);
        let failing =
            !connected && s.backoff.get(endpoint).is_some_and(|b| b.retry_at > self.runtime.now());
        crate::routing::Reach { failing, in_flight: s.calls.in_flight(actor), connected }
    }

    /// Requests in flight to `actor`.
    pub(crate) fn in_flight(&self, actor: &ActorId) -> u64 {
        self.state.lock().expect("links lock").calls.in_flight(actor)
    }

    /// Counts a call to `actor` served on this node as in flight, until [`Links::end_local`].
    pub(crate) fn begin_local(&self, actor: &ActorId) {
        self.state.lock().expect("links lock").calls.begin_local(actor);
    }

    /// Ends what [`Links::begin_local`] began.
    pub(crate) fn end_local(&self, actor: &ActorId) {
        self.state.lock().expect("links lock").calls.end_local(actor);
    }

    /// Queues `envelope` for `to`, opening the link if there is none. `false` when the links
    /// are closed, the peer was recently unreachable, or its queue is full.
    pub(crate) fn send(self: &Arc<Self>, to: &Endpoint, envelope: Envelope) -> bool {
        self.outbox_for(to).is_some_and(|o| o.send(envelope))
    }

    /// The outbox of the link to `to`, opening the link if there is none; `None` when the
    /// links are closed or the peer was recently unreachable.
    fn outbox_for(self: &Arc<Self>, to: &Endpoint) -> Option<Outbox> {
        Some({
            let mut s = self.state.lock().expect("links lock");
            if s.closed {
                return None;
            }
            match s.links.get(to) {
                Some(o) if !o.is_closed() => o.clone(),
                _ => {
                    // Recently unreachable: do not hammer it; the caller learns at once.
                    if s.backoff.get(to).is_some_and(|b| b.retry_at > self.runtime.now()) {
                        return None;
                    }
                    let (tx, rx) = Outbox::channel(&self.counters);
                    s.links.insert(to.clone(), tx.clone());
                    drop(s);
                    self.open(to.clone(), tx.clone(), rx);
                    tx
                }
            }
        })
    }

    /// Opens the link to `to` in the background; envelopes queue in `rx` meanwhile.
    fn open(self: &Arc<Self>, to: Endpoint, tx: Outbox, rx: Inbox) {
        let me = self.clone();
        self.spawn(async move {
            let Some(dispatch) = me.dispatcher() else { return };
            let (cluster, peer) = dispatch.hello();
            drop(dispatch);
            // Err((true, why)): the handshake failed, worth a warning; Err((false, why)): the
            // peer is not there, routine while nodes start or after a crash.
            // Boxed: the connect and handshake are done before the connection's long life,
            // which should not carry their state (a task per connection, a million in a
            // simulated cluster of a thousand nodes).
            let opened = timeout(
                &*me.runtime,
                CONNECT_TIMEOUT,
                Box::pin(async {
                    let connector = Connector::new(
                        to.as_str(),
                        cluster,
                        peer,
                        me.credentials.as_ref(),
                        me.nonce(),
                    )
                    .map_err(|why| (true, why))?;
                    let Connection { mut sink, mut stream, .. } =
                        me.transport.connect(&to).await.map_err(|e| {
                            let reached =
                                matches!(e, crate::transport::TransportError::Handshake { .. });
                            (reached, e.to_string())
                        })?;
                    let rt = &*me.runtime;
                    let node = handshake::connect(rt, &mut sink, &mut stream, connector)
                        .await
                        .map_err(|why| (true, why))?;
                    stream.authenticated();
                    if node.endpoint() != &to {
                        // Identities, not addresses, are bound (NAT and relays keep working), but
                        // a link is filed under the endpoint it was opened for.
                        tracing::debug!(%to, %node, "the node at this address advertises another");
                    }
                    Ok::<_, (bool, String)>((sink, stream, node))
                }),
            )
            .await;
            match opened {
                // We dialled a node's endpoint and it welcomed us as one.
                Some(Ok((sink, stream, node))) => {
                    me.state.lock().expect("links lock").backoff.remove(&to);
                    let from = Remote { role: Role::Node, node: Some(node), relay: false };
                    me.run(to, tx, rx, sink, stream, from).await;
                }
                Some(Err((handshake_failed, why))) => {
                    if handshake_failed {
                        tracing::warn!(%to, %why, "handshake failed");
                    } else {
                        tracing::debug!(%to, %why, "cannot connect");
                    }
                    me.back_off(&to, &why);
                    me.lost(&to, &tx, &why, false);
                }
                None => {
                    me.back_off(&to, "connect timed out");
                    me.lost(&to, &tx, "connect timed out", false);
                }
            }
        });
    }

    /// The acceptor side of a handshake for this node, requiring `credentials` of the peer;
    /// `None` once nobody dispatches for these links (they are closing).
    fn acceptor(&self, me_id: NodeId, credentials: Option<Credentials>) -> Option<Acceptor> {
        let (cluster, _) = self.dispatcher()?.hello();
        Some(Acceptor::new(me_id, cluster, credentials, self.nonce()))
    }

    /// Serves a connection a peer opened: the handshake, then the same reading and writing as
    /// an outbound link. Only nodes accept (`me` is this node's id).
    pub(crate) fn accept(self: &Arc<Self>, conn: Connection, me_id: NodeId) {
        let me = self.clone();
        self.spawn(async move {
            let Connection { mut sink, mut stream, peer: address } = conn;
            let my_id = me_id.clone();
            let Some(acceptor) = me.acceptor(me_id, me.credentials.clone()) else { return };
            let rt = &*me.runtime;
            // Unauthenticated connections are bounded, in all and per address: past a bound
            // the oldest handshake is abandoned, so a flood of silent sockets cannot crowd out
            // a real peer.
            let shaking = Box::pin(handshake::accept(rt, &mut sink, &mut stream, acceptor));
            let (shaking, abort) = abortable(shaking);
            let ticket = me.handshakes.enter(&address, abort);
            let outcome = shaking.await;
            me.handshakes.leave(ticket);
            let (peer, role) = match outcome {
                Ok(Ok(done)) => done,
                Ok(Err(reason)) => {
                    if let Some(skipped) = REFUSED.check(me.runtime.now()) {
                        tracing::warn!(peer = %address, %reason, skipped, "refused a connection");
                    }
                    return;
                }
                Err(_) => {
                    if let Some(skipped) = REFUSED.check(me.runtime.now()) {
                        tracing::warn!(peer = %address, skipped, "dropped an unfinished handshake: too many at once");
                    }
                    return;
                }
            };
            stream.authenticated();
            let (tx, rx) = Outbox::channel(&me.counters);
            let node = match peer {
                Peer::Node(n) if role == Role::Node => Some(n),
                _ => None,
            };
            // A node that connected to us (and proved it): use this connection for our
            // messages to it too, unless we hold a working link of our own.
            let endpoint = node.as_ref().map(|n| n.endpoint().clone());
            let mut superseded = None;
            if let Some(ep) = &endpoint {
                let mut s = me.state.lock().expect("links lock");
                // It is evidently reachable again.
                s.backoff.remove(ep);
                let lower = node.as_ref().is_some_and(|n| *n < my_id);
                match s.links.get(ep) {
                    // Both sides dialled at once: the connection the lower id dialled carries
                    // both ways, and ours closes by the handshake once it carried what was
                    // queued on it (see `reap.rs`), rather than two per pair for good.
                    Some(o) if !o.is_closed() && lower => {
                        superseded = Some(o.clone());
                        s.links.insert(ep.clone(), tx.clone());
                    }
                    Some(o) if !o.is_closed() => {}
                    _ => {
                        s.links.insert(ep.clone(), tx.clone());
                    }
                }
            }
            if let (Some(old), Some(ep)) = (superseded, &endpoint) {
                me.start_close(ep, &old);
            }
            let name = endpoint.unwrap_or_else(|| {
                Endpoint::new(format!("client-{address}"))
                    .unwrap_or_else(|_| Endpoint::new("client").expect("valid"))
            });
            me.run(name, tx, rx, sink, stream, Remote { role, node, relay: false }).await;
        });
    }

    /// Takes `conn` as a client's connection that needs no key: the connection is its
    /// credential (an isolated actor's socket, made by this node for its own child). The
    /// handshake still runs, for the cluster name and the protocol version, but proves
    /// nothing, and whatever the other side claims it is a client whose requests this node
    /// relays to the nodes hosting their actors.
    pub(crate) fn adopt_client(self: &Arc<Self>, conn: Connection, me_id: NodeId) {
        let me = self.clone();
        self.spawn(async move {
            let Connection { mut sink, mut stream, peer: address } = conn;
            let Some(acceptor) = me.acceptor(me_id, None) else { return };
            let rt = &*me.runtime;
            if let Err(reason) = handshake::accept(rt, &mut sink, &mut stream, acceptor).await {
                tracing::warn!(peer = %address, %reason, "refused an adopted connection");
                return;
            }
            stream.authenticated();
            let (tx, rx) = Outbox::channel(&me.counters);
            let name = Endpoint::new(format!("client-{address}"))
                .unwrap_or_else(|_| Endpoint::new("client").expect("valid"));
            let from = Remote { role: Role::Client, node: None, relay: true };
            me.run(name, tx, rx, sink, stream, from).await;
        });
    }

    /// Records a failed connect to `to`: the next attempt waits 100ms, then 200ms, ... up to
    /// 5s, each scaled by a random factor from 0.5 to 1 so that many nodes do not retry in step.
    fn back_off(&self, to: &Endpoint, why: &str) {
        let jitter = 0.5
            + f64::from(self.rng.lock().expect("links lock").next_u32())
                / f64::from(u32::MAX)
                / 2.0;
        let now = self.runtime.now();
        let mut s = self.state.lock().expect("links lock");
        if s.backoff.len() >= MAX_BACKOFF_ENTRIES {
            // Addresses come from peers: keep only those still backing off.
            s.backoff.retain(|_, b| b.retry_at > now);
        }
        let failures = s.backoff.get(to).map_or(0, |b| b.failures).saturating_add(1);
        let delay = (BACKOFF_FIRST * 2u32.saturating_pow(failures.min(16) - 1))
            .min(BACKOFF_MAX)
            .mul_f64(jitter);
        s.backoff
            .insert(to.clone(), Backoff { failures, retry_at: now + delay, why: why.to_owned() });
    }

    /// Why `to` could not be reached lately, for a call that could not even be queued.
    fn unreachable(&self, to: &Endpoint) -> String {
        let s = self.state.lock().expect("links lock");
        match s.backoff.get(to) {
            Some(b) if b.why.contains(to.as_str()) => b.why.clone(),
            Some(b) => format!("{to}: {}", b.why),
            None => format!("{to}: unreachable or its send queue is full"),
        }
    }

    /// A fresh nonce for a handshake: secure randomness from the runtime.
    fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut n = [0u8; NONCE_LEN];
        self.runtime.fill_random(&mut n);
        n
    }

    /// Takes what arrived on an established connection from `from`: the role table decides
    /// whether it may be sent at all.
    fn receive(&self, envelope: Envelope, reply: &Outbox, from: &Remote) -> Result<(), String> {
        if !may_send(from.role, self.role, &envelope) {
            return Err(format!(
                "a {} sent a {} to a {}",
                from.role.name(),
                kind_of(&envelope),
                self.role.name()
            ));
        }
        match envelope {
            Envelope::Reply(r) => self.resolve_reply(r, Some(reply)),
            Envelope::Bye => {
                // Only a node may send it (the table above), and a node's id is known.
                if let Some(node) = &from.node {
                    self.bye_received(node.endpoint(), reply);
                }
            }
            Envelope::AdminReply(r) => self.resolve_admin(r, Some(reply)),
            other => {
                if let Some(d) = self.dispatcher() {
                    return d.dispatch(other, reply, from);
                }
            }
        }
        Ok(())
    }

    /// The link `tx` to `endpoint` failed: forget it (if it is still the current one) and fail
    /// the calls waiting on `endpoint`.
    fn lost(&self, endpoint: &Endpoint, tx: &Outbox, why: &str, sent: bool) {
        {
            let mut s = self.state.lock().expect("links lock");
            if s.links.get(endpoint).is_some_and(|o| o.same(tx)) {
                s.links.remove(endpoint);
            } else if s.links.contains_key(endpoint) {
                // Another connection to the same peer is alive; calls sent on it stand, and
                // only those sent on this one fail.
                let (calls, admin) = s.calls.take_all_via(tx);
                drop(s);
                self.fail_taken(endpoint, calls, admin, why, sent);
                return;
            }
        }
        self.fail_calls_to(endpoint, why, sent);
        if let Some(d) = self.dispatcher() {
            d.link_lost(endpoint);
        }
    }

    /// Fails every call waiting on a reply from `endpoint`. `sent` says whether they may have
    /// reached it (a connection that was up failed, or the node went down) or surely did not
    /// (the connection never opened), which decides whether they are retried.
    pub(crate) fn fail_calls_to(&self, endpoint: &Endpoint, why: &str, sent: bool) {
        let (calls, admin) = self.state.lock().expect("links lock").calls.take_all_to(endpoint);
        self.fail_taken(endpoint, calls, admin, why, sent);
    }

    /// Fails calls taken off the table, that waited on `endpoint` (see
    /// [`Links::fail_calls_to`]).
    fn fail_taken(
        &self,
        endpoint: &Endpoint,
        calls: Vec<PendingCall>,
        admin: Vec<PendingAdmin>,
        why: &str,
        sent: bool,
    ) {
        for c in calls {
            let why = format!("{endpoint}: {why}");
            let _ = c.tx.send(Err(if sent {
                CallError::Lost(why)
            } else {
                CallError::Unreachable(why)
            }));
        }
        let message = if why.contains(endpoint.as_str()) {
            why.to_owned()
        } else {
            format!("{endpoint}: {why}")
        };
        for a in admin {
            let _ = a.tx.send(Err(message.clone()));
        }
    }

    /// Sends a request to the node owning its actor and waits for the reply until
    /// `request.timeout_ms` runs out.
    pub(crate) async fn call(self: &Arc<Self>, request: ActorCall) -> Result<Payload, CallError> {
        let endpoint = request.to.node().endpoint().clone();
        self.call_via(endpoint, request).await
    }

    /// [`Links::call`] through the node at `endpoint` (a relay), rather than the actor's own.
    pub(crate) async fn call_via(
        self: &Arc<Self>,
        endpoint: Endpoint,
        request: ActorCall,
    ) -> Result<Payload, CallError> {
        let key = (request.id, request.attempt);
        let wait = Duration::from_millis(request.timeout_ms);
        let (tx, rx) = oneshot::channel();
        let unreachable = || CallError::Unreachable(self.unreachable(&endpoint));
        let Some(via) = self.outbox_for(&endpoint) else { return Err(unreachable()) };
        let call = PendingCall {
            endpoint: endpoint.clone(),
            via: via.clone(),
            actor: request.to.clone(),
            tx,
        };
        self.state.lock().expect("links lock").calls.add(key, call);
        if !via.send(Envelope::Request(request)) {
            self.forget_call(key);
            return Err(unreachable());
        }
        match timeout(&*self.runtime, wait, rx).await {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(CallError::Lost("closed".to_owned())),
            None => {
                self.forget_call(key);
                Err(CallError::Timeout)
            }
        }
    }

    /// Takes the call waiting under `key` off the table (and out of the in-flight count),
    /// unless `only_from` names another connection than the one it went out on.
    fn take_call(&self, key: CallKey, only_from: Option<&Outbox>) -> Option<PendingCall> {
        self.state.lock().expect("links lock").calls.take(key, only_from)
    }

    /// Fails one waiting call with `error`.
    fn fail_call(&self, key: CallKey, error: CallError) {
        if let Some(c) = self.take_call(key, None) {
            let _ = c.tx.send(Err(error));
        }
    }

    fn forget_call(&self, key: CallKey) {
        self.take_call(key, None);
    }

    /// Hands a reply to the call waiting for it, when it came `from` the connection the call
    /// went out on (`None`: made up here, for a call that could not be sent). A reply on any
    /// other connection is ignored: nobody can answer calls they were not sent.
    fn resolve_reply(&self, reply: Reply, from: Option<&Outbox>) {
        if let Some(c) = self.take_call((reply.id, reply.attempt), from) {
            let _ = c.tx.send(reply.result.map_err(CallError::Remote));
        }
    }

    /// Sends an admin call to the node at `to` and waits for its answer.
    pub(crate) async fn admin(
        self: &Arc<Self>,
        to: &Endpoint,
        token: Option<String>,
        op: AdminOp,
        wait: Duration,
    ) -> Result<AdminAnswer, String> {
        let (tx, rx) = oneshot::channel();
        let Some(via) = self.outbox_for(to) else { return Err(self.unreachable(to)) };
        let id = {
            let mut s = self.state.lock().expect("links lock");
            let mut call = PendingAdmin { endpoint: to.clone(), via: via.clone(), tx };
            // Unpredictable, so that nobody can answer a call before it is made.
            loop {
                let id = crate::runtime::random_u64(&*self.runtime);
                match s.calls.add_admin(id, call) {
                    Ok(()) => break id,
                    Err(back) => call = back,
                }
            }
        };
        if !via.send(Envelope::Admin(AdminCall { id, token, op })) {
            self.state.lock().expect("links lock").calls.take_admin(id, None);
            return Err(self.unreachable(to));
        }
        match timeout(&*self.runtime, wait, rx).await {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err("closed".to_owned()),
            None => {
                self.state.lock().expect("links lock").calls.take_admin(id, None);
                Err(ErrorCode::Timeout.as_str().to_owned())
            }
        }
    }

    /// Hands an admin answer to its call, under the same rule as [`Links::resolve_reply`].
    fn resolve_admin(&self, reply: AdminReply, from: Option<&Outbox>) {
        let pending = self.state.lock().expect("links lock").calls.take_admin(reply.id, from);
        if let Some(p) = pending {
            let _ = p.tx.send(reply.result);
        }
    }

    /// Closes every link and stops every task; pending calls fail.
    pub(crate) fn close(&self) {
        let endpoints = {
            let mut s = self.state.lock().expect("links lock");
            s.closed = true;
            let endpoints: Vec<Endpoint> = std::mem::take(&mut s.links).into_keys().collect();
            endpoints
        };
        self.tasks.close();
        for ep in endpoints {
            self.fail_calls_to(&ep, "closed", true);
        }
    }
}

/// The envelope's kind, for messages.
pub(crate) fn kind_of(e: &Envelope) -> &'static str {
    match e {
        Envelope::Handshake(_) => "handshake",
        Envelope::Request(_) => "request",
        Envelope::OneWay(_) => "one-way message",
        Envelope::Reply(_) => "reply",
        Envelope::Admin(_) => "admin call",
        Envelope::AdminReply(_) => "admin reply",
        Envelope::Membership(_) => "membership packet",
        Envelope::Digest(_) => "digest",
        Envelope::Partitions { .. } => "partitions",
        Envelope::Delta(_) => "delta",
        Envelope::Deployments(_) => "deployments",
        Envelope::ViewRequest(_) => "view request",
        Envelope::View { .. } => "view",
        Envelope::Bye => "bye",
    }
}
