//! `Pong`: answers `ping` with the time.

use async_trait::async_trait;
use beach_core::actor::{Actor, Context, InitError, Request, Response};

use super::Time;

/// Answers `ping` with `{time}`.
#[derive(Debug)]
pub struct Pong;

#[async_trait]
impl Actor for Pong {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Ok(Pong)
    }

    async fn handle(&self, ctx: &Context, request: Request) -> Response {
        match request.kind() {
            "ping" => Response::ok(&Time { time: ctx.unix_time() }),
            _ => Response::unsupported(),
        }
    }
}
