//! `Echo`: answers every request with its own data.

use async_trait::async_trait;
use beach_core::actor::{Actor, Context, InitError, Request, Response};

/// Answers any request type with the request's data, unchanged.
#[derive(Debug)]
pub struct Echo;

#[async_trait]
impl Actor for Echo {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Ok(Echo)
    }

    async fn handle(&self, _ctx: &Context, request: Request) -> Response {
        Response::payload(request.payload().clone())
    }
}
