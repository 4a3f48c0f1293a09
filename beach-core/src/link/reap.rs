//! Closing quiet connections between nodes, losing nothing.
//!
//! A node of a large cluster talks to every member now and then (a probe, a sync exchange, a
//! change to its directory), so connections that were never closed would grow to one per
//! member. A connection over which nothing travelled for `link_idle`, and on which neither side
//! waits for an answer, is closed by a handshake:
//!
//! 1. The quiet side takes the connection out of its table (what it sends next opens a new
//!    one) and sends `Bye` behind whatever it queued.
//! 2. The other side, reading `Bye`, does the same and sends `Bye` back. Both go on reading,
//!    and answering what they were asked, on the old connection.
//! 3. A side shuts its half once it has read the other's `Bye` and neither waits for an
//!    answer on it (its own calls, and requests it was sent): its writer writes what is
//!    queued and closes. The connection ends when the other half closed too.
//!
//! Everything sent before a `Bye` is read before it (a connection keeps order), and what a
//! side sends after its `Bye` is only answers, which the other side waits for before it
//! shuts; so no frame queued on either side is lost. A peer that does not answer `Bye`, or
//! does not close its half once ours closed, within `link_idle` is cut off, as a broken
//! connection would be; answers are waited for as long as they take (a call ends by its own
//! timeout at the latest).
//!
//! One sweep per node, every half `link_idle`, looks at all its connections to nodes: an idle
//! connection costs no timer and no task of its own.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::Links;
use super::outbox::{Outbox, Queue};
use crate::model::Endpoint;
use crate::wire::Envelope;

/// A connection to a node, as the sweep sees it.
pub(super) struct Watched {
    tx: Outbox,
    endpoint: Endpoint,
    /// Envelopes sent and received at the last sweep, and for how many sweeps in a row that
    /// count stood still with nothing owed.
    seen: usize,
    quiet: u8,
    /// Once closing: the stage seen last, and since when.
    closing: Option<(Stage, Instant)>,
}

/// What a close waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// `Bye` sent, the peer's not read yet: due within `link_idle`.
    Bye,
    /// Both said `Bye`; answers still owed one way or the other: no deadline.
    Answers,
    /// Our half is closed; the peer's is due within `link_idle`.
    PeerHalf,
}

fn stage(q: &Queue) -> Stage {
    if q.half_closed.load(Ordering::Acquire) {
        Stage::PeerHalf
    } else if q.bye_received.load(Ordering::Acquire) {
        Stage::Answers
    } else {
        Stage::Bye
    }
}

impl Links {
    /// Starts the sweep of these links' connections to nodes, when they close quiet ones.
    pub(super) fn start_sweep(self: &Arc<Self>) {
        let Some(idle) = self.idle else { return };
        let me = Arc::downgrade(self);
        self.spawn(sweep(me, idle));
    }

    /// Lets the sweep watch the connection `tx` to the node at `endpoint`.
    pub(super) fn watch(&self, endpoint: &Endpoint, tx: &Outbox) {
        if self.idle.is_none() {
            return;
        }
        let w = Watched {
            tx: tx.clone(),
            endpoint: endpoint.clone(),
            seen: usize::MAX,
            quiet: 0,
            closing: None,
        };
        self.state.lock().expect("links lock").watched.push(w);
    }

    /// The connection `tx` ended: the sweep forgets it.
    pub(super) fn unwatch(&self, tx: &Outbox) {
        if self.idle.is_some() {
            self.state.lock().expect("links lock").watched.retain(|w| !w.tx.same(tx));
        }
    }

    /// The peer on `tx` said `Bye`: answer it, and shut our half if nothing is owed.
    pub(super) fn bye_received(&self, endpoint: &Endpoint, tx: &Outbox) {
        let q = tx.queue();
        q.bye_received.store(true, Ordering::Release);
        self.start_close(endpoint, tx);
        q.ready_to_shut();
    }

    /// Step 1 (or 2) of the handshake, once per connection.
    pub(super) fn start_close(&self, endpoint: &Endpoint, tx: &Outbox) {
        let q = tx.queue();
        if q.closing_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let now = self.runtime.now();
        {
            let mut s = self.state.lock().expect("links lock");
            // New traffic goes on a new connection; this one only finishes what it carries.
            if s.links.get(endpoint).is_some_and(|o| o.same(tx)) {
                s.links.remove(endpoint);
            }
            if let Some(w) = s.watched.iter_mut().find(|w| w.tx.same(tx)) {
                w.closing = Some((stage(q), now));
            }
        }
        tracing::debug!(%endpoint, by_peer = q.bye_received.load(Ordering::Acquire), "closing a quiet link");
        // Queued behind everything sent before; marked sent only then, so that the shut that
        // follows cannot refuse it.
        tx.send(Envelope::Bye);
        q.bye_sent.store(true, Ordering::Release);
    }

    /// One look at every connection to a node: starts closing those quiet for two sweeps,
    /// cuts off closes the peer does not take part in.
    fn sweep_once(&self, idle: Duration) {
        let now = self.runtime.now();
        let (mut start, mut cut) = (Vec::new(), Vec::new());
        {
            let mut s = self.state.lock().expect("links lock");
            for w in &mut s.watched {
                let q = w.tx.queue();
                match &mut w.closing {
                    None => {
                        let seen =
                            q.activity.load(Ordering::Relaxed) + q.received.load(Ordering::Relaxed);
                        let still = seen == w.seen && q.owes_nothing();
                        w.quiet = if still && q.count.load(Ordering::Acquire) == 0 {
                            w.quiet.saturating_add(1)
                        } else {
                            0
                        };
                        w.seen = seen;
                        if w.quiet >= 2 {
                            start.push((w.endpoint.clone(), w.tx.clone()));
                        }
                    }
                    Some((seen, since)) => {
                        let now_at = stage(q);
                        if now_at != *seen {
                            (*seen, *since) = (now_at, now);
                        } else if now_at != Stage::Answers && now - *since >= idle {
                            cut.push((w.tx.clone(), now_at));
                        }
                    }
                }
            }
        }
        for (endpoint, tx) in start {
            self.start_close(&endpoint, &tx);
            tx.queue().ready_to_shut();
        }
        for (tx, at) in cut {
            let why = match at {
                Stage::Bye => "the peer did not answer a close",
                _ => "the peer did not close its half of a closing connection",
            };
            tx.queue().refuse(format!("{why} within {idle:?}"));
        }
    }
}

/// Sweeps every half `idle` while the links live.
async fn sweep(links: Weak<Links>, idle: Duration) {
    loop {
        let Some(rt) = links.upgrade().map(|l| l.runtime.clone()) else { return };
        rt.sleep(idle / 2).await;
        let Some(l) = links.upgrade() else { return };
        l.sweep_once(idle);
    }
}
