//! The bounded queue of envelopes waiting for one connection's writer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures::StreamExt;
use futures::channel::mpsc;
use tokio::sync::Notify;

use crate::wire::Envelope;

/// The most envelopes queued for one connection.
pub(crate) const MAX_QUEUED: usize = 65_536;

/// The most bytes (by [`Envelope::approx_size`]) queued for one connection.
pub(crate) const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// Where envelopes for one connection are queued: a channel that allocates per message (a node
/// holds a connection to every peer, and an idle one should cost next to nothing), bounded by
/// [`MAX_QUEUED`] envelopes and [`MAX_QUEUED_BYTES`] bytes. A peer that lets its queue fill up
/// does not read what it is sent: the queue refuses more and the connection is closed, so a
/// slow or stuck reader costs only itself, never the node's memory or its other peers'
/// traffic.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<(Envelope, usize)>,
    queue: Arc<Queue>,
}

/// What an outbox and its inbox share: the bounds' counters, and the alarm a full queue
/// raises.
#[derive(Debug, Default)]
pub(super) struct Queue {
    count: AtomicUsize,
    bytes: AtomicUsize,
    full: AtomicBool,
    alarm: Notify,
}

/// The receiving end of an [`Outbox`], held by the connection's writer.
pub(super) struct Inbox {
    rx: mpsc::UnboundedReceiver<(Envelope, usize)>,
    pub(super) queue: Arc<Queue>,
}

impl Outbox {
    pub(super) fn channel() -> (Outbox, Inbox) {
        let (tx, rx) = mpsc::unbounded();
        let queue = Arc::new(Queue::default());
        (Outbox { tx, queue: queue.clone() }, Inbox { rx, queue })
    }

    /// Queues an envelope; `false` when the connection is gone or its queue is full (which
    /// closes the connection).
    pub(crate) fn send(&self, envelope: Envelope) -> bool {
        let size = envelope.approx_size();
        let q = &self.queue;
        if q.full.load(Ordering::Acquire) {
            return false;
        }
        let count = q.count.fetch_add(1, Ordering::AcqRel);
        let bytes = q.bytes.fetch_add(size, Ordering::AcqRel);
        if count >= MAX_QUEUED || bytes.saturating_add(size) > MAX_QUEUED_BYTES {
            q.count.fetch_sub(1, Ordering::AcqRel);
            q.bytes.fetch_sub(size, Ordering::AcqRel);
            q.full.store(true, Ordering::Release);
            q.alarm.notify_one();
            return false;
        }
        if self.tx.unbounded_send((envelope, size)).is_err() {
            q.count.fetch_sub(1, Ordering::AcqRel);
            q.bytes.fetch_sub(size, Ordering::AcqRel);
            return false;
        }
        true
    }

    pub(super) fn is_closed(&self) -> bool {
        self.tx.is_closed() || self.queue.full.load(Ordering::Acquire)
    }

    pub(super) fn same(&self, other: &Outbox) -> bool {
        self.tx.same_receiver(&other.tx)
    }
}

impl Inbox {
    pub(super) async fn next(&mut self) -> Option<Envelope> {
        let (e, size) = self.rx.next().await?;
        self.taken(size);
        Some(e)
    }

    pub(super) fn try_next(&mut self) -> Option<Envelope> {
        let (e, size) = self.rx.try_recv().ok()?;
        self.taken(size);
        Some(e)
    }

    fn taken(&self, size: usize) {
        self.queue.count.fetch_sub(1, Ordering::AcqRel);
        self.queue.bytes.fetch_sub(size, Ordering::AcqRel);
    }

    /// Waits until the queue overflows: the peer does not read.
    pub(super) async fn overflowed(queue: Arc<Queue>) -> String {
        loop {
            let alarm = queue.alarm.notified();
            if queue.full.load(Ordering::Acquire) {
                let bytes = queue.bytes.load(Ordering::Acquire);
                return format!("the peer does not read: its send queue is full ({bytes} bytes)");
            }
            alarm.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outbox_refuses_past_its_bounds_and_raises_the_alarm() {
        let (tx, mut rx) = Outbox::channel();
        for _ in 0..MAX_QUEUED {
            assert!(tx.send(Envelope::Digest(Default::default())));
        }
        assert!(rx.try_next().is_some(), "taking one frees a place");
        assert!(tx.send(Envelope::Digest(Default::default())));
        assert!(!tx.send(Envelope::Digest(Default::default())), "a full queue refuses");
        assert!(tx.is_closed(), "and its connection is to be closed");
        let why = futures::FutureExt::now_or_never(Inbox::overflowed(rx.queue.clone())).unwrap();
        assert!(why.contains("does not read"), "{why}");
        assert!(rx.try_next().is_some());
        assert!(!tx.send(Envelope::Digest(Default::default())), "it stays refused");

        // Bytes: a few large envelopes fill it long before the count does.
        let (tx, rx) = Outbox::channel();
        let big = Envelope::Membership(bytes::Bytes::from(vec![0u8; 1 << 20]));
        let fit = (0..100).take_while(|_| tx.send(big.clone())).count();
        assert_eq!(fit, MAX_QUEUED_BYTES / (big.approx_size()));
        drop(rx);
        let (tx, rx) = Outbox::channel();
        drop(rx);
        assert!(!tx.send(Envelope::Digest(Default::default())), "a closed connection refuses");
    }
}
