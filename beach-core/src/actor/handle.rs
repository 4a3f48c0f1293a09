//! Handles: virtual references to a category (or one actor) that pick a member per request and
//! retry elsewhere. Fanning out (one-way messages, broadcasts, asking every member) is in
//! `fanout.rs`, groups of sub-categories in `group.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::{Port, RequestError, Retry, Routed};
use crate::actor::Message;
use crate::model::{ActorId, Realm};
use crate::rng::NodeRng;
use crate::routing::{Attempts, Mode, RetryDecision};
use crate::value::Payload;
use crate::wire;

/// Per-request settings of a handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOptions {
    /// The deadline for the whole request, all attempts included; `None` takes the cluster's
    /// `request_timeout_default`.
    pub timeout: Option<Duration>,
    /// How many times a `wrong dest`, `queue full` or unreachable node is retried (on another
    /// actor, or on the key's owner for a keyed request); default
    /// [`crate::routing::DEFAULT_RETRIES`], `0` disables every retry.
    pub retries: u32,
    /// Whether a `timeout` is retried too (off by default: the timed-out attempt may have
    /// run). Each attempt then gets a share of the time left (see
    /// [`crate::routing::Attempts::attempt_timeout`]): budget the timeout accordingly.
    pub retry_timeouts: bool,
    /// The key for `affinity` mode.
    pub key: Option<Vec<u8>>,
    /// How the member is picked.
    pub mode: Mode,
    /// The ident checked against the actor's trusted idents.
    pub ident: Option<String>,
    /// The request's id, when the caller chose it (to find it in every node's log); `None`
    /// takes the next of the sending node's or client's ids.
    pub request_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    Category(String),
    Actor(ActorId),
}

/// A virtual handle to the actors of a category (or to one actor): it resolves members from
/// the directory view at each request, picks one by its mode, and retries elsewhere. Cheap to
/// clone; the setting methods borrow it and return a copy with one setting changed, so a
/// handle can be kept and varied:
///
/// ```no_run
/// # async fn f(client: beach_core::client::Beach) {
/// use std::time::Duration;
/// let pongers = client.handle("svc/pongers");
/// let patient = pongers.timeout(Duration::from_secs(30));
/// let sticky = pongers.key("user-42");
/// # let _ = (patient, sticky); }
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(super) port: Arc<dyn Port>,
    pub(super) realm: Realm,
    pub(super) target: Target,
    pub(super) options: RequestOptions,
    /// What a handle and the copies made from it share: one allocation per handle made.
    pub(super) shared: Arc<Shared>,
    /// Called with the error of a failed `shoot` (see [`Handle::on_failure`]).
    pub(super) on_failure: Option<OnFailure>,
}

/// The state a handle shares with its copies.
#[derive(Debug)]
pub(super) struct Shared {
    /// The handle's random choices.
    pub(super) rng: Mutex<NodeRng>,
    /// Failed shoots, through this handle and its copies.
    pub(super) shoot_failures: AtomicU64,
}

/// What [`Handle::on_failure`] calls: with the error of a shoot that failed.
pub type OnFailure = Arc<dyn Fn(RequestError) + Send + Sync>;

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("realm", &self.realm)
            .field("target", &self.target)
            .field("options", &self.options)
            .field("on_failure", &self.on_failure.is_some())
            .finish_non_exhaustive()
    }
}

impl Handle {
    pub(crate) fn new(
        port: Arc<dyn Port>,
        realm: Realm,
        category: &str,
        mode: Mode,
        ident: Option<String>,
    ) -> Self {
        let shared = Arc::new(Shared {
            rng: Mutex::new(port.fork_rng()),
            shoot_failures: AtomicU64::new(0),
        });
        Self {
            port,
            realm,
            target: Target::Category(category.to_owned()),
            options: RequestOptions {
                timeout: None,
                retries: crate::routing::DEFAULT_RETRIES,
                retry_timeouts: false,
                key: None,
                mode,
                ident,
                request_id: None,
            },
            shared,
            on_failure: None,
        }
    }

    /// A handle to one actor by id, with the same settings.
    pub fn to_actor(&self, id: ActorId) -> Self {
        Self { target: Target::Actor(id), ..self.clone() }
    }

    /// The category this handle reaches (the printed id for a one-actor handle).
    pub fn category(&self) -> String {
        match &self.target {
            Target::Category(c) => c.clone(),
            Target::Actor(id) => id.to_string(),
        }
    }

    /// The realm.
    pub fn realm(&self) -> &Realm {
        &self.realm
    }

    /// The settings.
    pub fn options(&self) -> &RequestOptions {
        &self.options
    }

    /// With a deadline for each request (all attempts included).
    pub fn timeout(&self, timeout: Duration) -> Handle {
        let mut h = self.clone();
        h.options.timeout = Some(timeout);
        h
    }

    /// With `retries` retries of failures where the request was surely not handled (`0`:
    /// none). See [`crate::routing`] for the rule.
    pub fn retries(&self, retries: u32) -> Handle {
        let mut h = self.clone();
        h.options.retries = retries;
        h
    }

    /// Whether a `timeout` is retried too: only for requests that are safe to run twice.
    pub fn retry_timeouts(&self, retry_timeouts: bool) -> Handle {
        let mut h = self.clone();
        h.options.retry_timeouts = retry_timeouts;
        h
    }

    /// With a routing mode.
    pub fn mode(&self, mode: Mode) -> Handle {
        let mut h = self.clone();
        h.options.mode = mode;
        h
    }

    /// With an affinity key (and `affinity` mode).
    pub fn key(&self, key: impl AsRef<[u8]>) -> Handle {
        let mut h = self.clone();
        h.options.key = Some(key.as_ref().to_vec());
        h.options.mode = Mode::Affinity;
        h
    }

    /// With a callback for failed shoots: [`Handle::shoot`] then sends a request whose answer
    /// it waits for in the background (with this handle's timeout and retries), and calls
    /// `on_failure` with the error when the request fails. Without one, a shoot is a one-way
    /// message, cheaper, whose failures past sending go unnoticed.
    pub fn on_failure(&self, on_failure: impl Fn(RequestError) + Send + Sync + 'static) -> Handle {
        let mut h = self.clone();
        h.on_failure = Some(Arc::new(on_failure));
        h
    }

    /// How many shoots through this handle (and the copies made from it) failed: could not be
    /// sent, or, with [`Handle::on_failure`], failed after sending.
    pub fn shoot_failures(&self) -> u64 {
        self.shared.shoot_failures.load(Ordering::Relaxed)
    }

    /// A copy whose requests carry `id`, kept across retries, so that a caller can find the
    /// request in every node's log (handlers run in a `request` span with it). Ids should be
    /// unique: take them from [`crate::node::Node::next_request_id`] or a random source.
    pub fn request_id(&self, id: u64) -> Handle {
        let mut h = self.clone();
        h.options.request_id = Some(id);
        h
    }

    /// With an ident.
    pub fn ident(&self, ident: impl Into<String>) -> Handle {
        let mut h = self.clone();
        h.options.ident = Some(ident.into());
        h
    }

    /// The current members, from the local directory view.
    pub fn members(&self) -> Vec<ActorId> {
        match &self.target {
            Target::Category(c) => self.port.members(&self.realm, c),
            Target::Actor(id) => vec![id.clone()],
        }
    }

    /// Whether any actor matches.
    pub fn is_available(&self) -> bool {
        !self.members().is_empty()
    }

    /// How many actors match.
    pub fn num_available(&self) -> usize {
        self.members().len()
    }

    /// Requests in flight from this node or client, per member.
    pub fn pending(&self) -> BTreeMap<ActorId, u64> {
        self.members().into_iter().map(|m| (m.clone(), self.port.pending(&m))).collect()
    }

    pub(super) fn timeout_or_default(&self) -> Duration {
        self.options.timeout.unwrap_or_else(|| self.port.default_timeout())
    }

    pub(super) fn wire_request(
        &self,
        id: u64,
        to: ActorId,
        kind: &str,
        data: Payload,
        timeout: Duration,
        attempt: u32,
    ) -> wire::ActorCall {
        wire::ActorCall {
            id,
            to,
            realm: self.realm.clone(),
            kind: kind.to_owned(),
            data,
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX).max(1),
            ident: self.options.ident.clone(),
            attempt,
        }
    }

    /// Sends `data` (any serde value) as a request of type `kind` and waits for the reply.
    /// Data already encoded (a [`Payload`], such as a request being relayed) goes with
    /// [`Handle::request_payload`]: passed here it would travel as a byte string.
    pub async fn request<T: Serialize + ?Sized>(
        &self,
        kind: &str,
        data: &T,
    ) -> Result<Payload, RequestError> {
        self.request_payload(kind, Payload::encode(data)?).await
    }

    /// Sends `message` and waits for its typed reply: the typed form of [`Handle::request`].
    ///
    /// ```no_run
    /// # async fn f(client: beach_core::client::Beach) -> Result<(), beach_core::actor::RequestError> {
    /// use beach_core::actor::Message;
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Add { a: i64, b: i64 }
    /// impl Message for Add { const KIND: &'static str = "add"; type Reply = i64; }
    ///
    /// let sum = client.handle("svc/calc").ask(Add { a: 2, b: 3 }).await?;
    /// assert_eq!(sum, 5);
    /// # Ok(()) }
    /// ```
    pub async fn ask<M: Message>(&self, message: M) -> Result<M::Reply, RequestError> {
        Ok(self.request(M::KIND, &message).await?.decode()?)
    }

    /// [`Handle::request`] with already-encoded data.
    pub async fn request_payload(
        &self,
        kind: &str,
        data: Payload,
    ) -> Result<Payload, RequestError> {
        let Some(routes) = self.port.routes() else {
            return self.attempts(kind, data, None).await;
        };
        let mut retried = Vec::new();
        let started = self.port.runtime().now();
        let outcome = self.attempts(kind, data, Some(&mut retried)).await;
        routes.routed(&Routed {
            realm: &self.realm,
            category: match &self.target {
                Target::Category(c) => c,
                Target::Actor(_) => "",
            },
            kind,
            outcome: &outcome,
            took: self.port.runtime().now().saturating_duration_since(started),
            retried: &retried,
            retry_timeouts: self.options.retry_timeouts,
            keyed: self.options.key.is_some(),
        });
        outcome
    }

    /// Sends the attempts of one request, retrying as the options say, until one answers or
    /// the request fails; each failed attempt that another followed goes into `retried`, when
    /// given (an observer wants them).
    async fn attempts(
        &self,
        kind: &str,
        data: Payload,
        mut retried: Option<&mut Vec<Retry>>,
    ) -> Result<Payload, RequestError> {
        let rt = self.port.runtime();
        // One clock read per attempt: it starts the deadline and sizes the attempt.
        let mut now = rt.now();
        let deadline = crate::routing::deadline_after(now, self.timeout_or_default());
        let mut members = self.members();
        if members.is_empty()
            && let Target::Category(c) = &self.target
        {
            // A look-up spends the request's own time, never more.
            let wait = deadline.saturating_duration_since(now);
            members =
                self.port.resolve(&self.realm, c, wait).await.map_err(RequestError::Unreachable)?;
            now = rt.now();
        }
        if members.is_empty() {
            return Err(RequestError::NoActors { category: self.category() });
        }
        let mut attempts = Attempts::new(
            self.options.request_id.unwrap_or_else(|| self.port.next_request_id()),
            deadline,
            self.options.retries,
        )
        .retry_timeouts(self.options.retry_timeouts);
        // A failed attempt waiting for the next one's target, for `retried`.
        let mut r_pending: Option<Retry> = None;
        loop {
            let target = {
                let mut rng = self.shared.rng.lock().expect("handle rng");
                attempts.pick(
                    self.options.mode,
                    &members,
                    self.options.key.as_deref(),
                    self.port.local_node(),
                    &*self.port,
                    &mut *rng,
                )?
            };
            let Some(left) = attempts.attempt_timeout(now) else {
                return Err(RequestError::Timeout);
            };
            if let (Some(r), Some(last)) = (retried.as_deref_mut(), r_pending.take()) {
                let key_owner = self
                    .options
                    .key
                    .as_deref()
                    .and_then(|k| crate::routing::rendezvous(k, members.iter()))
                    .cloned();
                r.push(Retry { to: target.clone(), key_owner, ..last });
            }
            let sent_to = retried.is_some().then(|| target.clone());
            let req = self.wire_request(
                attempts.request_id(),
                target,
                kind,
                data.clone(),
                left,
                attempts.attempt(),
            );
            let err = match self.port.call(req).await {
                Ok(reply) => return Ok(reply),
                Err(e) => e,
            };
            now = rt.now();
            let failure = err.failure();
            match attempts.on_failure(now, &failure, &members) {
                RetryDecision::GiveUp => return Err(err.into()),
                RetryDecision::Retry { after } => {
                    if !after.is_zero() {
                        rt.sleep(after).await;
                        now = rt.now();
                    }
                    // Retry among the members the directory lists now; when it lists none any
                    // more, every one of them is gone and the failure stands.
                    members = self.members();
                    if let Some(from) = sent_to {
                        let from_listed = members.contains(&from);
                        r_pending = Some(Retry {
                            to: from.clone(),
                            from,
                            failure,
                            from_listed,
                            key_owner: None,
                        });
                    }
                    if members.is_empty() {
                        return Err(err.into());
                    }
                }
            }
        }
    }
}
