//! `MultiPing`: answers `ping` with the time and `oob` with `{cmdresult: 42}`.

use async_trait::async_trait;
use beach_core::actor::{Actor, Context, InitError, Request, Response};
use serde::{Deserialize, Serialize};

use super::Time;

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
        match request.kind() {
            "ping" => Response::ok(&Time { time: ctx.unix_time() }),
            "oob" => Response::ok(&CmdResult { cmdresult: 42 }),
            _ => Response::unsupported(),
        }
    }
}
