//! The bounded queue of envelopes waiting for one connection's writer, and the short cut
//! around it: a sender that finds the connection idle writes its envelope itself.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::channel::mpsc;
use tokio::sync::Notify;

use super::{LinkCounters, add};
use crate::transport::{FrameSink, SentNow};
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
///
/// The queue hands envelopes to the connection's writer task, which batches them: right under
/// load, but on an idle connection it costs a wake-up of that task (often on another thread)
/// per message. So a sender that finds nothing queued, the writer not writing and no other
/// call waiting for an answer on the connection writes its envelope to the connection itself
/// ([`FrameSink::send_now`]), unless the reader is handing over a burst of answers (their
/// callers' next requests queue, to leave together); the order of one sender's envelopes is
/// kept, since it writes directly only when everything it queued before was written. Envelopes sent at once (a
/// fan-out, a broadcast) are sent corked ([`crate::transport::corked`]): they all queue, and
/// leave together.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<(Envelope, usize)>,
    queue: Arc<Queue>,
    /// Whether this sender may write directly. The connection's own reader queues the answers
    /// it makes while more of a burst is waiting to be read, so that they go out in one batch.
    direct: bool,
}

/// What an outbox and its inbox share: the bounds' counters, the alarm that closes the
/// connection, and the sink while the writer is not using it.
#[derive(Default)]
pub(super) struct Queue {
    /// Envelopes queued or being written by the writer task.
    pub(super) count: AtomicUsize,
    bytes: AtomicUsize,
    /// The connection refuses more: its queue overflowed, or a direct write failed.
    refusing: AtomicBool,
    /// Why the connection is to close, once `refusing`.
    why: Mutex<Option<String>>,
    alarm: Notify,
    /// The connection's sink while no batch is being written (`None` before the connection
    /// is up, and while the writer writes).
    sink: Mutex<Option<Box<dyn FrameSink>>>,
    /// A direct write left bytes the socket would not take yet: the writer flushes them.
    pub(super) flush: Notify,
    /// Calls sent on this connection still waiting for an answer.
    pub(super) calls: AtomicUsize,
    /// The reader is handing over answers from one read (until the writer next writes): the
    /// calls they end tend to send again at once, and their requests should leave in one
    /// batch rather than the first alone (see [`Outbox::send`]).
    pub(super) burst: AtomicBool,
    /// Requests and admin calls that arrived on this connection and are not answered yet.
    pub(super) serving: AtomicUsize,
    /// Envelopes sent and received, for telling a quiet connection (see `reap.rs`).
    pub(super) activity: AtomicUsize,
    pub(super) received: AtomicUsize,
    /// The close handshake (see `reap.rs`): this side began it, sent `Bye`, the peer sent
    /// `Bye`, and this side sends nothing more (its writer writes what is queued and closes
    /// its half).
    pub(super) closing_started: AtomicBool,
    pub(super) bye_sent: AtomicBool,
    pub(super) bye_received: AtomicBool,
    pub(super) shut: AtomicBool,
    /// The writer closed this side's half after `shut`.
    pub(super) half_closed: AtomicBool,
    /// Woken when the writer closed this side's half.
    pub(super) settle: Notify,
    counters: Arc<LinkCounters>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("count", &self.count)
            .field("bytes", &self.bytes)
            .field("refusing", &self.refusing)
            .finish_non_exhaustive()
    }
}

/// The receiving end of an [`Outbox`], held by the connection's writer.
pub(super) struct Inbox {
    rx: mpsc::UnboundedReceiver<(Envelope, usize)>,
    pub(super) queue: Arc<Queue>,
}

impl Outbox {
    /// A queue for one connection, counting what is written directly in `counters`.
    pub(super) fn channel(counters: &Arc<LinkCounters>) -> (Outbox, Inbox) {
        let (tx, rx) = mpsc::unbounded();
        let queue = Arc::new(Queue { counters: counters.clone(), ..Queue::default() });
        (Outbox { tx, queue: queue.clone(), direct: true }, Inbox { rx, queue })
    }

    /// What this outbox and its inbox share.
    pub(super) fn queue(&self) -> &Arc<Queue> {
        &self.queue
    }

    /// The same queue, whose sends always queue (see [`Outbox`]).
    pub(super) fn queued(&self) -> Outbox {
        Outbox { direct: false, ..self.clone() }
    }

    /// Queues an envelope, or writes it at once when the connection is idle; `false` when
    /// the connection is gone or its queue is full (which closes the connection).
    pub(crate) fn send(&self, envelope: Envelope) -> bool {
        let size = envelope.approx_size();
        let q = &self.queue;
        if q.refusing.load(Ordering::Acquire) {
            return false;
        }
        let before = q.count.fetch_add(1, Ordering::AcqRel);
        let bytes = q.bytes.fetch_add(size, Ordering::AcqRel);
        // Counted first, then checked: a connection shut for closing either sees this
        // envelope counted (and writes it before closing) or this sender sees it shut.
        if q.shut.load(Ordering::SeqCst) {
            q.done(1, size);
            q.flush.notify_one();
            return false;
        }
        q.activity.fetch_add(1, Ordering::Relaxed);
        if matches!(envelope, Envelope::Reply(_) | Envelope::AdminReply(_)) {
            q.serving_ended();
        }
        if before >= MAX_QUEUED || bytes.saturating_add(size) > MAX_QUEUED_BYTES {
            q.done(1, size);
            q.refuse(format!("the peer does not read: its send queue is full ({bytes} bytes)"));
            return false;
        }
        if before == 0
            && self.direct
            && !crate::transport::is_corked()
            && !q.burst.load(Ordering::Relaxed)
        {
            // A request counts itself among the calls waiting (it was registered first).
            let others = usize::from(matches!(envelope, Envelope::Request(_)));
            if q.calls.load(Ordering::Acquire) <= others {
                match self.send_now(&envelope, size) {
                    Some(true) => return true,
                    Some(false) => return false,
                    None => {}
                }
            }
        }
        if self.tx.unbounded_send((envelope, size)).is_err() {
            q.done(1, size);
            return false;
        }
        true
    }

    /// Writes `envelope` on the connection now, if the sink is free: `Some(true)` when it
    /// went (or waits in the sink for the writer to flush), `Some(false)` when the connection
    /// failed, `None` when it is to be queued.
    fn send_now(&self, envelope: &Envelope, size: usize) -> Option<bool> {
        let q = &self.queue;
        let Ok(mut slot) = q.sink.try_lock() else { return None };
        let sink = slot.as_mut()?;
        // Checked again under the lock: the writer puts the sink back and counts its batch
        // done under it, so nothing queued earlier can still be on its way.
        if q.count.load(Ordering::Acquire) != 1 {
            return None;
        }
        match sink.send_now(envelope) {
            SentNow::NotNow => None,
            SentNow::Sent { pending } => {
                add(&q.counters.frames_out, 1);
                add(&q.counters.bytes_out, sink.take_bytes());
                q.done(1, size);
                if pending || q.shut.load(Ordering::SeqCst) {
                    q.flush.notify_one();
                }
                Some(true)
            }
            SentNow::Failed(e) => {
                // A broken sink: nobody writes on it again, and dropping it closes our half.
                drop(slot.take());
                drop(slot);
                q.done(1, size);
                q.refuse(e.to_string());
                Some(false)
            }
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.tx.is_closed() || self.queue.refusing.load(Ordering::Acquire)
    }

    pub(super) fn same(&self, other: &Outbox) -> bool {
        self.tx.same_receiver(&other.tx)
    }

    /// A call sent on this connection now waits for its answer (until [`Outbox::call_ended`]).
    pub(super) fn call_started(&self) {
        self.queue.calls.fetch_add(1, Ordering::AcqRel);
    }

    /// Ends what [`Outbox::call_started`] began.
    pub(super) fn call_ended(&self) {
        let _ = self
            .queue
            .calls
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        self.queue.settled();
    }

    /// A request or admin call arrived on this connection: it is owed an answer, which
    /// [`Outbox::send`] counts off when it goes.
    pub(super) fn serving_started(&self) {
        self.queue.serving.fetch_add(1, Ordering::AcqRel);
    }
}

impl Queue {
    /// An answer owed on this connection went.
    fn serving_ended(&self) {
        let _ =
            self.serving.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        self.settled();
    }

    /// Whether the close handshake is under way on this connection.
    pub(super) fn closing(&self) -> bool {
        self.bye_sent.load(Ordering::Acquire) || self.bye_received.load(Ordering::Acquire)
    }

    /// Waits until the writer closed this side's half (see `reap.rs`).
    pub(super) async fn half_closed(&self) {
        loop {
            let settle = self.settle.notified();
            if self.half_closed.load(Ordering::Acquire) {
                return;
            }
            settle.await;
        }
    }

    /// Lets a close under way (see `reap.rs`) go on if that was what it waited for.
    pub(super) fn settled(&self) {
        if self.closing() {
            self.ready_to_shut();
        }
    }

    /// Whether neither side waits for an answer on the connection.
    pub(super) fn owes_nothing(&self) -> bool {
        self.calls.load(Ordering::Acquire) == 0 && self.serving.load(Ordering::Acquire) == 0
    }

    /// Shuts this side's half once both sides said `Bye` and nothing is owed either way: the
    /// writer writes what is queued and closes (see `reap.rs`). `true` the one time it does.
    pub(super) fn ready_to_shut(&self) -> bool {
        let ready = self.bye_sent.load(Ordering::Acquire)
            && self.bye_received.load(Ordering::Acquire)
            && self.owes_nothing();
        if !ready || self.shut.swap(true, Ordering::SeqCst) {
            return false;
        }
        add(&self.counters.reaped, 1);
        self.flush.notify_one();
        true
    }

    /// `n` envelopes of `bytes` in all were written or dropped.
    fn done(&self, n: usize, bytes: usize) {
        self.count.fetch_sub(n, Ordering::AcqRel);
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// The connection refuses more and is to close, for `why` (the first reason stands).
    pub(super) fn refuse(&self, why: String) {
        self.why.lock().expect("outbox lock").get_or_insert(why);
        self.refusing.store(true, Ordering::Release);
        self.alarm.notify_one();
    }
}

impl Inbox {
    /// The next envelope queued, with its size; it stays counted until
    /// [`Inbox::written`].
    pub(super) async fn next(&mut self) -> Option<(Envelope, usize)> {
        self.rx.next().await
    }

    /// The next envelope queued, if one is.
    pub(super) fn try_next(&mut self) -> Option<(Envelope, usize)> {
        self.rx.try_recv().ok()
    }

    /// Installs the connection's sink, where senders and the writer find it.
    pub(super) fn install(&self, sink: Box<dyn FrameSink>) {
        *self.queue.sink.lock().expect("outbox lock") = Some(sink);
    }

    /// Takes the sink to write a batch; `None` once a direct write failed (the connection is
    /// closing) or the connection ended.
    pub(super) fn take_sink(&self) -> Option<Box<dyn FrameSink>> {
        self.queue.sink.lock().expect("outbox lock").take()
    }

    /// Puts the sink back after writing `n` envelopes of `bytes` in all, and counts them done
    /// under the same lock (see [`Outbox::send`]).
    pub(super) fn written(&self, sink: Box<dyn FrameSink>, n: usize, bytes: usize) {
        let mut slot = self.queue.sink.lock().expect("outbox lock");
        *slot = Some(sink);
        self.queue.done(n, bytes);
        self.queue.burst.store(false, Ordering::Relaxed);
    }

    /// Waits until a direct write left bytes to flush.
    pub(super) async fn flush_wanted(queue: Arc<Queue>) {
        queue.flush.notified().await;
    }

    /// Waits until the connection is to close: its queue overflowed (the peer does not read)
    /// or a direct write failed; the reason.
    pub(super) async fn alarmed(queue: Arc<Queue>) -> String {
        loop {
            let alarm = queue.alarm.notified();
            if queue.refusing.load(Ordering::Acquire) {
                let why = queue.why.lock().expect("outbox lock").clone();
                return why.unwrap_or_else(|| "closed".to_owned());
            }
            alarm.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Refused, TransportError};

    fn channel() -> (Outbox, Inbox) {
        Outbox::channel(&Arc::default())
    }

    #[test]
    fn an_outbox_refuses_past_its_bounds_and_raises_the_alarm() {
        let (tx, mut rx) = channel();
        for _ in 0..MAX_QUEUED {
            assert!(tx.send(Envelope::Digest(Default::default())));
        }
        let (_, size) = rx.try_next().unwrap();
        rx.queue.done(1, size);
        assert!(tx.send(Envelope::Digest(Default::default())), "one written frees a place");
        assert!(!tx.send(Envelope::Digest(Default::default())), "a full queue refuses");
        assert!(tx.is_closed(), "and its connection is to be closed");
        let why = futures::FutureExt::now_or_never(Inbox::alarmed(rx.queue.clone())).unwrap();
        assert!(why.contains("does not read"), "{why}");
        assert!(rx.try_next().is_some());
        assert!(!tx.send(Envelope::Digest(Default::default())), "it stays refused");

        // Bytes: a few large envelopes fill it long before the count does.
        let (tx, rx) = channel();
        let big = Envelope::Membership(bytes::Bytes::from(vec![0u8; 1 << 20]));
        let fit = (0..100).take_while(|_| tx.send(big.clone())).count();
        assert_eq!(fit, MAX_QUEUED_BYTES / (big.approx_size()));
        drop(rx);
        let (tx, rx) = channel();
        drop(rx);
        assert!(!tx.send(Envelope::Digest(Default::default())), "a closed connection refuses");
    }

    /// A sink that writes at once while `open`, keeping what it wrote in order.
    struct Now {
        wrote: Arc<Mutex<Vec<Envelope>>>,
        open: bool,
        fail: bool,
    }

    #[async_trait::async_trait]
    impl FrameSink for Now {
        async fn send(&mut self, batch: &[Envelope]) -> Result<Vec<Refused>, TransportError> {
            self.wrote.lock().unwrap().extend(batch.iter().cloned());
            Ok(Vec::new())
        }

        fn send_now(&mut self, envelope: &Envelope) -> SentNow {
            if self.fail {
                return SentNow::Failed(TransportError::Closed { addr: "peer".to_owned() });
            }
            if !self.open {
                return SentNow::NotNow;
            }
            self.wrote.lock().unwrap().push(envelope.clone());
            SentNow::Sent { pending: false }
        }
    }

    fn digest(n: u8) -> Envelope {
        Envelope::Membership(bytes::Bytes::from(vec![n]))
    }

    #[test]
    fn an_idle_connection_is_written_directly_and_order_is_kept() {
        let (tx, mut rx) = channel();
        let wrote = Arc::new(Mutex::new(Vec::new()));
        // Before the connection is up, everything queues.
        assert!(tx.send(digest(1)));
        rx.install(Box::new(Now { wrote: wrote.clone(), open: true, fail: false }));
        // Something is still queued: the next one queues behind it.
        assert!(tx.send(digest(2)));
        assert!(wrote.lock().unwrap().is_empty());
        // The writer writes the batch and puts the sink back.
        let mut sink = rx.take_sink().unwrap();
        let (mut batch, mut bytes) = (Vec::new(), 0);
        while let Some((e, s)) = rx.try_next() {
            batch.push(e);
            bytes += s;
        }
        futures::FutureExt::now_or_never(sink.send(&batch)).unwrap().unwrap();
        rx.written(sink, batch.len(), bytes);
        // Now idle: written at once, without the writer.
        assert!(tx.send(digest(3)));
        assert!(rx.try_next().is_none(), "nothing queued");
        assert_eq!(*wrote.lock().unwrap(), vec![digest(1), digest(2), digest(3)]);
        assert_eq!(rx.queue.count.load(Ordering::Acquire), 0);
        assert_eq!(rx.queue.counters.frames_out.load(Ordering::Relaxed), 1);

        // While the writer holds the sink, senders queue.
        let sink = rx.take_sink().unwrap();
        assert!(tx.send(digest(4)));
        assert!(rx.try_next().is_some());
        rx.written(sink, 1, digest(4).approx_size());

        // The connection's reader queues its answers within a burst.
        assert!(tx.queued().send(digest(5)));
        assert!(rx.try_next().is_some());
        rx.queue.done(1, digest(5).approx_size());

        // Another call waiting for an answer on the connection: requests queue, to be batched.
        tx.call_started();
        assert!(tx.send(digest(6)));
        assert!(rx.try_next().is_some(), "queued while a call waits");
        rx.queue.done(1, digest(6).approx_size());
        tx.call_ended();
        assert!(tx.send(digest(7)));
        assert!(rx.try_next().is_none(), "direct again");

        // The reader hands over a burst of answers: their callers' requests queue, to leave
        // in one batch, until the writer has written.
        rx.queue.burst.store(true, Ordering::Relaxed);
        assert!(tx.send(digest(8)));
        let sink = rx.take_sink().unwrap();
        let (_, size) = rx.try_next().expect("queued during a burst");
        rx.written(sink, 1, size);
        assert!(tx.send(digest(9)));
        assert!(rx.try_next().is_none(), "direct once the burst went out");
        assert_eq!(wrote.lock().unwrap().last(), Some(&digest(9)));
    }

    #[test]
    fn a_failed_direct_write_closes_the_connection() {
        let (tx, rx) = channel();
        rx.install(Box::new(Now { wrote: Arc::default(), open: true, fail: true }));
        assert!(!tx.send(digest(1)), "the sender learns at once");
        assert!(tx.is_closed());
        assert!(rx.take_sink().is_none(), "the broken sink is dropped: the writer stops too");
        let why = futures::FutureExt::now_or_never(Inbox::alarmed(rx.queue.clone())).unwrap();
        assert!(why.contains("closed"), "{why}");
        assert!(!tx.send(digest(2)));
    }
}
