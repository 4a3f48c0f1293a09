//! `Pong`: answers `ping` with the time.

use async_trait::async_trait;
use beach_core::actor::{Actor, Context, Counter, InitError, Message, Request, Response};

use super::{Time, msg};

beach_core::messages! {
    /// What a `Pong` understands.
    enum PongRequest { Ping(msg::Ping) }
}

/// Answers `ping` with `{time}`, and counts them in its own counter `pings` (shown by
/// `beach load` and `/metrics`).
#[derive(Debug)]
pub struct Pong {
    pings: Counter,
}

#[async_trait]
impl Actor for Pong {
    async fn init(ctx: &Context) -> Result<Self, InitError> {
        Ok(Pong { pings: ctx.counter("pings") })
    }

    async fn handle(&self, ctx: &Context, request: Request) -> Response {
        match request.decode::<PongRequest>() {
            Ok(PongRequest::Ping(_)) => {
                self.pings.inc();
                msg::Ping::reply(&Time { time: ctx.unix_time() })
            }
            Err(answer) => answer,
        }
    }
}
