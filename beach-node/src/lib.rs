//! The `beach-node` daemon, and the library behind it for building node binaries with your
//! own actors registered.
//!
//! It will read `cluster.yaml` (see `beach_core::config`), listen on the TCP transport, run the
//! built-in actors, isolated actor processes, signals and graceful shutdown. The cluster logic
//! itself (directory, membership, placement, routing) stays in `beach-core`.
//!
//! This crate is filled in by the TCP/daemon issue; today it is an empty library.
