//! A listener fed by a queue: a transport's accept loop (or a simulated network) pushes the
//! connections it accepts, and the engine takes them in order.

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{Connection, Listener, TransportError};
use crate::model::Endpoint;

/// The [`Listener`] of a transport that accepts elsewhere and queues what it accepted.
#[derive(Debug)]
pub struct QueuedListener {
    endpoint: Endpoint,
    rx: mpsc::Receiver<Connection>,
}

impl QueuedListener {
    /// A listener at `endpoint` and the sender that feeds it; at most `capacity` connections
    /// wait for the engine, then the sender waits (TCP leaves the rest in the kernel).
    pub fn new(endpoint: Endpoint, capacity: usize) -> (mpsc::Sender<Connection>, Self) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (tx, Self { endpoint, rx })
    }
}

#[async_trait]
impl Listener for QueuedListener {
    async fn accept(&mut self) -> Result<Connection, TransportError> {
        self.rx
            .recv()
            .await
            .ok_or_else(|| TransportError::Closed { addr: self.endpoint.to_string() })
    }

    fn local_endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }
}
