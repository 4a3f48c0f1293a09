//! Fanning out from a handle: one-way messages (`shoot`, `broadcast`) and asking every member
//! at once (`request_from_all`).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use futures::stream::{FuturesUnordered, Stream, StreamExt};
use serde::Serialize;

use super::{Handle, Port, RequestError};
use crate::model::ActorId;
use crate::routing::RoutingError;
use crate::runtime::BoxFuture;
use crate::value::Payload;
use crate::wire::ActorCall;

impl Handle {
    /// Sends a request without waiting for its answer (fire and forget). Without
    /// [`Handle::on_failure`] it is a one-way message: a member that cannot be sent to is
    /// replaced by another, up to the handle's retries. With it, the request runs in the
    /// background with the handle's timeout and retries, and a failure calls the callback.
    /// Either way failures count in [`Handle::shoot_failures`]. Fails at once when no member
    /// matches, the data cannot be encoded, or no member could be sent to.
    pub fn shoot<T: Serialize + ?Sized>(&self, kind: &str, data: &T) -> Result<(), RequestError> {
        let data = Payload::encode(data)?;
        let result = self.shoot_payload(kind, data);
        if result.is_err() {
            self.shared.shoot_failures.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    pub(super) fn shoot_payload(&self, kind: &str, data: Payload) -> Result<(), RequestError> {
        let members = self.members();
        if members.is_empty() {
            return Err(RequestError::NoActors { category: self.category() });
        }
        if let Some(on_failure) = self.on_failure.clone() {
            let (handle, kind) = (self.clone(), kind.to_owned());
            self.port.runtime().spawn(Box::pin(async move {
                if let Err(e) = handle.request_payload(&kind, data).await {
                    handle.shared.shoot_failures.fetch_add(1, Ordering::Relaxed);
                    on_failure(e);
                }
            }));
            return Ok(());
        }
        let mut tried: Vec<ActorId> = Vec::new();
        loop {
            let target = {
                let mut rng = self.shared.rng.lock().expect("handle rng");
                crate::routing::choose(
                    self.options.mode,
                    &members,
                    self.options.key.as_deref(),
                    self.port.local_node(),
                    &*self.port,
                    &tried,
                    &mut *rng,
                )
                .map_err(|e| match e {
                    RoutingError::NoMembers => RequestError::NoActors { category: self.category() },
                    e => e.into(),
                })?
                .clone()
            };
            let req = self.wire_request(
                self.port.next_request_id(),
                target.clone(),
                kind,
                data.clone(),
                self.timeout_or_default(),
                u32::try_from(tried.len()).unwrap_or(u32::MAX),
            );
            if self.port.tell(req) {
                return Ok(());
            }
            tried.push(target.clone());
            // A keyed message stays with its key's owner, as requests do.
            let keyed = self.options.mode == crate::routing::Mode::Affinity;
            if keyed || tried.len() > self.options.retries as usize || tried.len() >= members.len()
            {
                return Err(RequestError::Unreachable(format!("cannot send to {target}")));
            }
        }
    }

    /// Sends a message that expects no reply to every current member; returns how many were
    /// sent.
    pub fn broadcast<T: Serialize + ?Sized>(
        &self,
        kind: &str,
        data: &T,
    ) -> Result<usize, RequestError> {
        let data = Payload::encode(data)?;
        let id = self.port.next_request_id();
        let timeout = self.timeout_or_default();
        let members = self.members();
        // Corked: the messages to the members on one node leave in one write.
        let sent = crate::transport::corked(|| {
            members
                .into_iter()
                .filter(|m| {
                    self.port.tell(self.wire_request(id, m.clone(), kind, data.clone(), timeout, 0))
                })
                .count()
        });
        Ok(sent)
    }

    /// Sends the request to every current member at once; the answers come as a stream, in
    /// the order they arrive ([`Replies::collect_all`] gathers them in member order). No
    /// retries: each answer is that member's.
    ///
    /// ```no_run
    /// # async fn f(client: beach_core::client::Beach) -> Result<(), beach_core::actor::RequestError> {
    /// use futures::StreamExt;
    ///
    /// let mut replies = client.handle("svc/shards").request_from_all("count", &())?;
    /// while let Some((actor, reply)) = replies.next().await {
    ///     println!("{actor}: {:?}", reply.map(|p| p.decode::<u64>()));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn request_from_all<T: Serialize + ?Sized>(
        &self,
        kind: &str,
        data: &T,
    ) -> Result<Replies, RequestError> {
        let data = Payload::encode(data)?;
        let timeout = self.timeout_or_default();
        let calls = self
            .members()
            .into_iter()
            .map(|m| {
                // One id per member: replies are matched by id.
                let id = self.port.next_request_id();
                let req = self.wire_request(id, m.clone(), kind, data.clone(), timeout, 0);
                (m, req)
            })
            .collect::<Vec<_>>();
        Ok(Replies { asked: calls.len(), port: self.port.clone(), calls, running: None })
    }
}

/// One member's answer.
type Answer = (ActorId, Result<Payload, RequestError>);

/// The answers of [`Handle::request_from_all`]: a stream of each member and its result, in the
/// order they arrive, or all of them in member order with [`Replies::collect_all`]. The
/// requests go out when the stream is first polled (or `collect_all` awaited).
pub struct Replies {
    port: Arc<dyn Port>,
    calls: Vec<(ActorId, ActorCall)>,
    asked: usize,
    /// The calls under way, once polled as a stream.
    running: Option<FuturesUnordered<BoxFuture<'static, Answer>>>,
}

impl std::fmt::Debug for Replies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replies")
            .field("asked", &self.asked)
            .field("waiting", &self.running.as_ref().map_or(self.calls.len(), |r| r.len()))
            .finish()
    }
}

impl Replies {
    /// How many members were asked.
    pub fn asked(&self) -> usize {
        self.asked
    }

    /// Waits for every answer and returns them in member order (of those not already taken
    /// from the stream).
    pub async fn collect_all(mut self) -> Vec<Answer> {
        let port = &self.port;
        let calls = std::mem::take(&mut self.calls)
            .into_iter()
            .map(|(m, req)| async move { (m, port.call(req).await.map_err(RequestError::from)) });
        // Corked: the requests to the members on one node leave in one write.
        let mut joined = std::pin::pin!(futures::future::join_all(calls));
        let mut answers =
            futures::future::poll_fn(|cx| crate::transport::corked(|| joined.as_mut().poll(cx)))
                .await;
        if let Some(running) = self.running.take() {
            answers.extend(running.collect::<Vec<_>>().await);
        }
        answers
    }
}

impl Stream for Replies {
    type Item = Answer;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.running.is_none() {
            let port = self.port.clone();
            let running = std::mem::take(&mut self.calls)
                .into_iter()
                .map(|(m, req)| {
                    let port = port.clone();
                    let call: BoxFuture<'static, Answer> =
                        Box::pin(
                            async move { (m, port.call(req).await.map_err(RequestError::from)) },
                        );
                    call
                })
                .collect();
            self.running = Some(running);
        }
        match self.running.as_mut() {
            Some(running) => crate::transport::corked(|| running.poll_next_unpin(cx)),
            None => Poll::Ready(None),
        }
    }
}
