//! The two envelopes on every request's path, [`Request`] and [`Reply`], travel as CBOR
//! arrays of their fields rather than maps keyed by field name: the fields of a small request
//! are smaller than their names, and matching names is most of what decoding one costs.
//! Changing a field's position changes the protocol (see [`super::PROTOCOL_VERSION`]).
//!
//! They are also what every request costs to encode and decode, twice per round trip, so
//! requests and successful replies are written and read by hand here ([`encode`],
//! [`decode_fast`]) rather than through serde: the same bytes (tested against the serde
//! encoding), without serde's visitors, and with the endpoint and realm of the last request
//! this thread decoded reused instead of validated and allocated again. Anything the hand
//! decoder does not expect (an error reply, an unusual but valid encoding, a malformed body)
//! goes to the serde decoder, which decides: the hand path accepts nothing serde would refuse.

use std::cell::RefCell;

use bytes::{BufMut, Bytes, BytesMut};
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

/// CBOR's major types used here.
const UNSIGNED: u8 = 0;
const BYTES: u8 = 2;
const TEXT: u8 = 3;
const ARRAY: u8 = 4;
const MAP: u8 = 5;
/// CBOR `null`.
const NULL: u8 = 0xf6;

/// Writes a CBOR head: the major type and its argument, in the fewest bytes (as ciborium does).
fn head(out: &mut BytesMut, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.put_u8(m | n as u8),
        24..=0xff => out.put_slice(&[m | 24, n as u8]),
        0x100..=0xffff => {
            out.put_u8(m | 25);
            out.put_u16(n as u16);
        }
        0x1_0000..=0xffff_ffff => {
            out.put_u8(m | 26);
            out.put_u32(n as u32);
        }
        _ => {
            out.put_u8(m | 27);
            out.put_u64(n);
        }
    }
}

fn text(out: &mut BytesMut, s: &str) {
    head(out, TEXT, s.len() as u64);
    out.put_slice(s.as_bytes());
}

fn bytes(out: &mut BytesMut, b: &[u8]) {
    head(out, BYTES, b.len() as u64);
    out.put_slice(b);
}

/// Appends the CBOR of a request, a one-way message or a successful reply to `out`, the same
/// bytes as serde with ciborium writes; `false` (leaving `out` alone) for any other envelope.
pub(super) fn encode(envelope: &Envelope, out: &mut BytesMut) -> bool {
    match envelope {
        Envelope::Request(call) => call_body(out, "Request", call),
        Envelope::OneWay(call) => call_body(out, "OneWay", call),
        Envelope::Reply(Reply { id, attempt, result: Ok(data) }) => {
            out.reserve(24 + data.as_bytes().len());
            head(out, MAP, 1);
            text(out, "Reply");
            head(out, ARRAY, 3);
            head(out, UNSIGNED, *id);
            head(out, UNSIGNED, u64::from(*attempt));
            head(out, MAP, 1);
            text(out, "Ok");
            bytes(out, data.as_bytes());
        }
        _ => return false,
    }
    true
}

fn call_body(out: &mut BytesMut, tag: &str, call: &ActorCall) {
    let node = call.to.node();
    let ident = call.ident.as_deref().map_or(0, str::len);
    out.reserve(
        64 + node.endpoint().as_str().len()
            + call.realm.as_str().len()
            + call.kind.len()
            + call.data.as_bytes().len()
            + ident,
    );
    head(out, MAP, 1);
    text(out, tag);
    head(out, ARRAY, 8);
    head(out, UNSIGNED, call.id);
    head(out, ARRAY, 3);
    text(out, node.endpoint().as_str());
    head(out, UNSIGNED, node.generation());
    head(out, UNSIGNED, call.to.seq());
    text(out, call.realm.as_str());
    text(out, &call.kind);
    bytes(out, call.data.as_bytes());
    head(out, UNSIGNED, call.timeout_ms);
    match &call.ident {
        Some(ident) => text(out, ident),
        None => out.put_u8(NULL),
    }
    head(out, UNSIGNED, u64::from(call.attempt));
}

/// Reads a body by hand; `None` at the first thing it does not expect.
struct Reader<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A head of major type `major` with a definite argument.
    fn head(&mut self, major: u8) -> Option<u64> {
        let first = *self.body.get(self.at)?;
        if first >> 5 != major {
            return None;
        }
        let info = first & 0x1f;
        let width = match info {
            0..=23 => {
                self.at += 1;
                return Some(u64::from(info));
            }
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            // Indefinite lengths and reserved values: for serde to judge.
            _ => return None,
        };
        let arg = self.body.get(self.at + 1..self.at + 1 + width)?;
        self.at += 1 + width;
        Some(arg.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)))
    }

    fn uint(&mut self) -> Option<u64> {
        self.head(UNSIGNED)
    }

    /// The next `n` bytes of a string of major type `major`.
    fn string(&mut self, major: u8) -> Option<&'a [u8]> {
        let len = usize::try_from(self.head(major)?).ok()?;
        let end = self.at.checked_add(len)?;
        let s = self.body.get(self.at..end)?;
        self.at = end;
        Some(s)
    }

    fn text(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.string(TEXT)?).ok()
    }

    fn null(&mut self) -> bool {
        let null = self.body.get(self.at) == Some(&NULL);
        self.at += usize::from(null);
        null
    }
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

/// `raw` as a name: the recent one when the bytes match it (it was validated), else parsed
/// and validated (`None` when invalid) and kept as the recent one.
fn recent<T: Clone + AsRef<str> + std::str::FromStr>(
    slot: &mut Option<T>,
    raw: &[u8],
) -> Option<T> {
    if let Some(t) = slot.as_ref().filter(|t| t.as_ref().as_bytes() == raw) {
        return Some(t.clone());
    }
    let t: T = std::str::from_utf8(raw).ok()?.parse().ok()?;
    *slot = Some(t.clone());
    Some(t)
}

/// Decodes a request, a one-way message or a successful reply by hand; `None` for anything
/// else or anything unexpected, which the serde decoder then decides on.
pub(super) fn decode_fast(body: &[u8]) -> Option<Envelope> {
    let mut r = Reader { body, at: 0 };
    if r.head(MAP)? != 1 {
        return None;
    }
    let envelope = match r.string(TEXT)? {
        b"Request" => Envelope::Request(call(&mut r)?),
        b"OneWay" => Envelope::OneWay(call(&mut r)?),
        b"Reply" => {
            if r.head(ARRAY)? != 3 {
                return None;
            }
            let id = r.uint()?;
            let attempt = u32::try_from(r.uint()?).ok()?;
            if r.head(MAP)? != 1 || r.string(TEXT)? != b"Ok" {
                return None;
            }
            let data = Payload::from_cbor(Bytes::copy_from_slice(r.string(BYTES)?));
            Envelope::Reply(Reply { id, attempt, result: Ok(data) })
        }
        _ => return None,
    };
    (r.at == body.len()).then_some(envelope)
}

fn call(r: &mut Reader<'_>) -> Option<ActorCall> {
    if r.head(ARRAY)? != 8 {
        return None;
    }
    let id = r.uint()?;
    if r.head(ARRAY)? != 3 {
        return None;
    }
    let endpoint = r.string(TEXT)?;
    let (generation, seq) = (r.uint()?, r.uint()?);
    let realm = r.string(TEXT)?;
    let (endpoint, realm) = RECENT.with_borrow_mut(|recent_names| {
        Some((
            recent(&mut recent_names.endpoint, endpoint)?,
            recent(&mut recent_names.realm, realm)?,
        ))
    })?;
    let kind = r.text()?.to_owned();
    let data = Payload::from_cbor(Bytes::copy_from_slice(r.string(BYTES)?));
    let timeout_ms = r.uint()?;
    let ident = if r.null() { None } else { Some(r.text()?.to_owned()) };
    let attempt = u32::try_from(r.uint()?).ok()?;
    let to = NodeId::new(endpoint, generation).actor_id(seq);
    Some(ActorCall { id, to, realm, kind, data, timeout_ms, ident, attempt })
}
