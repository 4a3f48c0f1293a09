//! The `beach-node` daemon, and the library behind it for building node binaries with your
//! own actors registered.
//!
//! - [`actors`]: the built-in actors every node offers (Ping, Pong, MultiPing, Sleeper, Echo);
//! - [`cli`]: the `beach-node` command line, to run a node from any binary;
//! - [`daemon`]: start a node from a `cluster.yaml` on TCP and run it until SIGTERM/SIGINT
//!   ([`daemon::run`]), with your own [`beach_core::actor::Registry`];
//! - [`code`]: the code directory, actor types that are programs (Python or any language)
//!   speaking the actor protocol, deployed with no restart;
//! - [`files`]: the configuration and key files (all of beach's file I/O);
//! - [`health`]: CPU and memory sampling for placement and `health`;
//! - [`logging`]: logging to stderr, for nodes and their isolated actors alike;
//! - [`isolation`]: isolated actors in child processes (call
//!   [`isolation::host_if_requested`], or [`isolation::host_if_requested_async`], first thing
//!   in a node binary's `main`).
//!
//! The cluster logic (directory, membership, placement, routing) lives in `beach-core`.

pub mod actors;
pub mod cli;
pub mod code;
pub mod daemon;
pub mod documents;
pub mod files;
pub mod gateway;
pub mod health;
pub mod isolation;
pub mod logging;
mod private_dir;
pub mod state_dir;
