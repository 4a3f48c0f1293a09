//! The in-memory network: hosts, listeners, connections as pairs of pipes, and the faults a
//! simulation injects (latency, jitter that reorders, loss, duplication, partitions, crashes).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use beach_core::model::Endpoint;
use beach_core::rng::{NodeRng, seeded};
use beach_core::runtime::{Runtime, sleep_until};
use beach_core::transport::{
    Connection, FrameSink, FrameStream, Listener, PREAUTH_MAX_FRAME_SIZE, QueuedListener, Refused,
    Transport, TransportError,
};
use beach_core::wire::{Envelope, FrameCodec};
use bytes::{Bytes, BytesMut};
use rand::RngExt;
use tokio::sync::{Notify, mpsc};

/// The behaviour of the link from one host to another.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Time from sending to delivery.
    pub latency: Duration,
    /// Extra delay drawn uniformly from zero to this, per message; non-zero jitter reorders
    /// messages.
    pub jitter: Duration,
    /// Probability that a message is lost.
    pub drop: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
}

impl Default for LinkConfig {
    /// A quiet LAN: 200µs, no jitter, no loss.
    fn default() -> Self {
        Self {
            latency: Duration::from_micros(200),
            jitter: Duration::ZERO,
            drop: 0.0,
            duplicate: 0.0,
        }
    }
}

/// One direction of a connection.
struct Pipe {
    from: String,
    to: String,
    state: Mutex<PipeState>,
    notify: Notify,
}

/// What travels on a pipe: envelopes as they are, or, with the codec on, the frames the TCP
/// transport would write.
#[derive(Clone)]
enum Item {
    Envelope(Envelope),
    Frame(Bytes),
}

#[derive(Default)]
struct PipeState {
    /// In delivery order: by due time, then by sending order. A pipe holds a message or two
    /// at a time, and a simulated cluster a million pipes, so a sorted deque (most messages
    /// go at its end) sized to what it holds, not a map with 11-slot nodes.
    queue: VecDeque<(Instant, u64, Item)>,
    closed: bool,
}

impl Pipe {
    /// Closes gracefully: what is in flight is still delivered, then the reader sees the end.
    fn close(&self) {
        self.state.lock().expect("pipe lock").closed = true;
        self.notify.notify_one();
    }

    /// Breaks the pipe: what is in flight is lost.
    fn abort(&self) {
        let mut s = self.state.lock().expect("pipe lock");
        s.closed = true;
        s.queue.clear();
        drop(s);
        self.notify.notify_one();
    }
}

struct NetState {
    rng: NodeRng,
    seq: u64,
    default_link: LinkConfig,
    links: BTreeMap<(String, String), LinkConfig>,
    /// Directed pairs whose messages are lost (one-way partitions).
    blocked: BTreeSet<(String, String)>,
    listeners: BTreeMap<String, mpsc::Sender<Connection>>,
    pipes: Vec<Weak<Pipe>>,
    /// With a codec, messages travel as frames: encoded by the sender (an envelope too large
    /// is refused as TCP refuses it), decoded by the receiver under its frame limit (the
    /// small one until the handshake is done).
    codec: Option<FrameCodec>,
}

/// A simulated network shared by every host of a simulation.
pub struct MemNetwork {
    runtime: Arc<dyn Runtime>,
    state: Mutex<NetState>,
}

impl fmt::Debug for MemNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.lock().expect("net lock");
        f.debug_struct("MemNetwork")
            .field("hosts", &s.listeners.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl MemNetwork {
    /// A network whose random faults draw from `seed`, timed by `runtime`.
    pub fn new(runtime: Arc<dyn Runtime>, seed: u64) -> Arc<Self> {
        Arc::new(Self {
            runtime,
            state: Mutex::new(NetState {
                rng: seeded(seed),
                seq: 0,
                default_link: LinkConfig::default(),
                links: BTreeMap::new(),
                blocked: BTreeSet::new(),
                listeners: BTreeMap::new(),
                pipes: Vec::new(),
                codec: None,
            }),
        })
    }

    /// A transport for the host named `host` (a node's endpoint, or any name for a client).
    pub fn transport(self: &Arc<Self>, host: &str) -> Arc<MemTransport> {
        Arc::new(MemTransport { net: self.clone(), host: host.to_owned() })
    }

    /// Runs the real frame codec on every connection opened from now on, with frames of at
    /// most `max_frame_size` bytes (`None`: envelopes are handed over as they are, faster).
    pub fn set_codec(&self, max_frame_size: Option<usize>) {
        self.state.lock().expect("net lock").codec = max_frame_size.map(FrameCodec::new);
    }

    /// Sets the behaviour of every link without a setting of its own.
    pub fn set_default_link(&self, link: LinkConfig) {
        self.state.lock().expect("net lock").default_link = link;
    }

    /// Sets the behaviour of the link from `from` to `to`.
    pub fn set_link(&self, from: &str, to: &str, link: LinkConfig) {
        self.state.lock().expect("net lock").links.insert((from.to_owned(), to.to_owned()), link);
    }

    /// Loses every message from `from` to `to` until healed (a one-way partition).
    pub fn block(&self, from: &str, to: &str) {
        self.state.lock().expect("net lock").blocked.insert((from.to_owned(), to.to_owned()));
    }

    /// Cuts `a` from `b` both ways: their connections break and new ones are refused until
    /// healed.
    pub fn partition(&self, a: &str, b: &str) {
        self.block(a, b);
        self.block(b, a);
        self.close_pipes(|p| (p.from == a && p.to == b) || (p.from == b && p.to == a));
    }

    /// Lifts every partition.
    pub fn heal(&self) {
        self.state.lock().expect("net lock").blocked.clear();
    }

    /// The host dies: its listener goes and its connections break.
    pub fn crash(&self, host: &str) {
        self.state.lock().expect("net lock").listeners.remove(host);
        self.close_pipes(|p| p.from == host || p.to == host);
    }

    /// How many open connection directions (one per direction of each connection) `host`
    /// is an end of: what a test checks to see that connections are released.
    pub fn open_pipes(&self, host: &str) -> usize {
        let open = |p: &Pipe| !p.state.lock().expect("pipe lock").closed;
        self.pipes_where(|p| (p.from == host || p.to == host) && open(p)).len()
    }

    /// How many connections between the hosts `from` and `to` are open, whichever side
    /// opened them (each counted once, by its direction from `from` to `to`): what a test
    /// checks to see that quiet connections are closed.
    pub fn connections(&self, from: &str, to: &str) -> usize {
        let open = |p: &Pipe| !p.state.lock().expect("pipe lock").closed;
        self.pipes_where(|p| p.from == from && p.to == to && open(p)).len()
    }

    /// The pipes still in use that `which` picks (forgetting those dropped).
    fn pipes_where(&self, which: impl Fn(&Pipe) -> bool) -> Vec<Arc<Pipe>> {
        let mut s = self.state.lock().expect("net lock");
        s.pipes.retain(|p| p.strong_count() > 0);
        s.pipes.iter().filter_map(Weak::upgrade).filter(|p| which(p)).collect()
    }

    fn close_pipes(&self, which: impl Fn(&Pipe) -> bool) {
        let pipes = self.pipes_where(which);
        for p in pipes {
            p.abort();
        }
    }

    fn pipe(&self, from: &str, to: &str) -> Arc<Pipe> {
        let pipe = Arc::new(Pipe {
            from: from.to_owned(),
            to: to.to_owned(),
            state: Mutex::new(PipeState::default()),
            notify: Notify::new(),
        });
        self.state.lock().expect("net lock").pipes.push(Arc::downgrade(&pipe));
        pipe
    }

    /// Puts `batch` in flight on `pipe`, applying the link's faults.
    fn transmit(&self, pipe: &Pipe, batch: Vec<Item>) {
        let now = self.runtime.now();
        let mut s = self.state.lock().expect("net lock");
        let key = (pipe.from.clone(), pipe.to.clone());
        if s.blocked.contains(&key) {
            return;
        }
        let link = s.links.get(&key).copied().unwrap_or(s.default_link);
        let mut q = pipe.state.lock().expect("pipe lock");
        if q.closed {
            return;
        }
        for item in batch {
            if link.drop > 0.0 && s.rng.random_bool(link.drop.min(1.0)) {
                continue;
            }
            let copies = if link.duplicate > 0.0 && s.rng.random_bool(link.duplicate.min(1.0)) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let jitter = if link.jitter.is_zero() {
                    Duration::ZERO
                } else {
                    Duration::from_nanos(s.rng.random_range(0..=link.jitter.as_nanos() as u64))
                };
                s.seq += 1;
                let key = (now + link.latency + jitter, s.seq);
                let at = q.queue.partition_point(|(due, seq, _)| (*due, *seq) < key);
                if q.queue.capacity() == 0 {
                    // Most pipes never hold more than one.
                    q.queue.reserve_exact(1);
                }
                q.queue.insert(at, (key.0, key.1, item.clone()));
            }
        }
        drop(q);
        pipe.notify.notify_one();
    }
}

/// The transport of one simulated host.
#[derive(Debug)]
pub struct MemTransport {
    net: Arc<MemNetwork>,
    host: String,
}

#[async_trait]
impl Transport for MemTransport {
    async fn connect(&self, to: &Endpoint) -> Result<Connection, TransportError> {
        let refused = |reason: &str| TransportError::Connect {
            addr: to.to_string(),
            reason: reason.to_owned(),
        };
        let listener = {
            let s = self.net.state.lock().expect("net lock");
            if s.blocked.contains(&(self.host.clone(), to.to_string()))
                || s.blocked.contains(&(to.to_string(), self.host.clone()))
            {
                return Err(refused("network unreachable (partitioned)"));
            }
            s.listeners.get(to.as_str()).cloned().ok_or_else(|| refused("connection refused"))?
        };
        let out = self.net.pipe(&self.host, to.as_str());
        let back = self.net.pipe(to.as_str(), &self.host);
        let codec = self.net.state.lock().expect("net lock").codec;
        let end = |peer: String, send: &Arc<Pipe>, receive: &Arc<Pipe>| Connection {
            peer,
            sink: Box::new(MemSink { net: self.net.clone(), pipe: send.clone(), codec }),
            stream: Box::new(MemStream {
                net: self.net.clone(),
                pipe: receive.clone(),
                codec,
                authenticated: false,
            }),
        };
        listener
            .send(end(self.host.clone(), &back, &out))
            .await
            .map_err(|_| refused("connection refused"))?;
        Ok(end(to.to_string(), &out, &back))
    }

    async fn bind(&self, at: &Endpoint) -> Result<Box<dyn Listener>, TransportError> {
        let mut s = self.net.state.lock().expect("net lock");
        if s.listeners.get(at.as_str()).is_some_and(|l| !l.is_closed()) {
            return Err(TransportError::Bind {
                addr: at.to_string(),
                reason: "address in use".to_owned(),
            });
        }
        // Deep enough that a simulated flood of connects never waits on the engine.
        let (tx, listener) = QueuedListener::new(at.clone(), 4096);
        s.listeners.insert(at.to_string(), tx);
        Ok(Box::new(listener))
    }
}

struct MemSink {
    net: Arc<MemNetwork>,
    pipe: Arc<Pipe>,
    codec: Option<FrameCodec>,
}

#[async_trait]
impl FrameSink for MemSink {
    /// Hands the batch over whole; with the codec, as frames, refusing those too large.
    async fn send(&mut self, batch: &[Envelope]) -> Result<Vec<Refused>, TransportError> {
        if self.pipe.state.lock().expect("pipe lock").closed {
            return Err(TransportError::Closed { addr: self.pipe.to.clone() });
        }
        let Some(codec) = &self.codec else {
            self.net.transmit(&self.pipe, batch.iter().cloned().map(Item::Envelope).collect());
            return Ok(Vec::new());
        };
        let mut refused = Vec::new();
        let mut frames = Vec::with_capacity(batch.len());
        for (index, envelope) in batch.iter().enumerate() {
            let mut frame = BytesMut::new();
            match codec.encode(envelope, &mut frame) {
                Ok(()) => frames.push(Item::Frame(frame.freeze())),
                Err(error) => refused.push(Refused { index, error }),
            }
        }
        self.net.transmit(&self.pipe, frames);
        Ok(refused)
    }
}

impl Drop for MemSink {
    /// Dropping the sending half closes the connection, as closing a socket would.
    fn drop(&mut self) {
        self.pipe.close();
    }
}

struct MemStream {
    net: Arc<MemNetwork>,
    pipe: Arc<Pipe>,
    codec: Option<FrameCodec>,
    authenticated: bool,
}

impl MemStream {
    /// The envelope an item holds: a frame is decoded under this side's frame limit.
    fn open(&self, item: Item) -> Result<Envelope, TransportError> {
        let frame = match item {
            Item::Envelope(envelope) => return Ok(envelope),
            Item::Frame(frame) => frame,
        };
        let max = self.codec.as_ref().map_or(usize::MAX, FrameCodec::max_frame_size);
        let limit = if self.authenticated { max } else { max.min(PREAUTH_MAX_FRAME_SIZE) };
        let mut buf = BytesMut::from(&frame[..]);
        match FrameCodec::new(limit).decode(&mut buf) {
            Ok(Some(envelope)) => Ok(envelope),
            Ok(None) => Err(TransportError::Frame {
                addr: self.pipe.from.clone(),
                error: beach_core::wire::WireError::Malformed("a truncated frame".to_owned()),
            }),
            Err(error) => Err(TransportError::Frame { addr: self.pipe.from.clone(), error }),
        }
    }
}

#[async_trait]
impl FrameStream for MemStream {
    fn authenticated(&mut self) {
        self.authenticated = true;
    }

    async fn recv(&mut self) -> Result<Option<Envelope>, TransportError> {
        loop {
            let notified = self.pipe.notify.notified();
            let wake_at = {
                let mut q = self.pipe.state.lock().expect("pipe lock");
                match q.queue.front().map(|(due, _, _)| *due) {
                    Some(at) if at <= self.net.runtime.now() => {
                        let (_, _, item) = q.queue.pop_front().expect("checked");
                        if q.queue.is_empty() {
                            // A quiet pipe should cost nothing.
                            q.queue = VecDeque::new();
                        }
                        drop(q);
                        return self.open(item).map(Some);
                    }
                    Some(at) => Some(at),
                    None if q.closed => return Ok(None),
                    None => None,
                }
            };
            match wake_at {
                Some(at) => {
                    let sleep = sleep_until(&*self.net.runtime, at);
                    futures::pin_mut!(notified);
                    futures::future::select(notified, sleep).await;
                }
                None => notified.await,
            }
        }
    }
}

impl Drop for MemStream {
    fn drop(&mut self) {
        self.pipe.close();
    }
}
