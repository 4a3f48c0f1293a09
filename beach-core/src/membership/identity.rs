//! What foca gossips about ([`SwimIdentity`]) and how its packets are encoded ([`CborCodec`]).

use bytes::{Buf, BufMut};
use foca::{Header, Member, Message};
use serde::{Deserialize, Serialize};

use crate::model::{Endpoint, NodeId};

/// A node's identity in SWIM: its [`NodeId`] plus a renewal counter.
///
/// foca declares a member down for good; a node wrongly declared down rejoins by renewing its
/// identity (the counter goes up) while its [`NodeId`] and so its actors stay the same. A
/// restarted node has a new generation, hence a new [`NodeId`], and wins any conflict with its
/// old self at the same endpoint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SwimIdentity {
    /// The node.
    pub node: NodeId,
    /// How many times this node rejoined under the same [`NodeId`].
    pub renewal: u16,
}

impl SwimIdentity {
    /// The stand-in for a seed whose generation is not known yet: generation 0 at the seed's
    /// endpoint. Generation 0 is reserved for this; an announce to it reaches whoever listens
    /// at that endpoint.
    pub(crate) fn seed(endpoint: Endpoint) -> Self {
        Self { node: NodeId::new(endpoint, 0), renewal: 0 }
    }
}

impl foca::Identity for SwimIdentity {
    type Addr = Endpoint;

    fn renew(&self) -> Option<Self> {
        Some(Self { node: self.node.clone(), renewal: self.renewal.wrapping_add(1) })
    }

    fn addr(&self) -> Endpoint {
        self.node.endpoint().clone()
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        (self.node.generation(), self.renewal) > (adversary.node.generation(), adversary.renewal)
    }
}

/// foca's codec: CBOR through serde, one item per header or member.
#[derive(Debug, Clone)]
pub(crate) struct CborCodec {
    /// This node's endpoint, to take in announces addressed to a seed stand-in.
    me: Endpoint,
}

impl CborCodec {
    pub(crate) fn new(me: Endpoint) -> Self {
        Self { me }
    }
}

/// A codec failure, as foca wants it: an error type of our own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CodecError(String);

impl foca::Codec<SwimIdentity> for CborCodec {
    type Error = CodecError;

    fn encode_header(
        &mut self,
        header: &Header<SwimIdentity>,
        buf: impl BufMut,
    ) -> Result<(), CodecError> {
        ciborium::into_writer(header, buf.writer()).map_err(|e| CodecError(e.to_string()))
    }

    fn decode_header(&mut self, buf: impl Buf) -> Result<Header<SwimIdentity>, CodecError> {
        let mut header: Header<SwimIdentity> =
            ciborium::from_reader(buf.reader()).map_err(|e| CodecError(e.to_string()))?;
        // A seed is announced to by the name it was configured with (`node1:4999`), which
        // need not be the endpoint it advertises (`10.0.0.5:4999`): the packet reached us, so it
        // is for us. foca accepts an announce whose destination has our address.
        if header.message == Message::Announce && header.dst.node.generation() == 0 {
            header.dst = SwimIdentity::seed(self.me.clone());
        }
        Ok(header)
    }

    fn encode_member(
        &mut self,
        member: &Member<SwimIdentity>,
        buf: impl BufMut,
    ) -> Result<(), CodecError> {
        ciborium::into_writer(member, buf.writer()).map_err(|e| CodecError(e.to_string()))
    }

    fn decode_member(&mut self, buf: impl Buf) -> Result<Member<SwimIdentity>, CodecError> {
        ciborium::from_reader(buf.reader()).map_err(|e| CodecError(e.to_string()))
    }
}
