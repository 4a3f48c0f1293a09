//! The node-side stand-in of an actor that runs in a program: forwards its requests over the
//! program's socket and answers with what comes back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use beach_core::ErrorCode;
use beach_core::actor::{Actor, Context, InitError, Request, Response};
use beach_core::value::Payload;
use beach_core::wire::RemoteError;
use ciborium::Value as Cbor;

use super::host::{Forwarded, Host};

/// How long a program's actor has to run its drain hook, then its `deinit`.
const FINISH_WAIT: Duration = Duration::from_secs(5);

/// An actor of a program, as its node sees it.
pub(super) struct ProgramActor {
    pub(super) host: Arc<Host>,
    pub(super) n: u64,
}

fn payload(data: &Cbor) -> Option<Payload> {
    match data {
        Cbor::Null => None,
        d => Payload::encode(d).ok(),
    }
}

#[async_trait]
impl Actor for ProgramActor {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Err(InitError::new("a program's actor is started by its code directory, not a registry"))
    }

    async fn handle(&self, _ctx: &Context, request: Request) -> Response {
        let data = match request.payload().decode::<Cbor>() {
            Ok(d) => d,
            Err(e) => return Response::error(format!("undecodable request data: {e}")),
        };
        let left = request.deadline().saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Response::error(ErrorCode::Timeout.as_str());
        }
        let answer = self
            .host
            .request(
                self.n,
                Forwarded {
                    kind: request.kind().to_owned(),
                    data,
                    ident: request.ident().map(str::to_owned),
                    attempt: request.attempt(),
                    request_id: request.id(),
                },
                left,
            )
            .await;
        match answer {
            Ok(data) => match Payload::encode(&data) {
                Ok(p) => Response::payload(p),
                Err(e) => Response::error(format!("undecodable answer: {e}")),
            },
            Err((error, data)) => {
                Response::from_result(Err(RemoteError { error, data: payload(&data) }))
            }
        }
    }

    async fn drain(&self, _ctx: &Context) {
        self.host.finish(self.n, false, FINISH_WAIT).await;
    }

    async fn deinit(&self, _ctx: &Context) {
        self.host.finish(self.n, true, FINISH_WAIT).await;
    }
}
