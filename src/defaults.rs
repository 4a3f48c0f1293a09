//! `Beach::builder()` and `Node::builder()`: the builders of `beach-core`, which knows no
//! transport, starting from the TCP transport when the `tcp` feature is on.

use beach_core::client::{Beach, ClientBuilder};
use beach_core::node::{Node, NodeBuilder};

/// The builder of a client or node with this crate's defaults: TCP (feature `tcp`) and tokio.
/// In the [`crate::prelude`], so that `Beach::builder()` and `Node::builder()` just work.
///
/// ```
/// use beach::prelude::*;
///
/// let client = Beach::builder().seed("127.0.0.1:4999").realm("shop");
/// let node = Node::builder().listen("127.0.0.1:4999");
/// # let _ = (client, node);
/// ```
pub trait Builder {
    /// What builds one.
    type Builder;

    /// A builder with this crate's defaults.
    fn builder() -> Self::Builder;
}

impl Builder for Beach {
    type Builder = ClientBuilder;

    fn builder() -> ClientBuilder {
        let builder = ClientBuilder::new();
        #[cfg(feature = "tcp")]
        let builder = builder.transport_with(beach_transport_tcp::TcpTransport::make);
        builder
    }
}

impl Builder for Node {
    type Builder = NodeBuilder;

    fn builder() -> NodeBuilder {
        let builder = NodeBuilder::new();
        #[cfg(feature = "tcp")]
        let builder = builder.transport_with(beach_transport_tcp::TcpTransport::make);
        builder
    }
}
