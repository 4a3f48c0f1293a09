//! beach: actors on your own cluster of machines, addressed by category, without ceremony.
//!
//! This facade re-exports the parts a user needs, so one dependency on `beach` is enough.
//! Today it holds the core ([`beach_core`]): actors and their handles, the client, the node
//! engine, names and ids, payloads, the wire, the directory, membership, placement, routing
//! and configuration. The TCP transport and the node daemon join it as they land; the
//! simulator lives in `beach-transport-mem`.
//!
//! ```
//! use beach::model::Category;
//! assert!(Category::new("svc/pongers/1.2").unwrap().matches("svc/pongers"));
//! ```

pub use beach_core as core;
pub use beach_core::ErrorCode;
pub use beach_core::messages;
pub use beach_core::{
    actor, auth, client, config, directory, membership, model, node, placement, rng, routing,
    runtime, transport, value, wire,
};
