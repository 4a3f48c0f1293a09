//! `MultiPing`: answers `ping` with the time and `oob` with `{cmdresult: 42}`.

use async_trait::async_trait;
use beach_core::actor::{Actor, Context, InitError, Message, Request, Response};
use serde::{Deserialize, Serialize};

use super::{Time, msg};

beach_core::messages! {
    /// What a `MultiPing` understands.
    enum MultiPingRequest { Ping(msg::Ping), Oob(msg::Oob) }
}

/// The answer to `oob`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CmdResult {
    /// Always 42.
    pub cmdresult: i64,
}

/// Answers `ping` with `{time}` and `oob` with `{cmdresult: 42}`.
#[derive(Debug)]
pub struct MultiPing;

#[async_trait]
impl Actor for MultiPing {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Ok(MultiPing)
    }

    async fn handle(&self, ctx: &Context, request: Request) -> Response {
        match request.decode::<MultiPingRequest>() {
            Ok(MultiPingRequest::Ping(_)) => msg::Ping::reply(&Time { time: ctx.unix_time() }),
            Ok(MultiPingRequest::Oob(_)) => msg::Oob::reply(&CmdResult { cmdresult: 42 }),
            Err(answer) => answer,
        }
    }
}
