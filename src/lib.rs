//! beach: actors on your own cluster of machines, addressed by category, without ceremony.
//!
//! This facade re-exports the parts a user needs, so one dependency on `beach` is enough.
//! Today it holds the core ([`beach_core`]); the runtime, transports and node library join it as
//! they land.

pub use beach_core as core;
pub use beach_core::{model, value};
