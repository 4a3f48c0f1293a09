//! The two envelopes on every request's path, [`Request`] and [`Reply`], travel as CBOR
//! arrays of their fields rather than maps keyed by field name: the fields of a small request
//! are smaller than their names, and matching names is most of what decoding one costs.
//! Changing a field's position changes the protocol (see [`super::PROTOCOL_VERSION`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::WireError;
use super::envelope::{ActorCall, Envelope, RemoteError, Reply};
use crate::model::{ActorId, Endpoint, NodeId, Realm};
use crate::value::Payload;

/// [`Request`]'s fields, in wire order.
type RequestFields = (u64, Target, Realm, String, Payload, u64, Option<String>, u32);

/// The actor a request is for, as `[endpoint, generation, seq]`: the parts of an [`ActorId`]
/// without its printed form, which costs formatting to send and parsing to receive.
struct Target(ActorId);

/// A [`Target`] to send, borrowed.
struct TargetRef<'a>(&'a ActorId);

impl Serialize for TargetRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let node = self.0.node();
        (node.endpoint(), node.generation(), self.0.seq()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (endpoint, generation, seq) = <(Endpoint, u64, u64)>::deserialize(d)?;
        Ok(Target(NodeId::new(endpoint, generation).actor_id(seq)))
    }
}

impl Serialize for ActorCall {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (
            self.id,
            TargetRef(&self.to),
            &self.realm,
            self.kind.as_str(),
            &self.data,
            self.timeout_ms,
            &self.ident,
            self.attempt,
        )
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ActorCall {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (id, Target(to), realm, kind, data, timeout_ms, ident, attempt) =
            RequestFields::deserialize(d)?;
        Ok(ActorCall { id, to, realm, kind, data, timeout_ms, ident, attempt })
    }
}

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.id, self.attempt, &self.result).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Reply {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (id, attempt, result) = <(u64, u32, Result<Payload, RemoteError>)>::deserialize(d)?;
        Ok(Reply { id, attempt, result })
    }
}

/// Whether `body` holds a request, a one-way message or a reply: an externally tagged
/// envelope is a one-entry map keyed by its variant's name.
pub(super) fn on_request_path(body: &[u8]) -> bool {
    let mut d = minicbor::Decoder::new(body);
    matches!(d.map(), Ok(Some(1))) && matches!(d.str(), Ok("Request" | "OneWay" | "Reply"))
}

/// Decodes a body [`on_request_path`] accepted.
pub(super) fn decode(body: &[u8]) -> Result<Envelope, WireError> {
    let mut de = minicbor_serde::Deserializer::new(body);
    let envelope =
        Envelope::deserialize(&mut de).map_err(|e| WireError::Malformed(e.to_string()))?;
    let used = de.decoder().position();
    if used < body.len() {
        return Err(WireError::TrailingBytes(body.len() - used));
    }
    Ok(envelope)
}
