//! A connection inside one process: two bounded queues of envelopes, no bytes, no sockets.
//! [`crate::node::Node::client`] uses it so a program embedding a node calls that node's
//! actors without a connection to itself.

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{Connection, FrameSink, FrameStream, Refused, TransportError};
use crate::wire::Envelope;

/// How many envelopes wait in one direction before the sender waits: the links' outbox above
/// bounds the bytes; this only paces the hand-over.
const DEPTH: usize = 1024;

/// Two connected ends: what is sent on one is received on the other, in order. `a` and `b`
/// name each end's peer, for logs and errors.
pub fn pipe(a: &str, b: &str) -> (Connection, Connection) {
    let (to_b, from_a) = mpsc::channel(DEPTH);
    let (to_a, from_b) = mpsc::channel(DEPTH);
    let end = |peer: &str, tx, rx| Connection {
        peer: peer.to_owned(),
        sink: Box::new(PipeSink { peer: peer.to_owned(), tx }),
        stream: Box::new(PipeStream { rx }),
    };
    (end(b, to_b, from_b), end(a, to_a, from_a))
}

struct PipeSink {
    peer: String,
    tx: mpsc::Sender<Envelope>,
}

#[async_trait]
impl FrameSink for PipeSink {
    async fn send(&mut self, batch: &[Envelope]) -> Result<Vec<Refused>, TransportError> {
        for envelope in batch {
            self.tx
                .send(envelope.clone())
                .await
                .map_err(|_| TransportError::Closed { addr: self.peer.clone() })?;
        }
        Ok(Vec::new())
    }
}

struct PipeStream {
    rx: mpsc::Receiver<Envelope>,
}

#[async_trait]
impl FrameStream for PipeStream {
    async fn recv(&mut self) -> Result<Option<Envelope>, TransportError> {
        Ok(self.rx.recv().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn what_one_end_sends_the_other_receives_in_order_until_it_closes() {
        let (mut a, mut b) = pipe("a", "b");
        assert_eq!((a.peer.as_str(), b.peer.as_str()), ("b", "a"));
        let sent =
            [Envelope::ViewRequest(Default::default()), Envelope::Membership(vec![1, 2].into())];
        a.sink.send(&sent).await.unwrap();
        assert_eq!(b.stream.recv().await.unwrap().as_ref(), Some(&sent[0]));
        assert_eq!(b.stream.recv().await.unwrap().as_ref(), Some(&sent[1]));
        drop(a);
        assert_eq!(b.stream.recv().await.unwrap(), None);
        assert!(b.sink.send(&sent).await.is_err());
    }
}
