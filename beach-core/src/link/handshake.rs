//! The connection handshake, both sides, as the numbered steps of [`Handshake`]:
//!
//! 1. The connecting side sends `Hello` (protocol version, cluster name, who it is, nonce `c`).
//! 2. The accepting side checks version and cluster and answers `Welcome` (its node id, nonce
//!    `a`, and with a cluster secret its proof over `c` then `a`), or `Refused`.
//! 3. With a secret, the connecting side checks that proof (refusing a node that cannot prove
//!    the secret) and sends `Proof` over `a` then `c`.
//! 4. With a secret, the accepting side checks that proof before accepting anything else, and
//!    answers `Refused` when it is missing or wrong.
//!
//! Both sides log why a handshake failed; nothing but the handshake is read before it is done.

use std::time::Duration;

use crate::auth::{NONCE_LEN, Secret};
use crate::model::{Endpoint, NodeId};
use crate::runtime::{Runtime, timeout};
use crate::transport::{FrameSink, FrameStream};
use crate::wire::{Envelope, Handshake, PROTOCOL_VERSION, Peer};

/// How long the other side may take over one step.
const STEP_WAIT: Duration = Duration::from_secs(3);

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

/// The connecting side: steps 1 and 3. Returns the accepting node's id.
pub(super) async fn connect(
    rt: &dyn Runtime,
    sink: &mut Box<dyn FrameSink>,
    stream: &mut Box<dyn FrameStream>,
    to: &Endpoint,
    hello: (String, Peer),
    secret: Option<&Secret>,
    nonce: [u8; NONCE_LEN],
) -> Result<NodeId, String> {
    let (cluster, peer) = hello;
    send(
        sink,
        Handshake::Hello { version: PROTOCOL_VERSION, cluster, peer, nonce: nonce.to_vec().into() },
    )
    .await?;
    match next_step(rt, stream).await? {
        Handshake::Welcome { version, node, nonce: theirs, proof } => {
            if version != PROTOCOL_VERSION {
                return Err(format!(
                    "{to} speaks protocol version {version}, this build {PROTOCOL_VERSION}"
                ));
            }
            match (secret, proof) {
                (Some(k), Some(proof)) if k.verify_accept(&nonce, &theirs, &proof) => {
                    send(sink, Handshake::Proof { proof: k.connect_proof(&theirs, &nonce).into() })
                        .await?;
                }
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "{to} failed to prove the cluster secret (different secret_file?)"
                    ));
                }
                (Some(_), None) => {
                    return Err(format!("{to} has no cluster secret but this side has one"));
                }
                (None, Some(_)) => {
                    return Err(format!("{to} requires the cluster secret (set secret_file)"));
                }
                (None, None) => {}
            }
            Ok(node)
        }
        Handshake::Refused { reason } => Err(format!("refused by {to}: {reason}")),
        other => Err(format!("{to} answered the handshake out of order ({other:?})")),
    }
}

/// The accepting side: steps 2 and 4. `check` vets the hello's cluster and peer and gives this
/// node's id. Returns the peer's node id when the peer is a node. On failure the peer has been
/// sent `Refused` with the reason.
pub(super) async fn accept(
    rt: &dyn Runtime,
    sink: &mut Box<dyn FrameSink>,
    stream: &mut Box<dyn FrameStream>,
    check: impl FnOnce(&str, &Peer) -> Result<NodeId, String>,
    secret: Option<&Secret>,
    nonce: [u8; NONCE_LEN],
) -> Result<Option<NodeId>, String> {
    let result = accept_steps(rt, sink, stream, check, secret, nonce).await;
    if let Err(reason) = &result {
        let _ = send(sink, Handshake::Refused { reason: reason.clone() }).await;
    }
    result
}

async fn accept_steps(
    rt: &dyn Runtime,
    sink: &mut Box<dyn FrameSink>,
    stream: &mut Box<dyn FrameStream>,
    check: impl FnOnce(&str, &Peer) -> Result<NodeId, String>,
    secret: Option<&Secret>,
    nonce: [u8; NONCE_LEN],
) -> Result<Option<NodeId>, String> {
    let Handshake::Hello { version, cluster, peer, nonce: theirs } = next_step(rt, stream).await?
    else {
        return Err("the handshake must start with hello".to_owned());
    };
    if version != PROTOCOL_VERSION {
        return Err(format!("protocol version {version} is not {PROTOCOL_VERSION}"));
    }
    let me = check(&cluster, &peer)?;
    let proof = secret.map(|k| k.accept_proof(&theirs, &nonce).into());
    send(
        sink,
        Handshake::Welcome {
            version: PROTOCOL_VERSION,
            node: me,
            nonce: nonce.to_vec().into(),
            proof,
        },
    )
    .await?;
    if let Some(k) = secret {
        match next_step(rt, stream).await {
            Ok(Handshake::Proof { proof }) if k.verify_connect(&nonce, &theirs, &proof) => {}
            Ok(Handshake::Proof { .. }) => return Err("wrong cluster secret".to_owned()),
            Ok(_) | Err(_) => return Err("no proof of the cluster secret".to_owned()),
        }
    }
    Ok(match peer {
        Peer::Node(n) => Some(n),
        Peer::Client { .. } => None,
    })
}
