//! The built-in actors every `beach-node` offers: the py-beach seed's `Ping` and `Pong`, and
//! `MultiPing`, `Sleeper` and `Echo` for trying a cluster out.

mod echo;
mod multi_ping;
mod ping;
mod pong;
mod sleeper;

use beach_core::actor::Registry;
use serde::{Deserialize, Serialize};

pub use echo::Echo;
pub use multi_ping::{CmdResult, MultiPing};
pub use ping::Ping;
pub use pong::Pong;
pub use sleeper::{SLEEP, Sleeper};

/// The payload of `ping` and of its answer: seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Time {
    /// Seconds since the Unix epoch.
    pub time: f64,
}

/// A registry with every built-in actor under its name.
pub fn builtin_registry() -> Registry {
    Registry::new()
        .with::<Ping>("Ping")
        .with::<Pong>("Pong")
        .with::<MultiPing>("MultiPing")
        .with::<Sleeper>("Sleeper")
        .with::<Echo>("Echo")
}
