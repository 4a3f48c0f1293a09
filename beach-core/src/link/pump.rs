//! The read/write pump of one established connection: a writer that sends what queued up in
//! batches (and flushes what direct writes left), a reader that hands what arrives to the
//! links, and what ends the connection (either side failing, a full queue, an idle client).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::outbox::{Inbox, Outbox};
use super::{IDLE_CLIENT, Links, MAX_BATCH, PROTOCOL_BREAK, Remote, add, kind_of};
use crate::actor::CallError;
use crate::auth::Role;
use crate::model::Endpoint;
use crate::transport::{FrameSink, FrameStream};
use crate::wire::{AdminReply, Envelope, RemoteError, Reply, WireError};

/// How many frames of one burst the reader takes before it lets the writer send what they
/// brought about. Pipelined requests over one connection on two cores (`beach bench-client
/// --threads 1`, 64 in flight, against a node): 303-335k/s when the answers to a whole window
/// leave together, 425-520k/s in turns of 32, 447-484k/s in turns of 16 (BENCHMARKS.md).
const ANSWERS_PER_TURN: usize = 32;

/// Counts the frames a reader takes within one burst, to say when the writer gets a turn.
#[derive(Default)]
struct Turns {
    /// Frames read since the burst began or the writer last had a turn.
    taken: usize,
}

impl Turns {
    /// Called before each read, with whether more frames are already buffered (a burst goes
    /// on): whether to let the writer run first.
    fn before_read(&mut self, buffered: bool) -> bool {
        let turn = buffered && self.taken == ANSWERS_PER_TURN;
        if !buffered || turn {
            self.taken = 0;
        }
        self.taken += 1;
        turn
    }
}

/// Lets the other futures of this task run: returns pending once, having asked to be polled
/// again.
async fn yield_once() {
    let mut yielded = false;
    futures::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

impl Links {
    /// Reads and writes an established connection until either side fails.
    pub(super) async fn run(
        self: &Arc<Self>,
        endpoint: Endpoint,
        tx: Outbox,
        mut rx: Inbox,
        sink: Box<dyn FrameSink>,
        mut stream: Box<dyn FrameStream>,
        from: Remote,
    ) {
        // A client that sends nothing for IDLE_CLIENT is dropped (a live one refreshes its
        // directory every sync period). Counting what arrives costs the hot path one relaxed
        // increment; a watchdog looks at the count now and then. Between nodes, the sweep of
        // quiet connections looks at the same count (see `reap.rs`).
        let q = tx.queue().clone();
        let counters = &self.counters;
        add(&counters.open, 1);
        add(&counters.opened, 1);
        let watched = (self.role == Role::Node && from.role == Role::Client).then(|| {
            let (q, rt) = (q.clone(), self.runtime.clone());
            async move {
                let mut last = usize::MAX;
                loop {
                    rt.sleep(IDLE_CLIENT / 2).await;
                    let now = q.received.load(Ordering::Relaxed);
                    if now == last {
                        return format!("an idle client: nothing for {IDLE_CLIENT:?}");
                    }
                    last = now;
                }
            }
        });
        let watchdog = async move {
            match watched {
                Some(w) => w.await,
                None => futures::future::pending().await,
            }
        };
        let between_nodes = self.role == Role::Node && from.role == Role::Node;
        if between_nodes {
            self.watch(&endpoint, &tx);
        }
        let reader = {
            let me = self.clone();
            let tx = tx.clone();
            let queued = tx.queued();
            async move {
                let mut turns = Turns::default();
                // Whether another frame was already buffered after the last one read (nothing
                // reads the stream in between, so it still is).
                let mut buffered = false;
                loop {
                    if turns.before_read(buffered) {
                        // A long burst: the writer (polled in this task) sends the answers
                        // made so far, so the peer works on them while this side reads on,
                        // instead of the two sides taking turns over whole windows.
                        yield_once().await;
                    }
                    match stream.recv().await {
                        Ok(Some(env)) => {
                            q.received.fetch_add(1, Ordering::Relaxed);
                            if matches!(env, Envelope::Request(_) | Envelope::Admin(_)) {
                                tx.serving_started();
                            }
                            add(&me.counters.frames_in, 1);
                            add(&me.counters.bytes_in, stream.take_bytes());
                            // An answer made here goes out at once when nothing more was
                            // read; within a burst it queues, and the burst's answers leave
                            // in batches: when the reader has read them all, or at its next
                            // turn (`ANSWERS_PER_TURN`). Replies read in a burst hold their
                            // callers' next requests back for one batch too (`burst`).
                            buffered = stream.buffered();
                            let answer = if buffered { &queued } else { &tx };
                            if buffered && matches!(env, Envelope::Reply(_)) {
                                q.burst.store(true, Ordering::Relaxed);
                            }
                            if let Err(why) = me.receive(env, answer, &from) {
                                add(&me.counters.broken, 1);
                                if let Some(skipped) = PROTOCOL_BREAK.check(me.runtime.now()) {
                                    tracing::warn!(%why, skipped, "closing a connection that broke the protocol");
                                }
                                return why;
                            }
                        }
                        Ok(None) => {
                            // The peer closed its half in the close handshake: ours closes
                            // once what it carries went.
                            if q.closing() {
                                // Boxed: rare, and the reader lives as long as the connection.
                                Box::pin(q.half_closed()).await;
                            }
                            return "closed by peer".to_owned();
                        }
                        Err(e @ crate::transport::TransportError::Frame { .. }) => {
                            // Bad input: only this connection pays for it.
                            add(&me.counters.broken, 1);
                            if let Some(skipped) = PROTOCOL_BREAK.check(me.runtime.now()) {
                                tracing::warn!(error = %e, skipped, "closing a connection that sent a bad frame");
                            }
                            return e.to_string();
                        }
                        Err(e) => return e.to_string(),
                    }
                }
            }
        };
        let alarm = Inbox::alarmed(rx.queue.clone());
        rx.install(sink);
        let writer = {
            let me = self.clone();
            let tx = tx.clone();
            let rx = &mut rx;
            async move {
                let mut batch = Vec::new();
                let q = rx.queue.clone();
                loop {
                    if q.shut.load(Ordering::SeqCst) && q.count.load(Ordering::Acquire) == 0 {
                        // Closing (see `reap.rs`): everything queued went; flush what a
                        // direct write left and close this side's half.
                        if let Some(mut sink) = rx.take_sink() {
                            let _ = sink.send(&[]).await;
                            add(&me.counters.bytes_out, sink.take_bytes());
                        }
                        q.half_closed.store(true, Ordering::Release);
                        q.settle.notify_one();
                        futures::future::pending::<()>().await;
                    }
                    // The next envelope queued, or bytes a direct write left to flush.
                    let first = {
                        use futures::future::{Either, select};
                        let flush = Inbox::flush_wanted(rx.queue.clone());
                        let next = rx.next();
                        futures::pin_mut!(next, flush);
                        match select(next, flush).await {
                            Either::Left((Some(first), _)) => Some(first),
                            Either::Left((None, _)) => {
                                return ("link dropped".to_owned(), Vec::new());
                            }
                            Either::Right(((), _)) => None,
                        }
                    };
                    let mut bytes = 0;
                    let mut next = first.or_else(|| rx.try_next());
                    while let Some((env, size)) = next {
                        batch.push(env);
                        bytes += size;
                        next = if batch.len() < MAX_BATCH { rx.try_next() } else { None };
                    }
                    // Gone only when a direct write failed: the connection is closing, and
                    // this batch was never written.
                    let Some(mut sink) = rx.take_sink() else {
                        return ("a write on the connection failed".to_owned(), batch);
                    };
                    let sent = sink.send(&batch).await;
                    add(&me.counters.bytes_out, sink.take_bytes());
                    match sent {
                        Ok(refused) => {
                            add(&me.counters.frames_out, (batch.len() - refused.len()) as u64);
                            add(&me.counters.frames_refused, refused.len() as u64);
                            rx.written(sink, batch.len(), bytes);
                            for r in refused {
                                me.refused(&batch[r.index], &r.error, &tx);
                            }
                        }
                        // Known closed before writing: nothing of this batch left.
                        Err(e @ crate::transport::TransportError::Closed { .. }) => {
                            return (e.to_string(), batch);
                        }
                        Err(e) => return (e.to_string(), Vec::new()),
                    }
                    batch.clear();
                    if q.count.load(Ordering::Acquire) == 0 {
                        // Going to sleep: an idle connection keeps no buffer (a node may
                        // hold thousands).
                        batch = Vec::new();
                    } else {
                        // A burst may have grown it.
                        batch.shrink_to(MAX_BATCH / 4);
                    }
                }
            }
        };
        let (why, mut unsent) = {
            use futures::future::{Either, select};
            futures::pin_mut!(reader, writer, alarm, watchdog);
            // Whatever ends first ends the connection: the reader, a full queue or a failed
            // direct write, an idle client, or the writer (which hands back what it could not
            // send).
            let stop = async { select(alarm, watchdog).await.factor_first().0 };
            let reading = async { select(reader, Box::pin(stop)).await.factor_first().0 };
            match select(Box::pin(reading), writer).await {
                Either::Left((why, _)) => (why, Vec::new()),
                Either::Right((done, _)) => done,
            }
        };
        // Nobody writes on it any more; dropping it closes our half.
        drop(rx.take_sink());
        self.counters.open.fetch_sub(1, Ordering::Relaxed);
        tracing::debug!(%endpoint, %why, "link closed");
        if between_nodes {
            self.unwatch(&tx);
        }
        let q = &rx.queue;
        if q.half_closed.load(Ordering::Acquire) && q.bye_received.load(Ordering::Acquire) {
            // Closed by the handshake: nothing was left to send or to wait for, and the
            // table already files another connection (or none) for the peer.
            return;
        }
        // Requests that never left this side surely were not handled: they fail as
        // unreachable (and are retried); the rest may have been, and fail as lost.
        while let Some((env, _)) = rx.try_next() {
            unsent.push(env);
        }
        for env in unsent {
            if let Envelope::Request(r) = env {
                self.fail_call(
                    (r.id, r.attempt),
                    CallError::Unreachable(format!("{endpoint}: {why}")),
                );
            }
        }
        self.lost(&endpoint, &tx, &why, true);
    }

    /// The transport could not send `envelope` on the connection of `outbox` (it does not fit
    /// in a frame): whoever waits for it gets an error at once instead of at its deadline.
    fn refused(&self, envelope: &Envelope, error: &WireError, outbox: &Outbox) {
        tracing::warn!(kind = kind_of(envelope), %error, "not sent");
        match envelope {
            Envelope::Request(r) => self.resolve_reply(
                Reply {
                    id: r.id,
                    attempt: r.attempt,
                    result: Err(RemoteError::too_large("request", error)),
                },
                None,
            ),
            Envelope::Reply(r) => {
                outbox.send(Envelope::Reply(Reply {
                    id: r.id,
                    attempt: r.attempt,
                    result: Err(RemoteError::too_large("reply", error)),
                }));
            }
            Envelope::Admin(a) => self.resolve_admin(
                AdminReply { id: a.id, result: Err(format!("admin call too large: {error}")) },
                None,
            ),
            Envelope::AdminReply(a) => {
                outbox.send(Envelope::AdminReply(AdminReply {
                    id: a.id,
                    result: Err(format!("answer too large: {error}")),
                }));
            }
            // One-way messages and cluster sync: nobody waits; the warning is the trace.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reads (numbered from 0) before which the writer gets a turn, given whether frames
    /// were buffered before each.
    fn turns_at(buffered: impl IntoIterator<Item = bool>) -> Vec<usize> {
        let mut turns = Turns::default();
        buffered
            .into_iter()
            .enumerate()
            .filter(|(_, b)| turns.before_read(*b))
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn the_writer_gets_a_turn_every_so_many_frames_of_a_burst_only() {
        assert_eq!(ANSWERS_PER_TURN, 32);
        // Frames one at a time (nothing buffered before each read): never a turn.
        assert!(turns_at([false; 200]).is_empty());
        // A burst: its first frame is read from the socket, the rest were buffered with it.
        let burst = |n: usize| std::iter::once(false).chain(std::iter::repeat_n(true, n - 1));
        assert_eq!(turns_at(burst(100)), [32, 64, 96]);
        // Each burst counts from its own start.
        assert_eq!(turns_at(burst(40).chain(burst(40))), [32, 72]);
    }
}
