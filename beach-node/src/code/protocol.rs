//! The frames of the actor protocol (docs/actor-protocol.md), version [`VERSION`]: CBOR maps
//! whose key `t` names the frame, under the wire's length prefix.

use std::collections::BTreeMap;

use ciborium::Value as Cbor;
use serde::{Deserialize, Serialize};

/// The protocol version this node speaks.
pub(crate) const VERSION: u32 = 1;

/// What the node sends a program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(crate) enum ToProgram {
    Welcome {
        version: u32,
        node: String,
        max_frame: u64,
    },
    Refused {
        error: String,
    },
    Init {
        actor: u64,
        id: String,
        realm: String,
        #[serde(rename = "type")]
        actor_type: String,
        file: String,
        sha256: String,
        categories: Vec<String>,
        parameters: BTreeMap<String, Cbor>,
        resources: BTreeMap<String, String>,
        ident: Option<String>,
    },
    Request {
        actor: u64,
        rid: u64,
        kind: String,
        data: Cbor,
        ident: Option<String>,
        timeout_ms: u64,
        attempt: u32,
        /// The request's id in the cluster, for the program's logs (protocol 1 programs may
        /// ignore it).
        request_id: u64,
    },
    Result {
        cid: u64,
        ok: bool,
        data: Cbor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Drain {
        actor: u64,
    },
    Stop {
        actor: u64,
    },
    Ping {
        n: u64,
    },
}

/// What a program sends its node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(crate) enum FromProgram {
    Hello {
        version: u32,
        #[serde(default)]
        sdk: Option<String>,
    },
    Ready {
        actor: u64,
    },
    Failed {
        actor: u64,
        error: String,
        #[serde(default)]
        data: Option<Cbor>,
    },
    Answer {
        rid: u64,
        ok: bool,
        #[serde(default = "null")]
        data: Cbor,
        #[serde(default)]
        error: Option<String>,
    },
    Call {
        actor: u64,
        cid: u64,
        #[serde(flatten)]
        call: Call,
    },
    Drained {
        actor: u64,
    },
    Stopped {
        actor: u64,
    },
    StopSelf {
        actor: u64,
    },
    Stat {
        actor: u64,
        name: String,
        value: f64,
    },
    Log {
        #[serde(default)]
        actor: Option<u64>,
        level: String,
        message: String,
    },
    Pong {
        n: u64,
    },
}

/// An actor's own call to the cluster, by its `op`; every optional key may be absent or null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Call {
    Request {
        category: String,
        kind: String,
        #[serde(default = "null")]
        data: Cbor,
        #[serde(default)]
        mode: Option<String>,
        #[serde(default)]
        key: Option<String>,
        #[serde(default)]
        timeout_ms: Option<u64>,
        #[serde(default)]
        retries: Option<u32>,
        #[serde(default)]
        ident: Option<String>,
    },
    Shoot {
        category: String,
        kind: String,
        #[serde(default = "null")]
        data: Cbor,
        #[serde(default)]
        mode: Option<String>,
        #[serde(default)]
        key: Option<String>,
        #[serde(default)]
        ident: Option<String>,
    },
    Broadcast {
        category: String,
        kind: String,
        #[serde(default = "null")]
        data: Cbor,
        #[serde(default)]
        ident: Option<String>,
    },
    RequestFromAll {
        category: String,
        kind: String,
        #[serde(default = "null")]
        data: Cbor,
        #[serde(default)]
        timeout_ms: Option<u64>,
        #[serde(default)]
        ident: Option<String>,
    },
    GroupRequest {
        root: String,
        kind: String,
        #[serde(default = "null")]
        data: Cbor,
        #[serde(default)]
        timeout_ms: Option<u64>,
        #[serde(default)]
        retries: Option<u32>,
        #[serde(default)]
        ident: Option<String>,
    },
    GroupShoot {
        root: String,
        kind: String,
        #[serde(default = "null")]
        data: Cbor,
        #[serde(default)]
        ident: Option<String>,
    },
    Available {
        category: String,
    },
}

fn null() -> Cbor {
    Cbor::Null
}

/// The `{ok, data, error}` map of one reply inside a result's data.
pub(crate) fn outcome(result: Result<Cbor, (String, Cbor)>) -> Cbor {
    let (ok, data, error) = match result {
        Ok(data) => (true, data, Cbor::Null),
        Err((error, data)) => (false, data, Cbor::Text(error)),
    };
    Cbor::Map(vec![
        (Cbor::Text("ok".into()), Cbor::Bool(ok)),
        (Cbor::Text("data".into()), data),
        (Cbor::Text("error".into()), error),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip_from(bytes: &[u8]) -> Result<FromProgram, String> {
        ciborium::from_reader(bytes).map_err(|e| e.to_string())
    }

    fn cbor(v: &Cbor) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(v, &mut out).unwrap();
        out
    }

    fn map(pairs: &[(&str, Cbor)]) -> Cbor {
        Cbor::Map(pairs.iter().map(|(k, v)| (Cbor::Text((*k).into()), v.clone())).collect())
    }

    #[test]
    fn frames_are_maps_named_by_t_and_extra_keys_are_ignored() {
        let hello = map(&[
            ("t", Cbor::Text("hello".into())),
            ("version", Cbor::Integer(1.into())),
            ("future", Cbor::Bool(true)),
        ]);
        assert_eq!(roundtrip_from(&cbor(&hello)), Ok(FromProgram::Hello { version: 1, sdk: None }));
        let call = map(&[
            ("t", Cbor::Text("call".into())),
            ("actor", Cbor::Integer(3.into())),
            ("cid", Cbor::Integer(9.into())),
            ("op", Cbor::Text("request".into())),
            ("category", Cbor::Text("svc/x".into())),
            ("kind", Cbor::Text("ping".into())),
            ("timeout_ms", Cbor::Null),
        ]);
        let FromProgram::Call { actor: 3, cid: 9, call: Call::Request { category, data, .. } } =
            roundtrip_from(&cbor(&call)).unwrap()
        else {
            panic!("not a request call");
        };
        assert_eq!((category.as_str(), data), ("svc/x", Cbor::Null));
        let mut out = Vec::new();
        ciborium::into_writer(&ToProgram::Ping { n: 4 }, &mut out).unwrap();
        let back: Cbor = ciborium::from_reader(&out[..]).unwrap();
        assert_eq!(back, map(&[("t", Cbor::Text("ping".into())), ("n", Cbor::Integer(4.into()))]));
    }

    #[test]
    fn unknown_frames_and_missing_keys_are_errors_naming_them() {
        let bad = map(&[("t", Cbor::Text("launch".into()))]);
        assert!(roundtrip_from(&cbor(&bad)).unwrap_err().contains("launch"));
        let short = map(&[("t", Cbor::Text("answer".into())), ("ok", Cbor::Bool(true))]);
        assert!(roundtrip_from(&cbor(&short)).unwrap_err().contains("rid"));
    }
}
