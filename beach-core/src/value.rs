//! Payloads: the dynamic [`Value`], the pre-encoded [`Payload`] that travels on the wire, and
//! the conversions between them, typed Rust values and JSON.
//!
//! Actors usually exchange typed structs: [`Payload::encode`] and [`Payload::decode`] turn any
//! serde type into CBOR bytes and back. Tools that do not know the types (the CLI, the HTTP
//! gateway) use [`Value`], a dict-shaped dynamic value, and its JSON conversion.
//!
//! ```
//! use beach_core::value::{Payload, Value};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, PartialEq, Debug)]
//! struct Ping { time: f64 }
//!
//! let payload = Payload::encode(&Ping { time: 1.5 }).unwrap();
//! let value = payload.to_value().unwrap();
//! assert_eq!(value["time"].as_f64(), Some(1.5));
//! assert_eq!(value.to_json().unwrap().to_string(), r#"{"time":1.5}"#);
//! assert_eq!(payload.decode::<Ping>().unwrap(), Ping { time: 1.5 });
//! ```

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::de::{DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The key that marks a byte string in JSON: `{"$bytes": "<base64>"}`.
pub const JSON_BYTES_KEY: &str = "$bytes";

/// Why a value could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Encoding a Rust value to CBOR failed (for example a map with non-string keys).
    #[error("cannot encode payload: {0}")]
    Encode(String),
    /// The bytes were not the CBOR of the expected shape.
    #[error("cannot decode payload: {0}")]
    Decode(String),
    /// The value has no JSON form (NaN or infinite floats, integers beyond 64 bits).
    #[error("cannot convert to JSON: {0}")]
    Json(String),
}

/// A CBOR decoding error as a sentence (ciborium prints its errors as debug text).
fn decode_error<T>(e: ciborium::de::Error<T>) -> String {
    match e {
        ciborium::de::Error::Io(_) => "the data ends too early".to_owned(),
        ciborium::de::Error::Syntax(at) => format!("not valid CBOR at byte {at}"),
        ciborium::de::Error::Semantic(_, message) => message,
        ciborium::de::Error::RecursionLimitExceeded => "the data is nested too deeply".to_owned(),
    }
}

/// A dynamic, dict-shaped value: what CBOR (and JSON) can carry, with byte strings kept as
/// bytes. Map keys are strings, as in py-beach's dicts; iteration order is the keys' order.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// No value (`null`, Python's `None`).
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer, within CBOR's range of -2^64 to 2^64-1.
    Integer(i128),
    /// A floating-point number.
    Float(f64),
    /// A UTF-8 string.
    Text(String),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    Array(Vec<Value>),
    /// A map with string keys.
    Map(BTreeMap<String, Value>),
}

static NULL: Value = Value::Null;

impl Value {
    /// Converts any serde value into a [`Value`].
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, ValueError> {
        ciborium::Value::serialized(value)
            .map_err(|e| ValueError::Encode(e.to_string()))?
            .deserialized()
            .map_err(|e| ValueError::Encode(e.to_string()))
    }

    /// Converts this value into a typed Rust value.
    pub fn deserialize_into<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        ciborium::Value::serialized(self)
            .map_err(|e| ValueError::Decode(e.to_string()))?
            .deserialized()
            .map_err(|ciborium::value::Error::Custom(e)| ValueError::Decode(e))
    }

    /// A map built from `(key, value)` pairs.
    pub fn map<K: Into<String>, V: Into<Value>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// The entry `key` of a map; `None` for a missing key or a value that is not a map.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.get(key),
            _ => None,
        }
    }

    /// The string, if this is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer that fits in an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => i64::try_from(*i).ok(),
            _ => None,
        }
    }

    /// The number as a float, if this is a float or an integer.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The JSON form of this value. Byte strings become `{"$bytes": "<base64>"}` so that
    /// [`Value::from_json`] can turn them back into bytes.
    pub fn to_json(&self) -> Result<serde_json::Value, ValueError> {
        use serde_json::Value as J;
        Ok(match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Integer(i) => {
                if let Ok(i) = i64::try_from(*i) {
                    J::from(i)
                } else if let Ok(u) = u64::try_from(*i) {
                    J::from(u)
                } else {
                    return Err(ValueError::Json(format!("integer {i} does not fit in 64 bits")));
                }
            }
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .ok_or_else(|| ValueError::Json(format!("float {f} has no JSON form")))?,
            Value::Text(s) => J::String(s.clone()),
            Value::Bytes(b) => {
                let mut m = serde_json::Map::new();
                m.insert(JSON_BYTES_KEY.to_owned(), J::String(BASE64.encode(b)));
                J::Object(m)
            }
            Value::Array(a) => J::Array(a.iter().map(Value::to_json).collect::<Result<_, _>>()?),
            Value::Map(m) => {
                J::Object(m.iter().map(|(k, v)| Ok((k.clone(), v.to_json()?))).collect::<Result<
                    _,
                    ValueError,
                >>(
                )?)
            }
        })
    }

    /// The value of a JSON document. An object whose only key is `$bytes` and whose value is
    /// valid base64 becomes a byte string; every other object becomes a map.
    pub fn from_json(json: &serde_json::Value) -> Self {
        use serde_json::Value as J;
        match json {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Integer(i.into())
                } else if let Some(u) = n.as_u64() {
                    Value::Integer(u.into())
                } else {
                    Value::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            J::String(s) => Value::Text(s.clone()),
            J::Array(a) => Value::Array(a.iter().map(Value::from_json).collect()),
            J::Object(m) => {
                if m.len() == 1
                    && let Some(J::String(b64)) = m.get(JSON_BYTES_KEY)
                    && let Ok(bytes) = BASE64.decode(b64)
                {
                    return Value::Bytes(bytes);
                }
                Value::Map(m.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect())
            }
        }
    }
}

impl std::ops::Index<&str> for Value {
    type Output = Value;

    /// The entry `key` of a map, or `Null` when there is none (as `serde_json` does).
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident $(as $conv:ty)?),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$variant(v $(as $conv)?.into())
            }
        })*
    };
}

value_from!(
    bool => Bool, i32 => Integer, i64 => Integer, u32 => Integer, u64 => Integer,
    f64 => Float, String => Text, &str => Text, Vec<u8> => Bytes, Vec<Value> => Array,
    BTreeMap<String, Value> => Map,
);

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Integer(i) => {
                if let Ok(i) = i64::try_from(*i) {
                    s.serialize_i64(i)
                } else if let Ok(u) = u64::try_from(*i) {
                    s.serialize_u64(u)
                } else {
                    s.serialize_i128(*i)
                }
            }
            Value::Float(f) => s.serialize_f64(*f),
            Value::Text(t) => s.serialize_str(t),
            Value::Bytes(b) => s.serialize_bytes(b),
            Value::Array(a) => s.collect_seq(a),
            Value::Map(m) => s.collect_map(m),
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value (maps must have string keys)")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Integer(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }
    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Value, E> {
        i128::try_from(v)
            .map(Value::Integer)
            .map_err(|_| E::custom(format!("integer {v} is out of range")))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Text(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Text(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            out.insert(k, v);
        }
        Ok(Value::Map(out))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// A user payload as pre-encoded CBOR bytes.
///
/// Envelopes carry payloads as opaque byte strings, so routing and forwarding never decode user
/// data; only the receiving handler does, into whatever type it expects. Cloning is cheap (the
/// bytes are reference counted).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Payload(Bytes);

/// The CBOR encoding of `null`.
const CBOR_NULL: &[u8] = &[0xf6];

impl Payload {
    /// The payload `null`, for requests and replies without data.
    pub fn null() -> Self {
        Payload(Bytes::from_static(CBOR_NULL))
    }

    /// Encodes a serde value as CBOR.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Self, ValueError> {
        let mut buf = Vec::with_capacity(64);
        ciborium::into_writer(value, &mut buf).map_err(|e| ValueError::Encode(e.to_string()))?;
        Ok(Payload(buf.into()))
    }

    /// Decodes the payload into a serde value.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        ciborium::from_reader(&self.0[..]).map_err(|e| ValueError::Decode(decode_error(e)))
    }

    /// Wraps bytes that are already CBOR. They are not checked here: a malformed payload fails
    /// when it is decoded, at the one place that knows what to expect.
    pub fn from_cbor(bytes: impl Into<Bytes>) -> Self {
        Payload(bytes.into())
    }

    /// The CBOR bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The CBOR bytes, shared.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Whether this is the payload `null`.
    pub fn is_null(&self) -> bool {
        self.0 == CBOR_NULL
    }

    /// Decodes the payload as a dynamic [`Value`].
    pub fn to_value(&self) -> Result<Value, ValueError> {
        self.decode()
    }

    /// Encodes a dynamic [`Value`].
    pub fn from_value(value: &Value) -> Result<Self, ValueError> {
        Self::encode(value)
    }

    /// The payload as JSON (see [`Value::to_json`]).
    pub fn to_json(&self) -> Result<serde_json::Value, ValueError> {
        self.to_value()?.to_json()
    }

    /// A payload from JSON (see [`Value::from_json`]).
    pub fn from_json(json: &serde_json::Value) -> Result<Self, ValueError> {
        Self::from_value(&Value::from_json(json))
    }
}

impl Default for Payload {
    fn default() -> Self {
        Self::null()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_value() {
            Ok(v) => write!(f, "Payload({v:?})"),
            Err(_) => write!(f, "Payload(<{} undecodable bytes>)", self.0.len()),
        }
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Bytes::deserialize(d).map(Payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Reading {
        name: String,
        #[serde(with = "serde_bytes_shim")]
        raw: Vec<u8>,
        at: Option<u64>,
    }

    /// Serializes `Vec<u8>` as a CBOR byte string, as `serde_bytes` would.
    mod serde_bytes_shim {
        pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
        pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
            d: D,
        ) -> Result<Vec<u8>, D::Error> {
            Ok(bytes::Bytes::deserialize(d)?.to_vec())
        }
        use serde::Deserialize;
    }

    #[test]
    fn typed_round_trip_keeps_bytes_as_bytes() {
        let r = Reading { name: "t".into(), raw: vec![0, 1, 255], at: None };
        let v = Value::from_serialize(&r).unwrap();
        assert_eq!(v["raw"], Value::Bytes(vec![0, 1, 255]));
        assert_eq!(v["at"], Value::Null);
        assert_eq!(v.deserialize_into::<Reading>().unwrap(), r);
        assert_eq!(Payload::encode(&r).unwrap().decode::<Reading>().unwrap(), r);
    }

    #[test]
    fn json_round_trip_marks_bytes() {
        let v = Value::map([("b", Value::Bytes(b"hi".to_vec())), ("n", Value::from(-3))]);
        let j = v.to_json().unwrap();
        assert_eq!(j.to_string(), r#"{"b":{"$bytes":"aGk="},"n":-3}"#);
        assert_eq!(Value::from_json(&j), v);
        // An object that only looks like bytes stays a map.
        let j: serde_json::Value = serde_json::from_str(r#"{"$bytes":"not base64!"}"#).unwrap();
        assert!(matches!(Value::from_json(&j), Value::Map(_)));
    }

    #[test]
    fn values_without_json_form_are_errors() {
        assert!(Value::Float(f64::NAN).to_json().is_err());
        assert!(Value::Integer(-(1i128 << 64)).to_json().is_err());
        assert_eq!(Value::Integer(u64::MAX.into()).to_json().unwrap(), serde_json::json!(u64::MAX));
    }

    #[test]
    fn decode_errors_say_what_is_wrong() {
        let p = Payload::from_cbor(vec![0xff, 0x00]);
        assert!(matches!(p.to_value(), Err(ValueError::Decode(_))));
        let p = Payload::encode(&Value::map([("a", 1)])).unwrap();
        let err = p.decode::<Vec<String>>().unwrap_err();
        assert_eq!(err.to_string(), "cannot decode payload: invalid type: map, expected array");
        let err = Payload::from_cbor(vec![0x1a, 0x00]).decode::<u32>().unwrap_err();
        assert_eq!(err.to_string(), "cannot decode payload: the data ends too early");
        assert!(Payload::null().is_null());
        assert_eq!(Payload::null().to_value().unwrap(), Value::Null);
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(1i128 << 64)..(1i128 << 64)).prop_map(Value::Integer),
            any::<f64>()
                .prop_filter("NaN never equals itself", |f| !f.is_nan())
                .prop_map(Value::Float),
            ".{0,8}".prop_map(Value::Text),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,6}", inner, 0..6).prop_map(Value::Map),
            ]
        })
    }

    proptest! {
        #[test]
        fn cbor_round_trip(v in arb_value()) {
            let p = Payload::from_value(&v).unwrap();
            prop_assert_eq!(p.to_value().unwrap(), v);
        }

        #[test]
        fn json_round_trip(v in arb_value()) {
            if let Ok(j) = v.to_json() {
                // JSON cannot tell 1.0 from 1: compare through a second trip.
                let back = Value::from_json(&j);
                prop_assert_eq!(back.to_json().unwrap(), j);
            }
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Payload::from_cbor(bytes).to_value();
        }
    }
}
