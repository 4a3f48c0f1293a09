//! What foca gossips about ([`SwimIdentity`]) and how its packets are encoded ([`CborCodec`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Buf, BufMut};
use foca::{Header, Member, Message, State};
use serde::{Deserialize, Serialize};

use crate::model::{Endpoint, NodeId};

/// A node's identity in SWIM: its [`NodeId`] plus a renewal counter.
///
/// foca declares a member down for good; a node wrongly declared down rejoins by renewing its
/// identity (the counter goes up) while its [`NodeId`] and so its actors stay the same. A
/// restarted node has a new generation, hence a new [`NodeId`], and wins any conflict with its
/// old self at the same endpoint.
#[derive(Debug, Clone, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "IdentityFields")]
pub struct SwimIdentity {
    node: NodeId,
    renewal: u16,
    /// The endpoint's [`AddrKey`], computed once: foca compares addresses member by member.
    #[serde(skip)]
    addr: AddrKey,
}

/// foca compares whole identities while scanning its member table: the address key first
/// settles almost every comparison with two words. (Consistent with the derived `Ord`: the key
/// is a function of the node.)
impl PartialEq for SwimIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.addr == other.addr && self.renewal == other.renewal && self.node == other.node
    }
}

impl std::hash::Hash for SwimIdentity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.node.hash(state);
        self.renewal.hash(state);
    }
}

/// What travels of a [`SwimIdentity`].
#[derive(Deserialize)]
struct IdentityFields {
    node: NodeId,
    renewal: u16,
}

impl From<IdentityFields> for SwimIdentity {
    fn from(f: IdentityFields) -> Self {
        SwimIdentity::new(f.node, f.renewal)
    }
}

/// A member's address as foca compares it: a 128-bit xxh3 hash of its endpoint. foca looks a
/// member up by scanning its table and comparing addresses, once per member update received;
/// comparing two words instead of cloning and comparing two strings made a 600-node simulation
/// several times faster. Two endpoints would collide with a probability of about 2^-128 per
/// pair: far below any hardware error rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AddrKey(u128);

impl AddrKey {
    fn of(endpoint: &Endpoint) -> Self {
        AddrKey(xxhash_rust::xxh3::xxh3_128(endpoint.as_str().as_bytes()))
    }
}

impl SwimIdentity {
    /// The identity of `node` after `renewal` rejoins.
    pub fn new(node: NodeId, renewal: u16) -> Self {
        let addr = AddrKey::of(node.endpoint());
        Self { node, renewal, addr }
    }

    /// The node.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// How many times this node rejoined under the same [`NodeId`].
    pub fn renewal(&self) -> u16 {
        self.renewal
    }

    /// The stand-in for a seed whose generation is not known yet: generation 0 at the seed's
    /// endpoint. Generation 0 is reserved for this; an announce to it reaches whoever listens
    /// at that endpoint.
    pub(crate) fn seed(endpoint: Endpoint) -> Self {
        Self::new(NodeId::new(endpoint, 0), 0)
    }

    pub(crate) fn into_node(self) -> NodeId {
        self.node
    }
}

impl foca::Identity for SwimIdentity {
    type Addr = AddrKey;

    fn renew(&self) -> Option<Self> {
        Some(Self { renewal: self.renewal.wrapping_add(1), ..self.clone() })
    }

    fn addr(&self) -> AddrKey {
        self.addr
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
    /// The highest generation believed: a member claimed with a later one (its start more
    /// than an hour in this node's future) is refused with the whole packet, so that nobody
    /// can ban an endpoint forever by gossiping it at generation `u64::MAX`.
    ceiling: Arc<AtomicU64>,
}

impl CborCodec {
    pub(crate) fn new(me: Endpoint, ceiling: Arc<AtomicU64>) -> Self {
        Self { me, ceiling }
    }

    fn check(&self, node: &NodeId) -> Result<(), CodecError> {
        if !node.endpoint().is_dialable() {
            return Err(CodecError(format!("{node}: not a host:port to dial")));
        }
        if node.generation() > self.ceiling.load(Ordering::Relaxed) {
            return Err(CodecError(format!(
                "{node} claims a generation more than an hour ahead of this node's clock"
            )));
        }
        Ok(())
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
        self.check(&header.src.node)?;
        // A seed is announced to by the name it was configured with (`node1:4999`), which
        // need not be the endpoint it advertises (`10.0.0.5:4999`): the packet reached us, so it
        // is for us. foca accepts an announce whose destination has our address.
        if header.message == Message::Announce && header.dst.node.generation() == 0 {
            header.dst = SwimIdentity::seed(self.me.clone());
        }
        Ok(header)
    }

    /// Members are the bulk of every packet (a feed carries as many as fit), so they are a
    /// compact tuple `(node, renewal, incarnation, state)` rather than a map with field names:
    /// about 40 bytes instead of 80.
    fn encode_member(
        &mut self,
        member: &Member<SwimIdentity>,
        buf: impl BufMut,
    ) -> Result<(), CodecError> {
        let state = match member.state() {
            State::Alive => 0u8,
            State::Suspect => 1,
            State::Down => 2,
        };
        let id = member.id();
        ciborium::into_writer(&(&id.node, id.renewal, member.incarnation(), state), buf.writer())
            .map_err(|e| CodecError(e.to_string()))
    }

    fn decode_member(&mut self, buf: impl Buf) -> Result<Member<SwimIdentity>, CodecError> {
        let (node, renewal, incarnation, state): (NodeId, u16, u16, u8) =
            ciborium::from_reader(buf.reader()).map_err(|e| CodecError(e.to_string()))?;
        let state = match state {
            0 => State::Alive,
            1 => State::Suspect,
            2 => State::Down,
            other => return Err(CodecError(format!("unknown member state {other}"))),
        };
        self.check(&node)?;
        Ok(Member::new(SwimIdentity::new(node, renewal), incarnation, state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::Codec;

    #[test]
    fn members_round_trip_compactly_and_bad_states_are_errors() {
        let ceiling = Arc::new(AtomicU64::new(u64::MAX));
        let mut codec = CborCodec::new(Endpoint::new("a:1").unwrap(), ceiling.clone());
        let node: NodeId = "10.0.0.1:4999#65f1a2b3c4d5".parse().unwrap();
        for state in [State::Alive, State::Suspect, State::Down] {
            let m = Member::new(SwimIdentity::new(node.clone(), 3), 7, state);
            let mut buf = Vec::new();
            codec.encode_member(&m, &mut buf).unwrap();
            assert!(buf.len() <= 40, "{} bytes", buf.len());
            assert_eq!(codec.decode_member(&buf[..]).unwrap(), m);
        }
        let mut bad = Vec::new();
        ciborium::into_writer(&(&node, 0u16, 0u16, 9u8), &mut bad).unwrap();
        assert!(codec.decode_member(&bad[..]).is_err());
        // A generation past the ceiling is refused.
        let m = Member::new(SwimIdentity::new(node.clone(), 0), 0, State::Down);
        let mut buf = Vec::new();
        codec.encode_member(&m, &mut buf).unwrap();
        ceiling.store(node.generation() - 1, Ordering::Relaxed);
        let err = codec.decode_member(&buf[..]).unwrap_err().to_string();
        assert!(err.contains("more than an hour ahead"), "{err}");
    }
}
