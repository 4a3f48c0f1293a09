//! The handshake pump: drives the pure state machines of [`crate::auth::handshake`] over a
//! connection, one step at a time, each step bounded by [`STEP_WAIT`]. Nothing but the
//! handshake is read before it is done; both sides log why a handshake failed.

use std::time::Duration;

use crate::auth::Role;
use crate::auth::handshake::{AcceptStep, Acceptor, Connected, Connector};
use crate::runtime::{Runtime, timeout};
use crate::transport::{FrameSink, FrameStream};
use crate::wire::{Envelope, Handshake, Peer};

/// How long the other side may take over one step. It also bounds how long a connection that
/// says nothing stays open.
pub(crate) const STEP_WAIT: Duration = Duration::from_secs(3);

/// Waits for the next handshake step.
async fn next_step(
    rt: &dyn Runtime,
    stream: &mut Box<dyn FrameStream>,
) -> Result<Handshake, String> {
    match timeout(rt, STEP_WAIT, stream.recv()).await {
        Some(Ok(Some(Envelope::Handshake(h)))) => Ok(h),
        Some(Ok(Some(other))) => {
            Err(format!("expected a handshake, got {}", super::kind_of(&other)))
        }
        Some(Ok(None)) => Err("the connection closed during the handshake".to_owned()),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("no handshake in time".to_owned()),
    }
}

async fn send(sink: &mut Box<dyn FrameSink>, step: Handshake) -> Result<(), String> {
    match sink.send(&[Envelope::Handshake(step)]).await {
        Ok(refused) => match refused.first() {
            Some(r) => Err(format!("handshake step not sent: {}", r.error)),
            None => Ok(()),
        },
        Err(e) => Err(e.to_string()),
    }
}

/// The connecting side. Returns the accepting node's id.
pub(super) async fn connect(
    rt: &dyn Runtime,
    sink: &mut Box<dyn FrameSink>,
    stream: &mut Box<dyn FrameStream>,
    mut connector: Connector,
) -> Result<crate::model::NodeId, String> {
    send(sink, connector.hello()).await?;
    let Connected { node, send: last } = connector.on_message(next_step(rt, stream).await?)?;
    if let Some(step) = last {
        send(sink, step).await?;
    }
    Ok(node)
}

/// The accepting side. Returns who connected and the role it proved. On failure the peer
/// has been sent `Refused` with the reason.
pub(super) async fn accept(
    rt: &dyn Runtime,
    sink: &mut Box<dyn FrameSink>,
    stream: &mut Box<dyn FrameStream>,
    mut acceptor: Acceptor,
) -> Result<(Peer, Role), String> {
    let result: Result<(Peer, Role), String> = async {
        loop {
            let message = next_step(rt, stream).await?;
            match acceptor.on_message(message)? {
                AcceptStep::Send(step) => send(sink, step).await?,
                AcceptStep::Done { peer, role, send: last } => {
                    if let Some(step) = last {
                        send(sink, step).await?;
                    }
                    return Ok((peer, role));
                }
            }
        }
    }
    .await;
    if let Err(reason) = &result {
        let _ = send(sink, Handshake::Refused { reason: reason.clone() }).await;
    }
    result
}
