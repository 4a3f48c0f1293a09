//! Closing a quiet connection between two nodes, losing nothing.
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
//! does not close its half once nothing is owed, within `link_idle` is cut off, as a broken
//! connection would be.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::{Either, select};

use super::outbox::{Outbox, Queue};
use super::{Links, add};
use crate::model::Endpoint;
use crate::runtime::sleep_until;
use crate::wire::Envelope;

impl Links {
    /// Watches the connection `tx` to the node at `endpoint` and closes it by the handshake
    /// above once it is quiet for `idle` (or the peer starts it). Returns only when the
    /// connection is to be cut: the handshake did not finish in time.
    pub(super) async fn reap(
        self: &Arc<Self>,
        endpoint: &Endpoint,
        tx: &Outbox,
        heard: &AtomicUsize,
        idle: Duration,
    ) -> String {
        let q = tx.queue();
        let rt = self.runtime.clone();
        // Quiet for two looks in a row, half the idle time apart: idle for at least `idle`.
        let mut last = usize::MAX;
        let mut quiet = 0;
        loop {
            let settle = q.settle.notified();
            if q.bye_received.load(Ordering::Acquire) {
                break;
            }
            let tick = rt.sleep(idle / 2);
            futures::pin_mut!(settle);
            if let Either::Right(_) = select(settle, tick).await {
                let now = heard.load(Ordering::Relaxed) + q.activity.load(Ordering::Relaxed);
                quiet = if now == last && owes_nothing(q) && q.count.load(Ordering::Acquire) == 0 {
                    quiet + 1
                } else {
                    0
                };
                last = now;
                if quiet >= 2 {
                    break;
                }
            }
        }
        tracing::debug!(%endpoint, by_peer = q.bye_received.load(Ordering::Acquire), "closing a quiet link");
        // New traffic goes on a new connection; this one only finishes what it carries.
        self.retire(endpoint, tx);
        q.bye_sent.store(true, Ordering::Release);
        if !tx.send(Envelope::Bye) {
            return "the connection failed while closing".to_owned();
        }
        // The peer's `Bye` is due within `idle`; the answers either side waits for come when
        // they come (a call ends by its own timeout at the latest).
        let deadline = rt.now() + idle;
        loop {
            let settle = q.settle.notified();
            let answered = q.bye_received.load(Ordering::Acquire);
            if answered && owes_nothing(q) {
                break;
            }
            futures::pin_mut!(settle);
            if answered {
                settle.await;
            } else if let Either::Right(_) = select(settle, sleep_until(&*rt, deadline)).await {
                return format!("the peer did not answer a close within {idle:?}");
            }
        }
        // Nothing more is sent: the writer writes what is queued and closes our half.
        q.shut.store(true, Ordering::SeqCst);
        q.flush.notify_one();
        add(&self.counters.reaped, 1);
        rt.sleep(idle).await;
        "the peer did not close its half of a quiet connection".to_owned()
    }

    /// Takes the connection `tx` out of the table, if it is the one filed for `endpoint`.
    fn retire(&self, endpoint: &Endpoint, tx: &Outbox) {
        let mut s = self.state.lock().expect("links lock");
        if s.links.get(endpoint).is_some_and(|o| o.same(tx)) {
            s.links.remove(endpoint);
        }
    }
}

/// Whether neither side waits for an answer on the connection.
fn owes_nothing(q: &Queue) -> bool {
    q.calls.load(Ordering::Acquire) == 0 && q.serving.load(Ordering::Acquire) == 0
}
