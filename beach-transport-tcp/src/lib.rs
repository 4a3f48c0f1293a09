//! The TCP transport of beach, for real deployments.
//!
//! It will implement the core `Transport` trait on tokio sockets: frames as defined in
//! `beach_core::wire`, one connection per pair of peers with many requests in flight, coalesced
//! writes, bounded per-peer send queues, reconnect with backoff, and the cluster-secret
//! handshake. It holds no routing, directory or actor logic: those live in `beach-core`.
//!
//! This crate is filled in by the TCP-transport issue; today it is an empty library.
