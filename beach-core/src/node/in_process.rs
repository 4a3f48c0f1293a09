//! The client of a program that embeds a node ([`Node::client`]): it reaches the node over an
//! in-process pipe (no socket, no connection to itself), and other nodes as any client does.

use std::sync::{Arc, Weak};

use async_trait::async_trait;

use super::{Node, NodeInner};
use crate::actor::{Group, Handle};
use crate::client::{Beach, ClientBuilder, ClientError};
use crate::config::ClusterConfig;
use crate::model::{Endpoint, Realm};
use crate::routing::Mode;
use crate::transport::{Connection, Listener, Transport, TransportError, pipe};

/// Connections to the node itself are pipes handed to its links; connections to other nodes
/// go through `outside` (a transport proving the client key).
#[derive(Debug)]
struct InProcess {
    node: Weak<NodeInner>,
    endpoint: Endpoint,
    outside: Arc<dyn Transport>,
}

#[async_trait]
impl Transport for InProcess {
    async fn connect(&self, to: &Endpoint) -> Result<Connection, TransportError> {
        if *to != self.endpoint {
            return self.outside.connect(to).await;
        }
        let node = self.node.upgrade().ok_or(TransportError::Closed { addr: to.to_string() })?;
        if node.stopped.load(std::sync::atomic::Ordering::Acquire) {
            return Err(TransportError::Closed { addr: to.to_string() });
        }
        let (mine, theirs) = pipe("in-process client", to.as_str());
        node.links.accept(theirs, node.id.clone());
        Ok(mine)
    }

    async fn bind(&self, at: &Endpoint) -> Result<Box<dyn Listener>, TransportError> {
        Err(TransportError::Bind {
            addr: at.to_string(),
            reason: "an in-process client does not listen".to_owned(),
        })
    }
}

impl Node {
    /// A handle to the actors of `realm` whose category starts with `category`, sending from
    /// this node itself as its actors do: no client and no connection in between, so a
    /// request to an actor hosted here is a call in process. For the program embedding the
    /// node (its HTTP gateway sends requests this way); admin calls go through
    /// [`Node::client`].
    ///
    /// ```no_run
    /// # async fn f(node: beach_core::node::Node) {
    /// let realm = beach_core::model::Realm::new("global").unwrap();
    /// let reply = node.handle(&realm, "svc/pongers").request("ping", &()).await;
    /// # }
    /// ```
    pub fn handle(&self, realm: &Realm, category: &str) -> Handle {
        Handle::new(self.inner.port.clone(), realm.clone(), category, Mode::Random, None)
    }

    /// A fresh request id from this node's sequence (which starts at a random point, so ids
    /// of different nodes do not meet): what [`Handle::request_id`] wants.
    pub fn next_request_id(&self) -> u64 {
        crate::actor::Port::next_request_id(&*self.inner.port)
    }

    /// A group handle over the sub-categories one level below `root` (see [`Node::handle`]).
    pub fn group(&self, realm: &Realm, root: &str) -> Group {
        Group::new(self.handle(realm, root))
    }

    /// A client for the program this node runs in: it calls actors and runs admin calls
    /// (with the cluster's admin token) like any client, reaching this node in process,
    /// without a connection to itself, and other nodes over the cluster's transport.
    ///
    /// ```no_run
    /// # async fn f(node: beach_core::node::Node) -> Result<(), beach_core::client::ClientError> {
    /// let client = node.client().await?;
    /// client.add_actor(client.actor("Pong", ["svc/pongers"])).await?;
    /// # Ok(()) }
    /// ```
    pub async fn client(&self) -> Result<Beach, ClientError> {
        let inner = &self.inner;
        let endpoint = inner.id.endpoint().clone();
        let transport = Arc::new(InProcess {
            node: Arc::downgrade(inner),
            endpoint: endpoint.clone(),
            outside: inner.client_transport.clone(),
        });
        // The secrets came in already: nothing to read from files.
        let config = ClusterConfig {
            secret_file: None,
            accepted_secret_files: Vec::new(),
            ..inner.config.clone()
        };
        let mut builder = ClientBuilder::new()
            .config(&config)
            .seed(endpoint.to_string())
            .name("in-process")
            .transport(transport)
            .runtime(inner.runtime.clone());
        if let Some(key) = &inner.client_key {
            builder = builder.client_key(key.clone());
        }
        builder.connect().await
    }
}
