//! `Pong`: answers `ping` with the time.

use async_trait::async_trait;
use beach_core::actor::{Actor, Context, InitError, Message, Request, Response};

use super::{Time, msg};

beach_core::messages! {
    /// What a `Pong` understands.
    enum PongRequest { Ping(msg::Ping) }
}

/// Answers `ping` with `{time}`.
#[derive(Debug)]
pub struct Pong;

#[async_trait]
impl Actor for Pong {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Ok(Pong)
    }

    async fn handle(&self, ctx: &Context, request: Request) -> Response {
        match request.decode::<PongRequest>() {
            Ok(PongRequest::Ping(_)) => msg::Ping::reply(&Time { time: ctx.unix_time() }),
            Err(answer) => answer,
        }
    }
}
