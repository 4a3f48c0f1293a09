//! The `beach` command-line client.
//!
//! Today it holds `beach demo` ([`demo`]), which starts a local cluster of real node processes
//! and shows it working. The scriptable commands and the interactive shell are filled in by
//! the CLI issue.

pub mod demo;
