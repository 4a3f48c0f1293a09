//! beach: actors on your own cluster of machines, addressed by category, without ceremony.
//!
//! This facade re-exports the parts a user needs, so one dependency on `beach` is enough.
//! Today it holds the core ([`beach_core`]): names and ids, payloads, the wire, the directory,
//! membership, placement, routing and configuration. The actor runtime, the transports and
//! the node library join it as they land.
//!
//! ```
//! use beach::model::Category;
//! assert!(Category::new("svc/pongers/1.2").unwrap().matches("svc/pongers"));
//! ```

pub use beach_core as core;
pub use beach_core::{config, directory, membership, model, placement, rng, routing, value, wire};
