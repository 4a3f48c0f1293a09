//! Routing: which member of a category serves a request, and whether a failed attempt is
//! retried on another.
//!
//! - [`Mode`]: `random` takes the less busy of two members drawn at random, `local` prefers
//!   members on this node, `affinity` maps a key to one member by [`rendezvous`] hashing.
//! - [`Attempts`]: the retry policy of one request, a small object in the manner of tower's
//!   `Policy`: it picks each attempt's member (never one already tried while others remain;
//!   a keyed request stays on its key's owner while that owner is a member), keeps the
//!   request id and the deadline across attempts, sizes each attempt
//!   ([`Attempts::attempt_timeout`]), and says after a failure whether to try again
//!   ([`Attempts::on_failure`]).
//!
//! **The retry rule**, the same for Rust handles, the CLI and every other client: a failure
//! where the request was surely not handled (the node was unreachable before sending,
//! `wrong dest`, `queue full`) is retried, by default [`DEFAULT_RETRIES`] times; a `timeout`
//! is retried only when the caller opts in ([`Attempts::retry_timeouts`]), since the first
//! attempt may have run; any other error is the handler's answer and final.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use beach_core::model::{ActorId, NodeId};
//! use beach_core::routing::{Attempts, Failure, Mode, RetryDecision, Unknown};
//! use beach_core::ErrorCode;
//! use beach_core::rng::seeded;
//!
//! let local: NodeId = "a:1#1".parse().unwrap();
//! let members: Vec<ActorId> = (0..3).map(|i| local.actor_id(i)).collect();
//! let now = Instant::now();
//! let mut attempts = Attempts::new(42, now + Duration::from_secs(5), 2);
//! let mut rng = seeded(1);
//! let first = attempts.pick(Mode::Random, &members, None, Some(&local), &Unknown, &mut rng).unwrap();
//! assert!(matches!(attempts.on_failure(now, &Failure::Code(ErrorCode::QueueFull), &members), RetryDecision::Retry { .. }));
//! let second = attempts.pick(Mode::Random, &members, None, Some(&local), &Unknown, &mut rng).unwrap();
//! assert_ne!(first, second);
//! assert_eq!(attempts.request_id(), 42);
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use rand::RngExt;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::ErrorCode;
use crate::model::{ActorId, NodeId};

/// How a handle picks the member that serves a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The less busy of two members drawn at random: the one with fewer of this caller's
    /// requests in flight, else one on a node already connected (no handshake). The default
    /// outside actors.
    Random,
    /// A member on this node if there is one, else as `random`. The default inside actors.
    Local,
    /// The member that the request's key maps to by rendezvous hashing: every client maps a
    /// key to the same member, and a membership change moves only the changed member's keys.
    Affinity,
}

impl Mode {
    /// The mode's name as users write it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Random => "random",
            Mode::Local => "local",
            Mode::Affinity => "affinity",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = RoutingError;
    fn from_str(s: &str) -> Result<Self, RoutingError> {
        [Mode::Random, Mode::Local, Mode::Affinity]
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| RoutingError::UnknownMode(s.to_owned()))
    }
}

/// Why no member could be picked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// The category has no member (the request fails at once, not after its timeout).
    #[error("no actor in the category")]
    NoMembers,
    /// `affinity` mode needs a key.
    #[error("affinity routing needs a key")]
    AffinityWithoutKey,
    /// The mode name is not one of `random`, `local`, `affinity`.
    #[error("unknown routing mode {0:?}: expected random, local or affinity")]
    UnknownMode(String),
}

/// The rendezvous (highest random weight) score of `member` for `key`.
///
/// xxh3 over a fixed byte layout (lengths and integers little-endian), so the score is the same
/// in every process, build and platform.
pub fn rendezvous_score(key: &[u8], member: &ActorId) -> u64 {
    let mut h = Xxh3::new();
    let node = member.node();
    h.update(&(key.len() as u64).to_le_bytes());
    h.update(key);
    h.update(node.endpoint().as_str().as_bytes());
    h.update(&node.generation().to_le_bytes());
    h.update(&member.seq().to_le_bytes());
    h.digest()
}

/// The member `key` maps to: the one with the highest [`rendezvous_score`] (ties, vanishingly
/// rare, go to the greater id). `None` when there are no members.
pub fn rendezvous<'a>(
    key: &[u8],
    members: impl IntoIterator<Item = &'a ActorId>,
) -> Option<&'a ActorId> {
    members.into_iter().max_by_key(|m| (rendezvous_score(key, m), *m))
}

/// A member as the caller sees it: what `random` and `local` weigh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// Connecting to its node failed recently, and the caller backs off from it: a request
    /// sent there now fails at once.
    pub failing: bool,
    /// The caller's requests in flight to it.
    pub in_flight: u64,
    /// Its node is connected already: no handshake before a request leaves.
    pub connected: bool,
}

impl Reach {
    /// Nothing known: connected, nothing in flight, not failing.
    pub const UNKNOWN: Reach = Reach { failing: false, in_flight: 0, connected: true };
}

/// What routing knows of the members from the caller's side, one look-up per member.
pub trait Nearness {
    /// How `actor` looks from here.
    fn reach(&self, actor: &ActorId) -> Reach;
}

/// [`Reach::UNKNOWN`] for every member: for tests and callers that know nothing more.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unknown;

impl Nearness for Unknown {
    fn reach(&self, _actor: &ActorId) -> Reach {
        Reach::UNKNOWN
    }
}

/// Picks one member for a request, excluding `exclude` as long as any other member remains.
///
/// `random` draws two members and takes the one whose node is not failing, then the one with
/// fewer of the caller's requests in flight, then one on a connected node, then the first
/// drawn (the "power of two choices": load spreads evenly, and a slow member, whose requests
/// pile up, is avoided, at the cost of two look-ups; a dead node's members, which hold no
/// requests, are not mistaken for idle ones). `local` does the same among this node's members
/// when it hosts any. Members on `local` (this node; `None` for an outside client) always
/// count as connected.
pub fn choose<'a, R: RngExt + ?Sized>(
    mode: Mode,
    members: &'a [ActorId],
    key: Option<&[u8]>,
    local: Option<&NodeId>,
    near: &(impl Nearness + ?Sized),
    exclude: &[ActorId],
    rng: &mut R,
) -> Result<&'a ActorId, RoutingError> {
    if mode == Mode::Affinity && key.is_none() {
        return Err(RoutingError::AffinityWithoutKey);
    }
    if members.is_empty() {
        return Err(RoutingError::NoMembers);
    }
    let fresh: Vec<&ActorId> = members.iter().filter(|m| !exclude.contains(m)).collect();
    let pool: Vec<&ActorId> = if fresh.is_empty() { members.iter().collect() } else { fresh };
    let rank = |m: &ActorId| {
        let r = near.reach(m);
        (r.failing, r.in_flight, !(r.connected || Some(m.node()) == local))
    };
    let better_of_two = |rng: &mut R, from: &[&'a ActorId]| -> &'a ActorId {
        let a = rng.random_range(0..from.len());
        if from.len() == 1 {
            return from[a];
        }
        let mut b = rng.random_range(0..from.len() - 1);
        if b >= a {
            b += 1;
        }
        if rank(from[b]) < rank(from[a]) { from[b] } else { from[a] }
    };
    Ok(match mode {
        Mode::Affinity => {
            rendezvous(key.unwrap_or_default(), pool.iter().copied()).expect("pool is not empty")
        }
        Mode::Local => {
            let here: Vec<&ActorId> =
                pool.iter().copied().filter(|m| Some(m.node()) == local).collect();
            better_of_two(rng, if here.is_empty() { &pool } else { &here })
        }
        Mode::Random => better_of_two(rng, &pool),
    })
}

/// How an attempt failed, as far as retrying is concerned: decided on [`ErrorCode`]s, never on
/// message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// One of beach's fixed errors: no reply in time ([`ErrorCode::Timeout`]), the actor not
    /// on the node reached, its queue full, its node unreachable before the request was sent
    /// (connection refused, handshake failed, send queue full), ...
    Code(ErrorCode),
    /// The connection failed, or the node went down, after the request was sent: it may
    /// have been handled, so it is retried only as a timeout is.
    Lost,
    /// The handler's own error reply: final.
    Handler,
}

impl Failure {
    /// The failure an error reply's message stands for.
    pub fn of_message(message: &str) -> Self {
        ErrorCode::of_message(message).map_or(Failure::Handler, Failure::Code)
    }

    /// Whether another attempt may be made: `wrong dest`, `queue full` and an unreachable
    /// node always (the request was not handled); a `timeout` or a lost connection only with
    /// `retry_timeouts` (the attempt may have run); every other error is the handler's answer.
    pub fn is_retryable(&self, retry_timeouts: bool) -> bool {
        match self {
            Failure::Code(ErrorCode::Timeout) | Failure::Lost => retry_timeouts,
            Failure::Code(code) => code.surely_not_handled(),
            Failure::Handler => false,
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after `after` (zero when an untried member remains; a short backoff when
    /// only already-tried members are left).
    Retry {
        /// How long to wait first.
        after: Duration,
    },
    /// Give up and report the failure.
    GiveUp,
}

/// The backoff before retrying a member that was already tried, per retry already made.
const SAME_MEMBER_BACKOFF: Duration = Duration::from_millis(20);

/// The longest backoff before retrying a member already tried.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How many retries a request gets unless told otherwise (`0` disables every retry).
pub const DEFAULT_RETRIES: u32 = 2;

/// With timeouts retried, the time left is shared among at most this many attempts, so that
/// a huge retry count does not leave each attempt no time at all.
const MAX_SHARES: u32 = 4;

/// The latest instant `timeout` after `now` that the clock can represent: a timeout of
/// `Duration::MAX` (the usual "no timeout") means "as late as can be", never a panic.
pub fn deadline_after(now: Instant, timeout: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(timeout.min(CENTURY))
        .or_else(|| now.checked_add(Duration::from_secs(24 * 3600)))
        .unwrap_or(now)
}

/// The retry policy and state of one request across its attempts.
#[derive(Debug, Clone)]
pub struct Attempts {
    request_id: u64,
    deadline: Instant,
    retries_left: u32,
    retry_timeouts: bool,
    attempt: u32,
    tried: Vec<ActorId>,
    /// Nodes an attempt found unreachable (or lost the connection to).
    down: Vec<NodeId>,
    /// The request is keyed (`affinity`): it follows its key's owner.
    keyed: bool,
    /// The last attempt's owner answered `queue full`: the next attempt waits and asks it
    /// again rather than moving the key.
    stay: bool,
}

impl Attempts {
    /// A request `request_id` that must be answered by `deadline`, retried at most `retries`
    /// times; timeouts are not retried (see [`Attempts::retry_timeouts`]).
    pub fn new(request_id: u64, deadline: Instant, retries: u32) -> Self {
        Self {
            request_id,
            deadline,
            retries_left: retries,
            retry_timeouts: false,
            attempt: 0,
            tried: Vec::new(),
            down: Vec::new(),
            keyed: false,
            stay: false,
        }
    }

    /// Whether a `timeout` is retried too. Only for requests that are safe to run twice: the
    /// timed-out attempt may have been handled.
    pub fn retry_timeouts(mut self, retry_timeouts: bool) -> Self {
        self.retry_timeouts = retry_timeouts;
        self
    }

    /// The request id, the same for every attempt so a handler can de-duplicate.
    pub fn request_id(&self) -> u64 {
        self.request_id
    }

    /// The deadline shared by every attempt.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The number of the current attempt, 0 for the first.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The members tried so far, in order.
    pub fn tried(&self) -> &[ActorId] {
        &self.tried
    }

    /// Time left before the deadline, or `None` when it has passed.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.deadline.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// How long the current attempt may take. When timeouts are retried, an equal share of
    /// the time left among this attempt and the retries still allowed (at most
    /// four shares), so that an attempt whose request or reply is lost leaves time
    /// to retry elsewhere; otherwise all the time left, since the failures retried then come
    /// back at once. `None` when the deadline has passed.
    pub fn attempt_timeout(&self, now: Instant) -> Option<Duration> {
        let shares =
            if self.retry_timeouts { self.retries_left.min(MAX_SHARES - 1) + 1 } else { 1 };
        self.remaining(now).map(|left| left / shares)
    }

    /// Picks the member for the next attempt (see [`choose`]) and records it as tried. A
    /// keyed (`affinity`) request stays on its key's live owner: after `queue full` it asks
    /// the same owner again (after a backoff); it moves to the key's next owner only when the
    /// owner is gone (`wrong dest`, its node unreachable, or no longer among `members`).
    pub fn pick<R: RngExt + ?Sized>(
        &mut self,
        mode: Mode,
        members: &[ActorId],
        key: Option<&[u8]>,
        local: Option<&NodeId>,
        near: &(impl Nearness + ?Sized),
        rng: &mut R,
    ) -> Result<ActorId, RoutingError> {
        self.keyed = mode == Mode::Affinity;
        let on_down_nodes: Vec<ActorId>;
        let exclude = match (self.keyed && self.stay, self.tried.split_last()) {
            (true, Some((_, before))) => before,
            _ if self.down.is_empty() => &self.tried[..],
            // An unkeyed retry passes over every member of a node found unreachable, not
            // only the member tried there.
            _ => {
                on_down_nodes = self
                    .tried
                    .iter()
                    .chain(members.iter().filter(|m| self.down.contains(m.node())))
                    .cloned()
                    .collect();
                &on_down_nodes
            }
        };
        let chosen = choose(mode, members, key, local, near, exclude, rng)?.clone();
        self.stay = false;
        if !self.tried.contains(&chosen) {
            self.tried.push(chosen.clone());
        }
        Ok(chosen)
    }

    /// After a failed attempt at `now`: retry if the failure is retryable, retries are left
    /// and the deadline has not passed. `members` is the category's current membership.
    pub fn on_failure(
        &mut self,
        now: Instant,
        failure: &Failure,
        members: &[ActorId],
    ) -> RetryDecision {
        if !failure.is_retryable(self.retry_timeouts) || self.retries_left == 0 {
            return RetryDecision::GiveUp;
        }
        let Some(left) = self.remaining(now) else { return RetryDecision::GiveUp };
        self.retries_left -= 1;
        self.attempt = self.attempt.saturating_add(1);
        if matches!(failure, Failure::Code(ErrorCode::Unreachable) | Failure::Lost)
            && let Some(node) = self.tried.last().map(|m| m.node().clone())
            && !self.down.contains(&node)
        {
            self.down.push(node);
        }
        // A keyed request stays with its key's owner whatever failed: sending the key to
        // another member would split its data. The owner changes only when it leaves the
        // directory (the members the next pick sees).
        self.stay = self.keyed;
        let untried = !self.stay
            && members.iter().any(|m| !self.tried.contains(m) && !self.down.contains(m.node()));
        let after = if untried {
            Duration::ZERO
        } else {
            SAME_MEMBER_BACKOFF.saturating_mul(self.attempt).min(MAX_BACKOFF)
        };
        if after >= left {
            return RetryDecision::GiveUp;
        }
        RetryDecision::Retry { after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;
    use proptest::prelude::*;

    fn node(i: u64) -> NodeId {
        format!("10.0.0.{i}:4999#{i:x}").parse().unwrap()
    }

    fn members(n: u64) -> Vec<ActorId> {
        (0..n).map(|i| node(i % 3).actor_id(i)).collect()
    }

    /// Pinned outputs: if these change, every deployed client would map keys differently.
    #[test]
    fn rendezvous_is_stable_across_builds() {
        let m = members(5);
        let picks: Vec<String> = ["user:1", "user:2", "order/77", ""]
            .iter()
            .map(|k| rendezvous(k.as_bytes(), &m).unwrap().to_string())
            .collect();
        assert_eq!(picks, PINNED_PICKS);
        assert_eq!(rendezvous_score(b"user:1", &m[0]), PINNED_SCORE);
    }

    // Cross-checked against Python's `xxhash.xxh3_64_intdigest` over the same byte layout.
    const PINNED_PICKS: [&str; 4] =
        ["0@10.0.0.0:4999#0", "4@10.0.0.1:4999#1", "4@10.0.0.1:4999#1", "2@10.0.0.2:4999#2"];
    const PINNED_SCORE: u64 = 14019078867580491747;

    #[test]
    fn affinity_needs_a_key_and_empty_categories_fail_at_once() {
        let m = members(3);
        let local = node(0);
        let err = choose(Mode::Affinity, &m, None, Some(&local), &Unknown, &[], &mut seeded(1));
        assert_eq!(err, Err(RoutingError::AffinityWithoutKey));
        let err = choose(Mode::Random, &[], None, Some(&local), &Unknown, &[], &mut seeded(1));
        assert_eq!(err, Err(RoutingError::NoMembers));
        assert!("nearest".parse::<Mode>().unwrap_err().to_string().contains("affinity"));
    }

    /// Connected nodes and requests in flight, as a test sets them.
    #[derive(Default)]
    struct Near {
        connected: Vec<NodeId>,
        load: Vec<(ActorId, u64)>,
        failing: Vec<NodeId>,
    }

    impl Nearness for Near {
        fn reach(&self, actor: &ActorId) -> Reach {
            Reach {
                failing: self.failing.contains(actor.node()),
                in_flight: self.load.iter().find(|(a, _)| a == actor).map_or(0, |l| l.1),
                connected: self.connected.contains(actor.node()),
            }
        }
    }

    #[test]
    fn local_prefers_this_node_and_random_prefers_idle_then_connected_members() {
        let m = members(9);
        let mut tally = std::collections::BTreeMap::new();
        for seed in 0..300 {
            let mut rng = seeded(seed);
            let l = choose(Mode::Local, &m, None, Some(&node(1)), &Near::default(), &[], &mut rng)
                .unwrap();
            assert_eq!(l.node(), &node(1));
            let near = Near { connected: vec![node(2)], ..Near::default() };
            let r = choose(Mode::Random, &m, None, None, &near, &[], &mut rng).unwrap();
            *tally.entry(r.node().clone()).or_insert(0) += 1;
        }
        // Node 2 wins whenever one of the two drawn is on it (5 draws in 9), but the others
        // still get their share: an outside client spreads beyond the node it entered by.
        let (two, others) = (tally[&node(2)], tally[&node(0)] + tally[&node(1)]);
        assert!((150..=200).contains(&two) && others >= 100, "{tally:?}");

        // A member with requests piling up is passed over whenever it is drawn with another.
        let busy = Near { load: m.iter().map(|a| (a.clone(), 5)).collect(), ..Near::default() };
        let mut idle_one = busy;
        idle_one.load[4].1 = 0;
        let picks = (0..300)
            .filter(|&seed| {
                let r = choose(Mode::Random, &m, None, None, &idle_one, &[], &mut seeded(seed));
                r.unwrap() == &m[4]
            })
            .count();
        // Drawn in 2 of 9 pairs: about 67 of 300; alone it would be 33.
        assert!((50..=90).contains(&picks), "{picks}");
        // One member: it, whatever it carries.
        let r = choose(Mode::Random, &m[..1], None, None, &idle_one, &[], &mut seeded(1));
        assert_eq!(r.unwrap(), &m[0]);

        // A dead node's members hold no requests, yet they lose to busy live ones: node 0
        // failing is picked only when both members drawn are on it (3 of 9: 1 pair in 12).
        let mut dead = Near { load: m.iter().map(|a| (a.clone(), 5)).collect(), ..Near::default() };
        dead.failing.push(node(0));
        for a in dead.load.iter_mut().filter(|(a, _)| a.node() == &node(0)) {
            a.1 = 0;
        }
        let on_dead = (0..300)
            .filter(|&seed| {
                let r = choose(Mode::Random, &m, None, None, &dead, &[], &mut seeded(seed));
                r.unwrap().node() == &node(0)
            })
            .count();
        assert!(on_dead < 45, "{on_dead} of 300 on the failing node");
    }

    #[test]
    fn a_retry_passes_over_every_member_of_a_node_found_unreachable() {
        // Nine members, three per node: after node 0 was unreachable, none of its members is
        // tried again while the other nodes' remain.
        let m = members(9);
        let now = Instant::now();
        for seed in 0..50 {
            let mut a = Attempts::new(1, now + Duration::from_secs(10), 4);
            let mut rng = seeded(seed);
            let first = loop {
                let f = a.pick(Mode::Random, &m, None, None, &Unknown, &mut rng).unwrap();
                if f.node() == &node(0) {
                    break f;
                }
                a = Attempts::new(1, now + Duration::from_secs(10), 4);
            };
            let unreachable = Failure::Code(ErrorCode::Unreachable);
            assert!(matches!(a.on_failure(now, &unreachable, &m), RetryDecision::Retry { .. }));
            for _ in 0..4 {
                let next = a.pick(Mode::Random, &m, None, None, &Unknown, &mut rng).unwrap();
                assert_ne!(next.node(), first.node(), "seed {seed}");
                let _ = a.on_failure(now, &Failure::Code(ErrorCode::QueueFull), &m);
            }
        }
    }

    #[test]
    fn retries_never_repeat_a_member_while_others_remain() {
        let m = members(4);
        let now = Instant::now();
        let mut a = Attempts::new(9, now + Duration::from_secs(10), 10);
        let mut rng = seeded(5);
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(a.pick(Mode::Random, &m, None, Some(&node(0)), &Unknown, &mut rng).unwrap());
            // A failure of the member (not of its node, see the next test).
            assert_eq!(a.on_failure(now, &Failure::Code(ErrorCode::WrongDest), &m), {
                if seen.len() < 4 {
                    RetryDecision::Retry { after: Duration::ZERO }
                } else {
                    RetryDecision::Retry { after: SAME_MEMBER_BACKOFF * 4 }
                }
            });
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 4);
        assert_eq!(a.request_id(), 9);
        assert_eq!(a.attempt(), 4);
    }

    #[test]
    fn only_failures_that_were_surely_not_handled_are_retried_by_default() {
        let m = members(3);
        let now = Instant::now();
        let mut a = Attempts::new(1, now + Duration::from_secs(1), 3);
        assert_eq!(a.on_failure(now, &Failure::of_message("boom"), &m), RetryDecision::GiveUp);
        assert_eq!(
            a.on_failure(now, &Failure::of_message(ErrorCode::Unauthorized.as_str()), &m),
            RetryDecision::GiveUp
        );
        for code in [ErrorCode::WrongDest.as_str(), ErrorCode::QueueFull.as_str()] {
            assert!(Failure::of_message(code).is_retryable(false));
        }
        assert!(Failure::Code(ErrorCode::Unreachable).is_retryable(false));
        assert!(!Failure::Code(ErrorCode::Timeout).is_retryable(false), "the attempt may have run");
        assert!(!Failure::Lost.is_retryable(false), "the attempt may have run");
        assert!(Failure::Code(ErrorCode::Timeout).is_retryable(true));
        assert_eq!(
            a.on_failure(now, &Failure::Code(ErrorCode::Timeout), &m),
            RetryDecision::GiveUp
        );
        let late = now + Duration::from_secs(1);
        assert_eq!(
            a.on_failure(late, &Failure::Code(ErrorCode::QueueFull), &m),
            RetryDecision::GiveUp
        );
        let mut b = Attempts::new(1, now + Duration::from_secs(1), 1).retry_timeouts(true);
        assert!(matches!(
            b.on_failure(now, &Failure::Code(ErrorCode::Timeout), &m),
            RetryDecision::Retry { .. }
        ));
        assert_eq!(
            b.on_failure(now, &Failure::Code(ErrorCode::Timeout), &m),
            RetryDecision::GiveUp,
            "retries used up"
        );
    }

    #[test]
    fn attempts_share_the_time_left_only_when_timeouts_are_retried() {
        let now = Instant::now();
        let m = members(3);
        let mut a = Attempts::new(1, now + Duration::from_secs(3), 2).retry_timeouts(true);
        assert_eq!(a.attempt_timeout(now), Some(Duration::from_secs(1)));
        let later = now + Duration::from_secs(1);
        assert!(matches!(
            a.on_failure(later, &Failure::Code(ErrorCode::Timeout), &m),
            RetryDecision::Retry { .. }
        ));
        assert_eq!(a.attempt_timeout(later), Some(Duration::from_secs(1)));
        let plain = Attempts::new(1, now + Duration::from_secs(3), 2);
        assert_eq!(plain.attempt_timeout(now), Some(Duration::from_secs(3)), "timeouts final");
        let single = Attempts::new(1, now + Duration::from_secs(3), 0).retry_timeouts(true);
        assert_eq!(
            single.attempt_timeout(now),
            Some(Duration::from_secs(3)),
            "no retries: all of it"
        );
        assert_eq!(single.attempt_timeout(now + Duration::from_secs(3)), None);
    }

    #[test]
    fn huge_retry_counts_and_timeouts_neither_overflow_nor_starve_attempts() {
        let now = Instant::now();
        let m = members(2);
        let deadline = deadline_after(now, Duration::MAX);
        assert!(deadline > now + Duration::from_secs(3600));
        let mut a = Attempts::new(1, now + Duration::from_secs(4), u32::MAX).retry_timeouts(true);
        assert_eq!(a.attempt_timeout(now), Some(Duration::from_secs(1)), "at most 4 shares");
        for _ in 0..100 {
            a.pick(Mode::Random, &m, None, None, &Unknown, &mut seeded(1)).unwrap();
            match a.on_failure(now, &Failure::Code(ErrorCode::QueueFull), &m) {
                RetryDecision::Retry { after } => assert!(after <= MAX_BACKOFF),
                RetryDecision::GiveUp => panic!("retries and time are left"),
            }
        }
    }

    #[test]
    fn a_keyed_request_stays_on_its_owner_while_the_owner_is_a_member() {
        let m = members(5);
        let now = Instant::now();
        let mut a = Attempts::new(1, now + Duration::from_secs(1), 3);
        let first = a
            .pick(Mode::Affinity, &m, Some(b"k"), Some(&node(0)), &Unknown, &mut seeded(1))
            .unwrap();
        assert!(matches!(
            a.on_failure(now, &Failure::Code(ErrorCode::QueueFull), &m),
            RetryDecision::Retry { after } if after > Duration::ZERO
        ));
        let again = a
            .pick(Mode::Affinity, &m, Some(b"k"), Some(&node(0)), &Unknown, &mut seeded(1))
            .unwrap();
        assert_eq!(again, first, "the owner is still there: wait and retry it");
        // Unreachable too: the key's data lives with its owner, so the request waits for it
        // rather than writing elsewhere.
        assert!(matches!(
            a.on_failure(now, &Failure::Code(ErrorCode::Unreachable), &m),
            RetryDecision::Retry { after } if after > Duration::ZERO
        ));
        let still = a
            .pick(Mode::Affinity, &m, Some(b"k"), Some(&node(0)), &Unknown, &mut seeded(1))
            .unwrap();
        assert_eq!(still, first, "unreachable, but still a member: still the owner");
        // Once the owner has left the directory, the key's next owner serves it.
        let without: Vec<ActorId> = m.iter().filter(|x| **x != first).cloned().collect();
        assert!(matches!(
            a.on_failure(now, &Failure::Code(ErrorCode::WrongDest), &without),
            RetryDecision::Retry { .. }
        ));
        let moved = a
            .pick(Mode::Affinity, &without, Some(b"k"), Some(&node(0)), &Unknown, &mut seeded(1))
            .unwrap();
        assert_eq!(&moved, rendezvous(b"k", &without).unwrap(), "gone: the next owner");
    }

    proptest! {
        #[test]
        fn removing_a_member_moves_only_its_keys(n in 2u64..20, gone in any::<prop::sample::Index>(), keys in proptest::collection::vec(any::<u64>(), 1..200)) {
            let all = members(n);
            let gone = all[gone.index(all.len())].clone();
            let rest: Vec<ActorId> = all.iter().filter(|m| **m != gone).cloned().collect();
            for k in keys {
                let k = k.to_le_bytes();
                let before = rendezvous(&k, &all).unwrap();
                let after = rendezvous(&k, &rest).unwrap();
                if *before != gone {
                    prop_assert_eq!(before, after);
                }
            }
        }

        #[test]
        fn member_order_does_not_matter(n in 1u64..20, key: Vec<u8>, seed: u64) {
            let mut m = members(n);
            let a = rendezvous(&key, &m).unwrap().clone();
            let mut rng = seeded(seed);
            for i in (1..m.len()).rev() {
                m.swap(i, rng.random_range(0..=i));
            }
            prop_assert_eq!(&a, rendezvous(&key, &m).unwrap());
        }
    }
}
