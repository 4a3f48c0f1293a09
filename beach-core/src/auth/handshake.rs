//! The connection handshake as two pure state machines, one per side, in the manner of
//! ractor's cluster auth and quinn-proto: messages go in, messages to send and the outcome
//! come out, with no I/O and no clock (the link layer pumps them and times each step out).
//!
//! 1. The [`Connector`] sends `Hello`: protocol version, cluster name, who it claims to be
//!    (a node id or a client name), a fresh nonce `c`, and the id of the key it will prove.
//! 2. The [`Acceptor`] (always a node) checks version and cluster, picks the key of the
//!    claimed role with that id, and answers `Welcome`: its node id, a fresh nonce `a`, and
//!    its proof: `HMAC(key, "accept" || transcript)`. Or `Refused`, with the reason.
//! 3. The connector checks that proof and sends `Proof`: `HMAC(key, "connect" || transcript)`.
//! 4. The acceptor checks it; only then is the connection established.
//!
//! The transcript holds the version, the cluster name, the claimed role and identity, the
//! acceptor's node id and both nonces: a proof made for one claim, cluster or connection
//! proves nothing for another. The key is the role's: the cluster secret for a node, the
//! client key for a client. So a client cannot claim to be a node, and nobody without a key
//! can claim anything. Without a secret on either side, steps 3 and 4 are skipped and claims
//! are taken as made (the cluster trusts its network).

use bytes::Bytes;

use super::{Credentials, KEY_ID_LEN, NONCE_LEN, Role, RoleKey};
use crate::model::NodeId;
use crate::wire::{Handshake, PROTOCOL_VERSION, Peer};

const ACCEPT: &[u8] = b"beach/2 accept";
const CONNECT: &[u8] = b"beach/2 connect";

/// The role a peer claims.
pub fn role_of(peer: &Peer) -> Role {
    match peer {
        Peer::Node(_) => Role::Node,
        Peer::Client { .. } => Role::Client,
    }
}

/// The bytes both proofs cover.
fn transcript(
    version: u16,
    cluster: &str,
    peer: &Peer,
    acceptor: &NodeId,
    connect_nonce: &[u8],
    accept_nonce: &[u8],
) -> Vec<u8> {
    let claimed = match peer {
        Peer::Node(n) => n.to_string(),
        Peer::Client { name } => name.clone(),
    };
    let acceptor = acceptor.to_string();
    let mut t = Vec::with_capacity(128);
    t.extend_from_slice(&version.to_be_bytes());
    for part in [
        cluster.as_bytes(),
        role_of(peer).name().as_bytes(),
        claimed.as_bytes(),
        acceptor.as_bytes(),
        connect_nonce,
        accept_nonce,
    ] {
        t.extend_from_slice(&(part.len() as u64).to_be_bytes());
        t.extend_from_slice(part);
    }
    t
}

/// The connecting side.
#[derive(Debug)]
pub struct Connector {
    cluster: String,
    peer: Peer,
    key: Option<RoleKey>,
    nonce: [u8; NONCE_LEN],
    /// Where it dials, for messages.
    to: String,
    sent_hello: bool,
}

/// What the connector learnt when the handshake succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// The node that accepted.
    pub node: NodeId,
    /// The last step to send, with a secret.
    pub send: Option<Handshake>,
}

impl std::fmt::Debug for RoleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RoleKey({})", self.role.name())
    }
}

impl Connector {
    /// A connector to `to` claiming to be `peer` in `cluster`. With credentials, it proves the
    /// key of the claimed role: a node claim needs node credentials.
    pub fn new(
        to: impl Into<String>,
        cluster: impl Into<String>,
        peer: Peer,
        credentials: Option<&Credentials>,
        nonce: [u8; NONCE_LEN],
    ) -> Result<Self, String> {
        let key = credentials.map(Credentials::offered);
        if let Some(k) = &key
            && k.role != role_of(&peer)
        {
            return Err(format!(
                "a {} key cannot connect as a {}",
                k.role.name(),
                role_of(&peer).name()
            ));
        }
        Ok(Self { cluster: cluster.into(), peer, key, nonce, to: to.into(), sent_hello: false })
    }

    /// Step 1: the hello to send first.
    pub fn hello(&mut self) -> Handshake {
        self.sent_hello = true;
        Handshake::Hello {
            version: PROTOCOL_VERSION,
            cluster: self.cluster.clone(),
            peer: self.peer.clone(),
            nonce: Bytes::copy_from_slice(&self.nonce),
            key_id: self.key.as_ref().map(|k| Bytes::copy_from_slice(&k.id())),
        }
    }

    /// Step 3: takes the acceptor's answer. `Ok` ends the handshake on this side.
    pub fn on_message(&mut self, message: Handshake) -> Result<Connected, String> {
        let to = &self.to;
        if !self.sent_hello {
            return Err(format!("{to} spoke before the hello"));
        }
        self.sent_hello = false; // one answer only
        match message {
            Handshake::Welcome { version, node, nonce: theirs, proof } => {
                if version != PROTOCOL_VERSION {
                    return Err(format!(
                        "{to} speaks protocol version {version}, this build {PROTOCOL_VERSION}: upgrade every node of a cluster together"
                    ));
                }
                if theirs.len() != NONCE_LEN {
                    return Err(format!("{to} sent a nonce of {} bytes", theirs.len()));
                }
                let t = transcript(version, &self.cluster, &self.peer, &node, &self.nonce, &theirs);
                let send = match (&self.key, proof) {
                    (Some(k), Some(proof)) if k.verify(ACCEPT, &t, &proof) => {
                        Some(Handshake::Proof {
                            proof: Bytes::copy_from_slice(&k.prove(CONNECT, &t)),
                        })
                    }
                    (Some(_), Some(_)) => {
                        return Err(format!(
                            "{to} failed to prove the cluster key (different secret_file?)"
                        ));
                    }
                    (Some(_), None) => {
                        return Err(format!("{to} has no cluster secret but this side has one"));
                    }
                    (None, Some(_)) => {
                        return Err(format!("{to} requires the cluster secret (set secret_file)"));
                    }
                    (None, None) => None,
                };
                Ok(Connected { node, send })
            }
            Handshake::Refused { reason } => Err(format!("refused by {to}: {reason}")),
            other => {
                Err(format!("{to} answered the handshake out of order ({})", step_name(&other)))
            }
        }
    }
}

/// The accepting side (a node).
#[derive(Debug)]
pub struct Acceptor {
    me: NodeId,
    cluster: String,
    credentials: Option<Credentials>,
    nonce: [u8; NONCE_LEN],
    state: AcceptState,
}

#[derive(Debug)]
enum AcceptState {
    AwaitHello,
    AwaitProof { peer: Peer, key: RoleKey, transcript: Vec<u8> },
    Done,
}

/// What the acceptor does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptStep {
    /// Send this and wait for the next message.
    Send(Handshake),
    /// The connection is established with `peer` in `role`; send `send` first if any.
    Done {
        /// Who connected.
        peer: Peer,
        /// What it proved to be.
        role: Role,
        /// A last step to send.
        send: Option<Handshake>,
    },
}

impl Acceptor {
    /// The acceptor of node `me` in `cluster`.
    pub fn new(
        me: NodeId,
        cluster: impl Into<String>,
        credentials: Option<Credentials>,
        nonce: [u8; NONCE_LEN],
    ) -> Self {
        Self { me, cluster: cluster.into(), credentials, nonce, state: AcceptState::AwaitHello }
    }

    /// Takes the next message. An `Err` is the reason to send back in `Refused` and log; the
    /// connection is then closed.
    pub fn on_message(&mut self, message: Handshake) -> Result<AcceptStep, String> {
        match std::mem::replace(&mut self.state, AcceptState::Done) {
            AcceptState::AwaitHello => self.on_hello(message),
            AcceptState::AwaitProof { peer, key, transcript } => match message {
                Handshake::Proof { proof } if key.verify(CONNECT, &transcript, &proof) => {
                    Ok(AcceptStep::Done { role: key.role, peer, send: None })
                }
                Handshake::Proof { .. } => Err("wrong proof of the cluster key".to_owned()),
                other => Err(format!("expected a proof, got {}", step_name(&other))),
            },
            AcceptState::Done => Err("the handshake is over".to_owned()),
        }
    }

    fn on_hello(&mut self, message: Handshake) -> Result<AcceptStep, String> {
        let Handshake::Hello { version, cluster, peer, nonce: theirs, key_id } = message else {
            return Err(format!(
                "the handshake must start with hello, not {}",
                step_name(&message)
            ));
        };
        if version != PROTOCOL_VERSION {
            return Err(format!(
                "protocol version {version} is not {PROTOCOL_VERSION}: upgrade every node of a cluster together"
            ));
        }
        if cluster != self.cluster {
            // Never echo this cluster's name to someone who does not know it.
            return Err(format!("cluster name {cluster:?} is not this cluster's"));
        }
        if theirs.len() != NONCE_LEN {
            return Err(format!("a nonce of {} bytes, not {NONCE_LEN}", theirs.len()));
        }
        if let Peer::Node(n) = &peer {
            if *n == self.me {
                return Err("a peer claims this node's own identity".to_owned());
            }
            if !n.endpoint().is_dialable() {
                return Err(format!("a node must advertise a host:port, not {:?}", n.endpoint()));
            }
        }
        let role = role_of(&peer);
        let t = transcript(version, &cluster, &peer, &self.me, &theirs, &self.nonce);
        let welcome = |proof: Option<[u8; 32]>| Handshake::Welcome {
            version: PROTOCOL_VERSION,
            node: self.me.clone(),
            nonce: Bytes::copy_from_slice(&self.nonce),
            proof: proof.map(|p| Bytes::copy_from_slice(&p)),
        };
        match (&self.credentials, key_id) {
            (None, None) => Ok(AcceptStep::Done { peer, role, send: Some(welcome(None)) }),
            (None, Some(_)) => Err("this node has no secret_file but the peer uses one".to_owned()),
            (Some(_), None) => Err("this cluster requires its secret (set secret_file)".to_owned()),
            (Some(c), Some(id)) => {
                if id.len() != KEY_ID_LEN {
                    return Err(format!("a key id of {} bytes", id.len()));
                }
                let Some(key) = c.accepted(role, &id) else {
                    return Err(match role {
                        Role::Node if c.accepted(Role::Client, &id).is_some() => {
                            "a client key cannot make a node".to_owned()
                        }
                        Role::Node => {
                            "the peer's cluster secret is not this node's (another secret_file?)"
                                .to_owned()
                        }
                        Role::Client => {
                            "the client's key is not this cluster's (another secret_file?)"
                                .to_owned()
                        }
                    });
                };
                let proof = key.prove(ACCEPT, &t);
                self.state = AcceptState::AwaitProof { peer, key, transcript: t };
                Ok(AcceptStep::Send(welcome(Some(proof))))
            }
        }
    }
}

/// A handshake message's name, for messages.
pub fn step_name(h: &Handshake) -> &'static str {
    match h {
        Handshake::Hello { .. } => "hello",
        Handshake::Welcome { .. } => "welcome",
        Handshake::Proof { .. } => "proof",
        Handshake::Refused { .. } => "refused",
    }
}

#[cfg(test)]
mod tests;
