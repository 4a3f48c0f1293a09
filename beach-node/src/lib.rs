//! The `beach-node` daemon, and the library behind it for building node binaries with your
//! own actors registered.
//!
//! Today it holds the built-in actors ([`actors`]) that every node offers. The daemon itself
//! (reading `cluster.yaml`, the TCP transport, isolated actor processes, signals and graceful
//! shutdown) is filled in by the TCP/daemon issue. The cluster logic (directory, membership,
//! placement, routing) stays in `beach-core`.

pub mod actors;
