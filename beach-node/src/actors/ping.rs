//! `Ping`: every 5 seconds, asks the category `pongers` for `ping` and logs the reply.

use std::time::Duration;

use async_trait::async_trait;
use beach_core::actor::{Actor, Context, InitError, Request, Response};

use super::msg;

/// Asks `pongers` for `ping` every 5 seconds and logs the round trip.
#[derive(Debug)]
pub struct Ping;

#[async_trait]
impl Actor for Ping {
    async fn init(ctx: &Context) -> Result<Self, InitError> {
        let pongers = ctx.handle("pongers").timeout(Duration::from_secs(5));
        ctx.schedule(Duration::from_secs(5), move |ctx| {
            let pongers = pongers.clone();
            async move {
                tracing::debug!(parent: ctx.span(), "sending ping to pongers");
                let sent = ctx.unix_time();
                match pongers.ask(msg::Ping).await {
                    Ok(pong) => tracing::info!(parent: ctx.span(), rtt_ms = (ctx.unix_time() - sent) * 1e3, pong.time, "pong"),
                    Err(e) => tracing::warn!(parent: ctx.span(), error = %e, "ping failed"),
                }
            }
        });
        Ok(Ping)
    }

    async fn handle(&self, _ctx: &Context, _request: Request) -> Response {
        Response::unsupported()
    }
}
