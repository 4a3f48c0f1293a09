//! The built-in actors every `beach-node` offers: the py-beach seed's `Ping` and `Pong`, and
//! `MultiPing`, `Sleeper` and `Echo` for trying a cluster out.

mod echo;
mod multi_ping;
mod ping;
mod pong;
mod sleeper;

use beach_core::actor::{Origin, Registry};
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

/// The messages the built-in actors understand, typed: `handle.ask(msg::Ping).await` answers
/// a [`Time`].
pub mod msg {
    use beach_core::actor::Message;
    use serde::{Deserialize, Deserializer, Serialize};

    use super::{CmdResult, Time};

    /// These messages carry no data of their own and accept any (py-beach's `Ping` sends the
    /// time, the CLI sends nothing): they decode from whatever came and encode as null.
    macro_rules! any_data {
        ($($name:ident),+) => {$(
            impl<'de> Deserialize<'de> for $name {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    serde::de::IgnoredAny::deserialize(d).map(|_| $name)
                }
            }
        )+};
    }
    any_data!(Ping, Sleep, NoSleep, Oob);

    /// `ping`: answered by `Pong` and `MultiPing` with the time.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    pub struct Ping;
    impl Message for Ping {
        const KIND: &'static str = "ping";
        type Reply = Time;
    }

    /// `sleep`: `Sleeper` answers with the time after [`super::SLEEP`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    pub struct Sleep;
    impl Message for Sleep {
        const KIND: &'static str = "sleep";
        type Reply = Time;
    }

    /// `nosleep`: `Sleeper` answers with the time at once.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    pub struct NoSleep;
    impl Message for NoSleep {
        const KIND: &'static str = "nosleep";
        type Reply = Time;
    }

    /// `oob`: `MultiPing` answers with `{"cmdresult": 42}`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    pub struct Oob;
    impl Message for Oob {
        const KIND: &'static str = "oob";
        type Reply = CmdResult;
    }
}

/// A registry with every built-in actor under its name, as [`Origin::Builtin`]: a code
/// directory's type of the same name replaces it, where types a program registers itself win
/// over the code directory.
pub fn builtin_registry() -> Registry {
    Registry::new()
        .with_origin::<Ping>("Ping", Origin::Builtin)
        .with_origin::<Pong>("Pong", Origin::Builtin)
        .with_origin::<MultiPing>("MultiPing", Origin::Builtin)
        .with_origin::<Sleeper>("Sleeper", Origin::Builtin)
        .with_origin::<Echo>("Echo", Origin::Builtin)
}
