//! `Sleeper`: `sleep` takes 10 seconds to answer with the time, `nosleep` answers at once.

use std::time::Duration;

use async_trait::async_trait;
use beach_core::actor::{Actor, Context, InitError, Request, Response};

use super::Time;

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
        match request.kind() {
            "sleep" => {
                ctx.sleep(SLEEP).await;
                Response::ok(&Time { time: ctx.unix_time() })
            }
            "nosleep" => Response::ok(&Time { time: ctx.unix_time() }),
            _ => Response::unsupported(),
        }
    }
}
