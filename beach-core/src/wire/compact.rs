//! The two envelopes on every request's path, [`Request`] and [`Reply`], travel as CBOR
//! arrays of their fields rather than maps keyed by field name: the fields of a small request
//! are smaller than their names, and matching names is most of what decoding one costs.
//! Changing a field's position changes the protocol (see [`super::PROTOCOL_VERSION`]).
//!
//! They are also what every request costs to encode and decode, twice per round trip, so
//! requests and successful replies are written and read with minicbor's encoder and decoder
//! directly here ([`encode`], [`decode_fast`]) rather than through serde: the same bytes
//! (tested against the serde encoding), without serde's visitors, and with the endpoint and
//! realm of the last request this thread decoded reused instead of validated and allocated
//! again. Anything this decoder does not expect (an error reply, an unusual but valid
//! encoding, a malformed body) goes to the serde decoder, which decides: this path accepts
//! nothing serde would refuse.

use std::cell::RefCell;
use std::convert::Infallible;

use bytes::{BufMut, Bytes, BytesMut};
use minicbor::data::Type;
use minicbor::{Decoder, Encoder};
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

/// Lets minicbor's encoder append to a frame buffer.
struct Frame<'a>(&'a mut BytesMut);

impl minicbor::encode::Write for Frame<'_> {
    type Error = std::convert::Infallible;

    fn write_all(&mut self, buf: &[u8]) -> Result<(), Self::Error> {
        self.0.put_slice(buf);
        Ok(())
    }
}

type Encoded<'a, 'b> = Result<&'a mut Encoder<Frame<'b>>, minicbor::encode::Error<Infallible>>;

/// Appends the CBOR of a request, a one-way message or a successful reply to `out`, the same
/// bytes as serde with ciborium writes (both write each head in the fewest bytes); `false`
/// (leaving `out` alone) for any other envelope.
pub(super) fn encode(envelope: &Envelope, out: &mut BytesMut) -> bool {
    let start = out.len();
    let mut e = Encoder::new(Frame(out));
    let written = match envelope {
        Envelope::Request(call) => call_body(&mut e, "Request", call).is_ok(),
        Envelope::OneWay(call) => call_body(&mut e, "OneWay", call).is_ok(),
        Envelope::Reply(Reply { id, attempt, result: Ok(data) }) => {
            reply_body(&mut e, *id, *attempt, data).is_ok()
        }
        _ => false,
    };
    if !written {
        // Only the envelopes above are written here, and the buffer takes every byte.
        out.truncate(start);
    }
    written
}

fn reply_body<'a, 'b>(
    e: &'a mut Encoder<Frame<'b>>,
    id: u64,
    attempt: u32,
    data: &Payload,
) -> Encoded<'a, 'b> {
    e.map(1)?.str("Reply")?.array(3)?.u64(id)?.u32(attempt)?;
    e.map(1)?.str("Ok")?.bytes(data.as_bytes())
}

fn call_body<'a, 'b>(
    e: &'a mut Encoder<Frame<'b>>,
    tag: &str,
    call: &ActorCall,
) -> Encoded<'a, 'b> {
    let node = call.to.node();
    e.map(1)?.str(tag)?.array(8)?.u64(call.id)?;
    e.array(3)?.str(node.endpoint().as_str())?.u64(node.generation())?.u64(call.to.seq())?;
    e.str(call.realm.as_str())?.str(&call.kind)?.bytes(call.data.as_bytes())?;
    e.u64(call.timeout_ms)?;
    match &call.ident {
        Some(ident) => e.str(ident)?,
        None => e.null()?,
    };
    e.u32(call.attempt)
}

/// The endpoint and realm of the last request decoded on this thread: a node's requests are
/// nearly all for itself, in a few realms, so most requests reuse them instead of validating
/// and allocating the same names again.
#[derive(Default)]
struct Recent {
    endpoint: Option<Endpoint>,
    realm: Option<Realm>,
}

thread_local! {
    static RECENT: RefCell<Recent> = RefCell::default();
}

/// `name` as a validated name: the recent one when it matches, else parsed (`None` when
/// invalid) and kept as the recent one.
fn recent<T: Clone + AsRef<str> + std::str::FromStr>(
    slot: &mut Option<T>,
    name: &str,
) -> Option<T> {
    if let Some(t) = slot.as_ref().filter(|t| t.as_ref() == name) {
        return Some(t.clone());
    }
    let t: T = name.parse().ok()?;
    *slot = Some(t.clone());
    Some(t)
}

/// Decodes a request, a one-way message or a successful reply with minicbor's decoder and no
/// serde; `None` for anything else or anything unexpected, which the serde decoder then decides
/// on.
pub(super) fn decode_fast(body: &[u8]) -> Option<Envelope> {
    let mut d = Decoder::new(body);
    if d.map().ok()? != Some(1) {
        return None;
    }
    let envelope = match d.str().ok()? {
        "Request" => Envelope::Request(call(&mut d)?),
        "OneWay" => Envelope::OneWay(call(&mut d)?),
        "Reply" => {
            if d.array().ok()? != Some(3) {
                return None;
            }
            let (id, attempt) = (d.u64().ok()?, d.u32().ok()?);
            if d.map().ok()? != Some(1) || d.str().ok()? != "Ok" {
                return None;
            }
            let data = Payload::from_cbor(Bytes::copy_from_slice(d.bytes().ok()?));
            Envelope::Reply(Reply { id, attempt, result: Ok(data) })
        }
        _ => return None,
    };
    (d.position() == body.len()).then_some(envelope)
}

fn call(d: &mut Decoder<'_>) -> Option<ActorCall> {
    if d.array().ok()? != Some(8) {
        return None;
    }
    let id = d.u64().ok()?;
    if d.array().ok()? != Some(3) {
        return None;
    }
    let endpoint = d.str().ok()?;
    let (generation, seq) = (d.u64().ok()?, d.u64().ok()?);
    let realm = d.str().ok()?;
    let (endpoint, realm) = RECENT.with_borrow_mut(|names| {
        Some((recent(&mut names.endpoint, endpoint)?, recent(&mut names.realm, realm)?))
    })?;
    let kind = d.str().ok()?.to_owned();
    let data = Payload::from_cbor(Bytes::copy_from_slice(d.bytes().ok()?));
    let timeout_ms = d.u64().ok()?;
    let ident = if d.datatype().ok()? == Type::Null {
        d.null().ok()?;
        None
    } else {
        Some(d.str().ok()?.to_owned())
    };
    let attempt = d.u32().ok()?;
    let to = NodeId::new(endpoint, generation).actor_id(seq);
    Some(ActorCall { id, to, realm, kind, data, timeout_ms, ident, attempt })
}
