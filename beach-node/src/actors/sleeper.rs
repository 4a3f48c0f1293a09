//! `Sleeper`: `sleep` takes 10 seconds to answer with the time, `nosleep` answers at once.

use std::time::Duration;

use async_trait::async_trait;
use beach_core::actor::{Actor, Context, InitError, Message, Request, Response};

use super::{Time, msg};

beach_core::messages! {
    /// What a `Sleeper` understands.
    enum SleeperRequest { Sleep(msg::Sleep), NoSleep(msg::NoSleep) }
}

/// How long `sleep` takes.
pub const SLEEP: Duration = Duration::from_secs(10);

/// Answers `sleep` after 10 seconds and `nosleep` at once, both with `{time}`: for timeouts,
/// concurrency limits and draining.
#[derive(Debug)]
pub struct Sleeper;

#[async_trait]
impl Actor for Sleeper {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Ok(Sleeper)
    }

    async fn handle(&self, ctx: &Context, request: Request) -> Response {
        match request.decode::<SleeperRequest>() {
            Ok(SleeperRequest::Sleep(_)) => {
                ctx.sleep(SLEEP).await;
                msg::Sleep::reply(&Time { time: ctx.unix_time() })
            }
            Ok(SleeperRequest::NoSleep(_)) => msg::NoSleep::reply(&Time { time: ctx.unix_time() }),
            Err(answer) => answer,
        }
    }
}
