//! The in-memory transport of beach and [`SimCluster`], its deterministic simulator.
//!
//! It runs whole clusters of real beach nodes inside one process, in virtual time, from a
//! seed: per-link latency, loss, duplication and reordering, one-way and two-way partitions,
//! crashes and restarts (with a new generation), and a trace of events whose hash is the same
//! for the same seed. It is for tests and experiments; deployments use `beach-transport-tcp`.
//!
//! ```
//! use std::time::Duration;
//! use beach_transport_mem::SimBuilder;
//!
//! SimBuilder::new(7).run(|mut sim| async move {
//!     sim.add_nodes(3).await;
//!     let took = sim.run_until(Duration::from_secs(10), |s| s.converged()).await;
//!     assert!(took.is_some(), "three nodes find each other within 10 virtual seconds");
//! });
//! ```

#[cfg(feature = "sim")]
mod isolation;
#[cfg(feature = "sim")]
pub mod lab;
mod network;
#[cfg(feature = "sim")]
mod sim;

#[cfg(feature = "sim")]
pub use isolation::SimIsolation;
pub use network::{LinkConfig, MemNetwork, MemTransport};
#[cfg(feature = "sim")]
pub use sim::{SEED_VAR, SimBuilder, SimCluster, SimRuntime, seed_from_env};
