//! The core of beach: everything that does no I/O of its own.
//!
//! beach runs actors (small async services) on a private cluster of `beach-node` daemons and
//! addresses them by **category** inside a **realm**. This crate holds the parts that decide
//! things, written as pure state machines (inputs carry `now`, outputs are drained by the
//! caller), so that the TCP transport, the in-memory simulator and property tests all drive the
//! same code:
//!
//! | module | holds |
//! |---|---|
//! | [`model`] | realms, categories (prefix semantics), node and actor ids |
//! | [`value`] | the dynamic payload, pre-encoded CBOR payloads, JSON conversion |
//! | [`wire`] | envelopes and the length-prefixed CBOR frame codec |
//! | [`directory`] | the owner-partitioned actor directory and its anti-entropy |
//! | [`membership`] | the SWIM membership driver around `foca` |
//! | [`placement`] | spawn strategies, each with an explanation |
//! | [`routing`] | request modes, rendezvous hashing and the retry policy |
//! | [`config`] | `cluster.yaml`, parsed and validated (reading files is `beach-node`'s) |
//! | [`auth`] | keys per role, the handshake state machine, the table of who may send what |
//! | [`actor`] | the `Actor` trait, typed messages, handles, contexts, the registry |
//! | [`node`] | the node engine and `NodeBuilder` |
//! | [`client`] | the client, `ClientBuilder` and `ActorSpec` |
//! | [`transport`], [`runtime`] | the traits a transport and a runtime implement |
//! | `testing` | one actor under test, without a cluster (feature `rt-tokio`) |
//!
//! It is not a runtime and does no I/O of its own: it never reads files, and the engine
//! spawns tasks, reads the clock and draws randomness only through the [`runtime::Runtime`] it
//! is given (seeded in a simulation); the pure parts take time as arguments and randomness
//! from a seeded [`rng::NodeRng`].

pub mod actor;
pub mod auth;
pub mod client;
pub mod config;
pub mod deploy;
pub mod directory;
mod error_code;
mod link;
pub mod membership;
pub mod model;
pub mod node;
pub mod placement;
pub mod rng;
pub mod routing;
pub mod runtime;
mod tasks;
#[cfg(feature = "rt-tokio")]
pub mod testing;
pub mod throttle;
pub mod transport;
pub mod value;
pub mod wire;

pub use error_code::ErrorCode;
