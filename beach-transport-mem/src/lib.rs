//! The in-memory transport of beach and `SimCluster`, its deterministic simulator.
//!
//! It will run whole clusters inside one process in virtual time, from a seed, with
//! per-link latency, loss, duplication, reordering, partitions, crashes and restarts, and an
//! event trace whose hash is the same for the same seed. It is for tests and experiments, not
//! for deployments (use `beach-transport-tcp` there).
//!
//! This crate is filled in by the actor-runtime/simulator issue; today it is an empty library.
