//! beach: actors on your own cluster of machines, addressed by category, without ceremony.
//!
//! An actor is a small async service. You register actor types with the nodes of a cluster,
//! spawn actors into **categories** (strings matched by prefix: `svc/pongers` reaches
//! `svc/pongers/1.2` and `svc/pongers/1.3`) inside a **realm**, and call a category, never a
//! node: the cluster picks an actor, retries where that is safe, and keeps a shared directory
//! of who is where. This crate is the one dependency an embedding program adds.
//!
//! | feature | default | gives |
//! |---|---|---|
//! | `tcp` | yes | the TCP transport and the tokio runtime, which `Beach::builder()` and `Node::builder()` start from; [`testing`] |
//! | `node` | yes | `beach::daemon`: the node daemon's library (isolated actors, built-in actors), and `beach::files`: a `cluster.yaml` and its key files (`files::client_for(&files::load_config(path)?)?` is a client builder for that cluster) |
//! | `sim` | | `beach::sim`: whole clusters in one process, in virtual time, from a seed |
//! | `smol` | | the smol runtime adapter |
//!
//! # An actor
//!
//! A message names its request kind and its reply type once; an actor declares the messages
//! it understands and answers each.
//!
//! ```
//! use beach::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! /// `add`: the sum of two numbers.
//! #[derive(Serialize, Deserialize)]
//! pub struct Add { pub a: i64, pub b: i64 }
//! impl Message for Add { const KIND: &'static str = "add"; type Reply = i64; }
//!
//! beach::messages! {
//!     /// What a calculator understands.
//!     enum CalcRequest { Add(Add) }
//! }
//!
//! pub struct Calculator;
//!
//! #[async_trait]
//! impl Actor for Calculator {
//!     async fn init(_ctx: &Context) -> Result<Self, InitError> {
//!         Ok(Calculator)
//!     }
//!
//!     async fn handle(&self, _ctx: &Context, request: Request) -> Response {
//!         match request.decode::<CalcRequest>() {
//!             Ok(CalcRequest::Add(m)) => Add::reply(&(m.a + m.b)),
//!             Err(answer) => answer, // another kind, or data that is not an `Add`
//!         }
//!     }
//! }
//!
//! # fn main() {}
//! ```
//!
//! # A node, and a client
//!
//! A node hosts the actor types of its registry. A program can embed one and call the cluster
//! through [`Node::client`](node::Node::client), in process; any other program connects with
//! `Beach::builder()`. Both speak TCP by default.
//!
//! ```
//! # use beach::prelude::*;
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize)]
//! # pub struct Add { pub a: i64, pub b: i64 }
//! # impl Message for Add { const KIND: &'static str = "add"; type Reply = i64; }
//! # pub struct Calculator;
//! # #[async_trait]
//! # impl Actor for Calculator {
//! #     async fn init(_ctx: &Context) -> Result<Self, InitError> { Ok(Calculator) }
//! #     async fn handle(&self, _ctx: &Context, request: Request) -> Response {
//! #         match request.message::<Add>() { Ok(m) => Add::reply(&(m.a + m.b)), Err(answer) => answer }
//! #     }
//! # }
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let node = Node::builder()
//!         .listen("127.0.0.1:0")
//!         .registry(Registry::new().with::<Calculator>("Calculator"))
//!         .start()
//!         .await?;
//!
//!     // Elsewhere: any program that can reach a node of the cluster.
//!     let client = Beach::builder().seed(node.id().endpoint().to_string()).connect().await?;
//!     client.add_actor(client.actor("Calculator", ["svc/calc"]).count(2)).await?;
//!     let sum = client.handle("svc/calc").ask(Add { a: 2, b: 3 }).await?;
//!     assert_eq!(sum, 5);
//!
//!     client.close();
//!     node.shutdown().await;
//!     Ok(())
//! }
//! ```
//!
//! # A test
//!
//! [`testing::TestActor`] runs one actor without a cluster: stub the categories it calls,
//! send it requests, move its clock. `beach::sim` (feature `sim`) runs whole clusters.
//!
//! ```
//! # use beach::prelude::*;
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize)]
//! # pub struct Add { pub a: i64, pub b: i64 }
//! # impl Message for Add { const KIND: &'static str = "add"; type Reply = i64; }
//! # pub struct Calculator;
//! # #[async_trait]
//! # impl Actor for Calculator {
//! #     async fn init(_ctx: &Context) -> Result<Self, InitError> { Ok(Calculator) }
//! #     async fn handle(&self, _ctx: &Context, request: Request) -> Response {
//! #         match request.message::<Add>() { Ok(m) => Add::reply(&(m.a + m.b)), Err(answer) => answer }
//! #     }
//! # }
//! use beach::testing::TestActor;
//!
//! #[tokio::test]
//! async fn adds() {
//!     let calc = TestActor::builder().start::<Calculator>().await.unwrap();
//!     assert_eq!(calc.ask(Add { a: 2, b: 3 }).await.unwrap(), 5);
//!     let err = calc.request("sub", &()).await.unwrap_err();
//!     assert!(err.is(ErrorCode::Unsupported));
//! }
//! # fn main() { tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! #     let calc = TestActor::builder().start::<Calculator>().await.unwrap();
//! #     assert_eq!(calc.ask(Add { a: 2, b: 3 }).await.unwrap(), 5);
//! # }) }
//! ```
//!
//! The dynamic form stays for gateways, the CLI and other languages:
//! `handle.request("add", &value)` sends any serde value (or a [`value::Value`]) and returns
//! the raw payload; both forms travel the same wire.

pub use async_trait::async_trait;
pub use beach_core as core;
pub use beach_core::ErrorCode;
pub use beach_core::messages;
pub use beach_core::{
    actor, auth, client, config, deploy, directory, membership, model, node, placement, rng,
    routing, runtime, transport, value, wire,
};

#[cfg(feature = "tcp")]
pub use beach_core::testing;
/// The node daemon's library: isolated actors in child processes, the built-in actors, and
/// `daemon::run` to serve a `cluster.yaml`.
#[cfg(feature = "node")]
pub use beach_node as daemon;
/// The files beach reads: a `cluster.yaml` and the key files it names (all of beach's file
/// I/O), and a client builder for the cluster a configuration describes.
#[cfg(feature = "node")]
pub use beach_node::files;
/// The in-memory network and the deterministic cluster simulator.
#[cfg(feature = "sim")]
pub use beach_transport_mem as sim;
/// The TCP transport (with Noise encryption when the cluster has a secret).
#[cfg(feature = "tcp")]
pub use beach_transport_tcp as tcp;

mod defaults;
pub use defaults::Builder;

/// What most programs need, in one `use beach::prelude::*`.
pub mod prelude {
    pub use crate::Builder;
    pub use crate::ErrorCode;
    pub use crate::actor::{
        Actor, Context, Handle, InitError, Message, Messages, Registry, Request, RequestError,
        Response,
    };
    pub use crate::async_trait;
    pub use crate::client::{ActorSpec, Beach, ClientBuilder, ClientError};
    pub use crate::node::{Node, NodeBuilder, NodeError};
    pub use crate::placement::Strategy;
    pub use crate::routing::Mode;
}

/// Every ```rust block of the README compiles (and runs) as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
