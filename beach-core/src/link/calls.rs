//! The table of calls waiting for their answers: a pure state machine, no I/O and no lock of
//! its own (the links hold it under theirs), so its rules are tested without a transport.
//!
//! The rules: a call is answered only from the connection it went out on (nobody can answer
//! calls they were not sent); an answer takes the call off the table exactly once; a lost
//! connection fails every call to its endpoint; and the requests in flight to each actor are
//! counted while they wait, with calls served on this node counted alike (and those waiting
//! on each connection, which writes directly only when no other call waits on it).

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use tokio::sync::oneshot;

use super::outbox::Outbox;
use crate::actor::CallError;
use crate::model::{ActorId, Endpoint};
use crate::value::Payload;
use crate::wire::AdminAnswer;

/// A call's key: its request id and attempt (each attempt is answered apart).
pub(super) type CallKey = (u64, u32);

/// A call waiting for its reply.
pub(super) struct PendingCall {
    pub(super) endpoint: Endpoint,
    pub(super) via: Outbox,
    pub(super) actor: ActorId,
    pub(super) tx: oneshot::Sender<Result<Payload, CallError>>,
}

/// An admin call waiting for its answer.
pub(super) struct PendingAdmin {
    pub(super) endpoint: Endpoint,
    pub(super) via: Outbox,
    pub(super) tx: oneshot::Sender<Result<AdminAnswer, String>>,
}

/// The calls and admin calls waiting, and the requests in flight per actor. Calls and counts
/// are in hash maps (Fx: the keys are this side's own ids and the actors it calls, and a
/// `BTreeMap` shifted a node's entries on every answer); admin calls are rare.
#[derive(Default)]
pub(super) struct Calls {
    calls: FxHashMap<CallKey, PendingCall>,
    admin: BTreeMap<u64, PendingAdmin>,
    in_flight: FxHashMap<ActorId, u64>,
}

impl Calls {
    /// Registers a call sent to `call.actor` on `call.via`.
    pub(super) fn add(&mut self, key: CallKey, call: PendingCall) {
        *self.in_flight.entry(call.actor.clone()).or_insert(0) += 1;
        call.via.call_started();
        if let Some(old) = self.calls.insert(key, call) {
            // The same id and attempt again (a caller reusing ids): the old waiter loses.
            decrement(&mut self.in_flight, &old.actor);
            old.via.call_ended();
        }
    }

    /// Takes the call waiting under `key` off the table, unless `only_from` names another
    /// connection than the one it went out on (then it stays, and `None` comes back).
    pub(super) fn take(&mut self, key: CallKey, only_from: Option<&Outbox>) -> Option<PendingCall> {
        if only_from.is_some_and(|o| self.calls.get(&key).is_some_and(|c| !c.via.same(o))) {
            tracing::debug!(id = key.0, "ignored a reply from another connection");
            return None;
        }
        let c = self.calls.remove(&key)?;
        decrement(&mut self.in_flight, &c.actor);
        c.via.call_ended();
        Some(c)
    }

    /// Registers an admin call under `id`; gives it back when the id is taken.
    pub(super) fn add_admin(&mut self, id: u64, call: PendingAdmin) -> Result<(), PendingAdmin> {
        if self.admin.contains_key(&id) {
            return Err(call);
        }
        call.via.call_started();
        self.admin.insert(id, call);
        Ok(())
    }

    /// Takes the admin call `id`, under the same rule as [`Calls::take`].
    pub(super) fn take_admin(
        &mut self,
        id: u64,
        only_from: Option<&Outbox>,
    ) -> Option<PendingAdmin> {
        if only_from.is_some_and(|o| self.admin.get(&id).is_some_and(|c| !c.via.same(o))) {
            tracing::debug!("ignored an admin answer from another connection");
            return None;
        }
        let c = self.admin.remove(&id)?;
        c.via.call_ended();
        Some(c)
    }

    /// Takes every call and admin call waiting on `endpoint`: its connection is gone.
    pub(super) fn take_all_to(
        &mut self,
        endpoint: &Endpoint,
    ) -> (Vec<PendingCall>, Vec<PendingAdmin>) {
        self.take_where(|to, _| to == endpoint)
    }

    /// Takes every call and admin call sent on the connection `via`: it is gone.
    pub(super) fn take_all_via(&mut self, via: &Outbox) -> (Vec<PendingCall>, Vec<PendingAdmin>) {
        self.take_where(|_, on| on.same(via))
    }

    /// Takes every call and admin call whose endpoint and connection `lost` says are gone.
    fn take_where(
        &mut self,
        lost: impl Fn(&Endpoint, &Outbox) -> bool,
    ) -> (Vec<PendingCall>, Vec<PendingAdmin>) {
        let mut keys: Vec<CallKey> =
            self.calls.iter().filter(|(_, c)| lost(&c.endpoint, &c.via)).map(|(k, _)| *k).collect();
        // In call order, whatever the map's: callers fail in the same order on every run.
        keys.sort_unstable();
        let calls = keys.iter().filter_map(|k| self.take(*k, None)).collect();
        let ids: Vec<u64> =
            self.admin.iter().filter(|(_, c)| lost(&c.endpoint, &c.via)).map(|(k, _)| *k).collect();
        let admin = ids.iter().filter_map(|id| self.take_admin(*id, None)).collect();
        (calls, admin)
    }

    /// Requests in flight to `actor`.
    pub(super) fn in_flight(&self, actor: &ActorId) -> u64 {
        self.in_flight.get(actor).copied().unwrap_or(0)
    }

    /// Counts a call served on this node as in flight, until [`Calls::end_local`].
    pub(super) fn begin_local(&mut self, actor: &ActorId) {
        *self.in_flight.entry(actor.clone()).or_insert(0) += 1;
    }

    /// Ends what [`Calls::begin_local`] began.
    pub(super) fn end_local(&mut self, actor: &ActorId) {
        decrement(&mut self.in_flight, actor);
    }
}

fn decrement(map: &mut FxHashMap<ActorId, u64>, actor: &ActorId) {
    if let Some(n) = map.get_mut(actor) {
        *n -= 1;
        if *n == 0 {
            map.remove(actor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(seq: u64) -> ActorId {
        "10.0.0.1:4999#1".parse::<crate::model::NodeId>().unwrap().actor_id(seq)
    }

    fn call(
        endpoint: &str,
        via: &Outbox,
        a: u64,
    ) -> (PendingCall, oneshot::Receiver<Result<Payload, CallError>>) {
        let (tx, rx) = oneshot::channel();
        let endpoint = Endpoint::new(endpoint).unwrap();
        (PendingCall { endpoint, via: via.clone(), actor: actor(a), tx }, rx)
    }

    #[test]
    fn only_the_connection_a_call_went_out_on_answers_it_and_only_once() {
        let (via, _rx) = Outbox::channel(&Default::default());
        let (other, _rx2) = Outbox::channel(&Default::default());
        let mut t = Calls::default();
        let (c, _wait) = call("a:1", &via, 1);
        t.add((7, 0), c);
        assert_eq!(t.in_flight(&actor(1)), 1);
        assert!(t.take((7, 0), Some(&other)).is_none(), "another connection cannot answer");
        assert_eq!(t.in_flight(&actor(1)), 1, "and the call still waits");
        assert!(t.take((7, 1), Some(&via)).is_none(), "another attempt's answer is not this one's");
        assert!(t.take((7, 0), Some(&via)).is_some());
        assert!(t.take((7, 0), Some(&via)).is_none(), "answered once");
        assert_eq!(t.in_flight(&actor(1)), 0);
    }

    #[test]
    fn a_lost_endpoint_takes_its_calls_and_leaves_the_others() {
        let (via, _rx) = Outbox::channel(&Default::default());
        let mut t = Calls::default();
        for (k, ep) in [(1, "a:1"), (2, "a:1"), (3, "b:1")] {
            t.add((k, 0), call(ep, &via, k).0);
        }
        let (tx, _admin) = oneshot::channel();
        let endpoint = Endpoint::new("a:1").unwrap();
        assert!(t.add_admin(9, PendingAdmin { endpoint, via: via.clone(), tx }).is_ok());
        let (tx, _admin2) = oneshot::channel();
        let endpoint = Endpoint::new("b:1").unwrap();
        assert!(t.add_admin(9, PendingAdmin { endpoint, via: via.clone(), tx }).is_err(), "taken");
        let (calls, admin) = t.take_all_to(&Endpoint::new("a:1").unwrap());
        assert_eq!((calls.len(), admin.len()), (2, 1));
        assert_eq!(t.in_flight(&actor(3)), 1);
        assert!(t.take((3, 0), None).is_some());
        assert!(t.take_admin(9, None).is_none());
    }

    #[test]
    fn local_calls_count_in_flight_like_remote_ones() {
        let mut t = Calls::default();
        t.begin_local(&actor(1));
        t.begin_local(&actor(1));
        assert_eq!(t.in_flight(&actor(1)), 2);
        t.end_local(&actor(1));
        t.end_local(&actor(1));
        t.end_local(&actor(1));
        assert_eq!(t.in_flight(&actor(1)), 0, "never below zero");
    }
}
