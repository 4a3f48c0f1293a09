use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::ErrorCode;
use crate::directory::{Change, Digest, Entry, Partition, PartitionDelta};
use crate::model::{NodeId, Realm};
use crate::placement::Strategy;
use crate::value::{Payload, Value};

fn node() -> NodeId {
    "127.0.0.1:4999#1f".parse().unwrap()
}

/// One envelope of every kind, with realistic contents.
fn samples() -> Vec<Envelope> {
    let id = node().actor_id(7);
    let request = ActorCall {
        id: 99,
        to: id.clone(),
        realm: Realm::global(),
        kind: "ping".into(),
        data: Payload::encode(&Value::map([("time", 1.5)])).unwrap(),
        timeout_ms: 5_000,
        ident: Some("pinger".into()),
        attempt: 1,
    };
    let entry = Entry::new(Realm::global(), "Pong", ["pongers"]).unwrap();
    let partition = Partition {
        owner: node(),
        version: 3,
        entries: BTreeMap::from([(id.clone(), entry.clone())]),
    };
    let spec = SpawnSpec {
        realm: Realm::global(),
        actor_type: "Pong".parse().unwrap(),
        categories: vec!["pongers".parse().unwrap()],
        strategy: Strategy::Repulsion,
        hint: Some("pongers".into()),
        node: None,
        parameters: BTreeMap::from([("_key".to_owned(), Value::from("secret"))]),
        resources: BTreeMap::from([("db".to_owned(), "svc/db".parse().unwrap())]),
        isolated: true,
        ident: None,
        trusted: ["a".to_owned()].into(),
        n_concurrent: Some(4),
        owner: Some("ops".into()),
        drainable: false,
        count: 3,
        dry_run: false,
        trace: false,
        log_level: None,
        deployment: None,
        avoid: Vec::new(),
    };
    vec![
        Envelope::Handshake(Handshake::Hello {
            version: PROTOCOL_VERSION,
            cluster: "beach".into(),
            peer: Peer::Client { name: "cli".into() },
            nonce: Bytes::from_static(&[1; 16]),
            key_id: Some(Bytes::from_static(&[2; 8])),
        }),
        Envelope::Handshake(Handshake::Welcome {
            version: PROTOCOL_VERSION,
            node: node(),
            nonce: Bytes::from_static(&[2; 16]),
            proof: Some(Bytes::from_static(&[3; 32])),
        }),
        Envelope::Handshake(Handshake::Refused { reason: "wrong cluster".into() }),
        Envelope::Request(request.clone()),
        Envelope::OneWay(request),
        Envelope::Reply(Reply { id: 99, attempt: 0, result: Ok(Payload::null()) }),
        Envelope::Reply(Reply {
            id: 99,
            attempt: 2,
            result: Err(RemoteError { error: ErrorCode::QueueFull.as_str().into(), data: None }),
        }),
        Envelope::Admin(AdminCall {
            id: 1,
            token: Some("t".into()),
            op: AdminOp::Spawn(Box::new(spec)),
        }),
        Envelope::Admin(AdminCall {
            id: 2,
            token: None,
            op: AdminOp::Stop {
                realm: Realm::global(),
                ids: vec![id.clone()],
                categories: vec!["p".into()],
                delay_ms: 0,
            },
        }),
        Envelope::AdminReply(AdminReply {
            id: 1,
            result: Ok(AdminAnswer::Spawned(vec![ActorRecord {
                id: id.clone(),
                entry: entry.clone(),
                version: 4,
            }])),
        }),
        Envelope::Admin(AdminCall {
            id: 3,
            token: None,
            op: AdminOp::OnNode(Box::new(AdminOp::Flush)),
        }),
        Envelope::ViewRequest(Digest::default()),
        Envelope::Bye,
        Envelope::View { alive: vec![node()], partitions: vec![], more: true },
        Envelope::AdminReply(AdminReply {
            id: 2,
            result: Err(ErrorCode::Unprivileged.as_str().into()),
        }),
        Envelope::Membership(Bytes::from_static(b"swim")),
        Envelope::Digest(Digest { versions: BTreeMap::from([(node(), 3)]), partial: false }),
        Envelope::Partitions { partitions: vec![partition], digest: None },
        Envelope::Delta(PartitionDelta {
            owner: node(),
            base: 3,
            version: 5,
            changes: vec![Change::Upsert { id: id.clone(), entry }, Change::Remove { id }],
        }),
    ]
}

fn frames(envelopes: &[Envelope]) -> BytesMut {
    let codec = FrameCodec::default();
    let mut buf = BytesMut::new();
    for e in envelopes {
        codec.encode(e, &mut buf).unwrap();
    }
    buf
}

#[test]
fn every_envelope_round_trips_and_frames_stream_back_to_back() {
    let samples = samples();
    let mut buf = frames(&samples);
    let codec = FrameCodec::default();
    let mut decoded = Vec::new();
    while let Some(e) = codec.decode(&mut buf).unwrap() {
        decoded.push(e);
    }
    assert_eq!(decoded, samples);
    assert!(buf.is_empty());
}

#[test]
fn payloads_travel_as_opaque_byte_strings() {
    let payload = Payload::encode(&Value::map([("k", "v")])).unwrap();
    let reply = Envelope::Reply(Reply { id: 1, attempt: 0, result: Ok(payload.clone()) });
    let buf = frames(&[reply]);
    // The payload's exact bytes appear inside the frame, unchanged (a CBOR byte string).
    assert!(buf.windows(payload.as_bytes().len()).any(|w| w == payload.as_bytes()));
}

#[test]
fn an_oversized_length_is_refused_before_any_allocation() {
    let codec = FrameCodec::new(1024);
    let mut buf = BytesMut::new();
    buf.put_u32(u32::MAX); // a 4 GiB length prefix
    assert_eq!(
        codec.check(&buf),
        Err(WireError::FrameTooLarge { len: u32::MAX as u64, max: 1024 })
    );
    assert!(codec.decode(&mut buf).is_err());
    let mut zero = BytesMut::from(&[0u8, 0, 0, 0][..]);
    assert_eq!(codec.decode(&mut zero), Err(WireError::EmptyFrame));
}

#[test]
fn encoding_past_the_maximum_fails_and_leaves_the_buffer_alone() {
    let codec = FrameCodec::new(64);
    let mut buf = BytesMut::from(&b"xy"[..]);
    let big = Envelope::Membership(Bytes::from(vec![0u8; 100]));
    assert!(matches!(codec.encode(&big, &mut buf), Err(WireError::FrameTooLarge { .. })));
    assert_eq!(&buf[..], b"xy");
}

#[test]
fn trailing_bytes_and_garbage_bodies_are_errors() {
    let mut body = BytesMut::new();
    FrameCodec::default().encode(&samples()[0], &mut body).unwrap();
    let mut with_tail = body[LENGTH_PREFIX..].to_vec();
    with_tail.push(0);
    assert_eq!(decode_body(&with_tail), Err(WireError::TrailingBytes(1)));
    assert!(matches!(decode_body(b"\xff\xff"), Err(WireError::Malformed(_))));
    // A byte string claiming 2^63 bytes inside a tiny frame fails without allocating it.
    assert!(
        decode_body(&[
            0xa1, 0x6a, b'M', b'e', b'm', b'b', b'e', b'r', b's', b'h', b'i', b'p', 0x5b, 0x80, 0,
            0, 0, 0, 0, 0, 0
        ])
        .is_err()
    );
    // Deep nesting hits the decoder's recursion limit instead of the stack.
    assert!(decode_body(&[0x81; 100_000]).is_err());
}

#[test]
fn request_path_envelopes_decode_the_same_with_either_decoder() {
    for env in samples() {
        let mut frame = BytesMut::new();
        FrameCodec::default().encode(&env, &mut frame).unwrap();
        let body = &frame[LENGTH_PREFIX..];
        let by_ciborium: Envelope = ciborium::from_reader(body).unwrap();
        assert_eq!(by_ciborium, env);
        assert_eq!(decode_body(body).unwrap(), env);
        let fast = matches!(env, Envelope::Request(_) | Envelope::OneWay(_) | Envelope::Reply(_));
        assert_eq!(super::compact::on_request_path(body), fast, "{env:?}");
    }
}

#[test]
fn hostile_request_path_bodies_are_errors() {
    let request = samples().into_iter().find(|e| matches!(e, Envelope::Request(_))).unwrap();
    let mut frame = BytesMut::new();
    FrameCodec::default().encode(&request, &mut frame).unwrap();
    let mut with_tail = frame[LENGTH_PREFIX..].to_vec();
    with_tail.extend_from_slice(&[0, 0]);
    assert_eq!(decode_body(&with_tail), Err(WireError::TrailingBytes(2)));
    // The target travels as [endpoint, generation, seq] and is validated like a printed id.
    let bad_target = BTreeMap::from([(
        "Request",
        (
            1u64,
            ("bad\u{1}endpoint", 1u64, 2u64),
            "global",
            "ping",
            Bytes::new(),
            5u64,
            None::<String>,
            0u32,
        ),
    )]);
    let mut body = Vec::new();
    ciborium::into_writer(&bad_target, &mut body).unwrap();
    assert!(
        matches!(decode_body(&body), Err(WireError::Malformed(m)) if m.contains("control")),
        "{:?}",
        decode_body(&body)
    );
    for tag in ["Request", "OneWay", "Reply"] {
        let mut head = vec![0xa1, 0x60 + tag.len() as u8];
        head.extend_from_slice(tag.as_bytes());
        // Nesting where the schema wants a number fails at the first level.
        let mut deep = head.clone();
        deep.extend(std::iter::repeat_n(0x81, 100_000));
        assert!(matches!(decode_body(&deep), Err(WireError::Malformed(_))), "{tag}");
        // An array claiming 2^63 elements, then a string claiming 2^63 bytes.
        let mut huge = head.clone();
        huge.extend_from_slice(&[0x9b, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x18, 1, 0x7b, 0x80]);
        huge.extend_from_slice(&[0; 7]);
        assert!(decode_body(&huge).is_err(), "{tag}");
        // Cut anywhere: an error, never a panic.
        for cut in 0..with_tail.len() {
            let _ = decode_body(&with_tail[..cut]);
        }
    }
}

proptest! {
    #[test]
    fn random_bytes_are_errors_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let codec = FrameCodec::new(4096);
        let mut buf = BytesMut::from(&bytes[..]);
        // Decode until it needs more bytes or errors; each step consumes or stops.
        while let Ok(Some(_)) = codec.decode(&mut buf) {}
        let _ = decode_body(&bytes);
    }

    #[test]
    fn truncated_frames_ask_for_more(cut in 0usize..10_000) {
        let full = frames(&samples());
        let cut = cut % full.len();
        let codec = FrameCodec::default();
        let mut buf = BytesMut::from(&full[..cut]);
        let mut n = 0;
        while codec.decode(&mut buf).unwrap().is_some() {
            n += 1;
        }
        prop_assert!(n < samples().len());
        // Feeding the rest completes the stream.
        buf.extend_from_slice(&full[cut..]);
        while codec.decode(&mut buf).unwrap().is_some() {
            n += 1;
        }
        prop_assert_eq!(n, samples().len());
    }

    #[test]
    fn corrupted_frames_are_errors_never_panics(pos in any::<usize>(), byte: u8) {
        let mut full = frames(&samples()).to_vec();
        let pos = pos % full.len();
        full[pos] = byte;
        let codec = FrameCodec::default();
        let mut buf = BytesMut::from(&full[..]);
        while let Ok(Some(_)) = codec.decode(&mut buf) {}
    }
}

/// A request-path envelope from generated parts: a request or one-way message, or a reply.
#[allow(clippy::too_many_arguments)]
fn request_path_envelope(
    shape: u8,
    (id, generation, seq, timeout_ms, attempt): (u64, u64, u64, u64, u32),
    endpoint: &str,
    realm: &str,
    kind: String,
    ident: Option<String>,
    data: Vec<u8>,
) -> Envelope {
    let data = Payload::from_cbor(data);
    let to = NodeId::new(endpoint.parse().unwrap(), generation).actor_id(seq);
    let call = ActorCall {
        id,
        to,
        realm: realm.parse().unwrap(),
        kind,
        data: data.clone(),
        timeout_ms,
        ident,
        attempt,
    };
    match shape % 4 {
        0 => Envelope::Request(call),
        1 => Envelope::OneWay(call),
        2 => Envelope::Reply(Reply { id, attempt, result: Ok(data) }),
        _ => Envelope::Reply(Reply {
            id,
            attempt,
            result: Err(RemoteError { error: "queue full".into(), data: Some(data) }),
        }),
    }
}

fn numbers() -> impl proptest::strategy::Strategy<Value = (u64, u64, u64, u64, u32)> {
    // Every width of CBOR argument: small values and the edges of each width, and any.
    let edge = prop_oneof![
        Just(0u64),
        Just(23),
        Just(24),
        Just(255),
        Just(256),
        Just(65_535),
        Just(65_536),
        Just(u64::from(u32::MAX)),
        Just(u64::from(u32::MAX) + 1),
        Just(u64::MAX),
        any::<u64>(),
    ];
    (edge.clone(), edge.clone(), edge.clone(), edge, any::<u32>())
}

proptest! {
    /// The direct encoder writes exactly what serde with ciborium writes, and the direct
    /// decoder reads it back as the serde decoder does.
    #[test]
    fn request_path_envelopes_encode_directly_as_serde_does(
        shape: u8,
        numbers in numbers(),
        endpoint in "[a-z0-9.:-]{1,40}|\\[::1\\]:[0-9]{1,5}",
        realm in "[a-zA-Zé0-9._-]{1,30}",
        kind in "\\PC{0,30}",
        ident in proptest::option::of("\\PC{0,12}"),
        data in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let env = request_path_envelope(shape, numbers, &endpoint, &realm, kind, ident, data);
        let codec = FrameCodec::default();
        let (mut direct, mut by_serde) = (BytesMut::new(), BytesMut::new());
        codec.encode(&env, &mut direct).unwrap();
        codec.encode_value(&env, &mut by_serde).unwrap();
        prop_assert_eq!(&direct[..], &by_serde[..]);
        let body = &direct[LENGTH_PREFIX..];
        prop_assert_eq!(super::compact::decode(body).unwrap(), env.clone());
        let fast = super::compact::decode_fast(body);
        // Error replies are left to serde.
        prop_assert_eq!(fast.is_some(), shape % 4 != 3);
        prop_assert_eq!(decode_body(body).unwrap(), env);
    }

    /// What the direct decoder accepts, serde accepts as the same envelope: a corrupted or cut
    /// body never decodes to something else there.
    #[test]
    fn the_direct_decoder_accepts_nothing_serde_refuses(
        shape: u8,
        numbers in numbers(),
        pos in any::<usize>(),
        byte: u8,
        cut in any::<usize>(),
    ) {
        let env = request_path_envelope(
            shape, numbers, "127.0.0.1:4999", "global", "ping".into(), None, vec![0x43, 1, 2, 3],
        );
        let mut frame = BytesMut::new();
        FrameCodec::default().encode(&env, &mut frame).unwrap();
        let mut body = frame[LENGTH_PREFIX..].to_vec();
        let pos = pos % body.len();
        body[pos] = byte;
        body.truncate(body.len() - cut % 3);
        if let Some(fast) = super::compact::decode_fast(&body) {
            prop_assert_eq!(Ok(fast), super::compact::decode(&body));
        }
    }
}

#[test]
fn the_direct_decoder_reuses_recent_names_only_when_they_match() {
    let codec = FrameCodec::default();
    let body = |endpoint: &str, realm: &str| {
        let mut frame = BytesMut::new();
        let env = request_path_envelope(
            0,
            (1, 2, 3, 4, 0),
            endpoint,
            realm,
            "k".into(),
            None,
            vec![0xf6],
        );
        codec.encode(&env, &mut frame).unwrap();
        (frame[LENGTH_PREFIX..].to_vec(), env)
    };
    // Alternating names, each decoded as sent.
    for (endpoint, realm) in
        [("a:1", "r1"), ("b:2", "r1"), ("b:2", "r2"), ("a:1", "r2"), ("a:1", "r2")]
    {
        let (bytes, env) = body(endpoint, realm);
        assert_eq!(decode_body(&bytes).unwrap(), env);
    }
    // A name that differs from the recent one only by a control character is refused.
    let (mut bytes, _) = body("a:1", "r2");
    let at = bytes.windows(3).position(|w| w == b"a:1").unwrap();
    bytes[at + 1] = 0x01;
    assert!(super::compact::decode_fast(&bytes).is_none());
    assert!(matches!(decode_body(&bytes), Err(WireError::Malformed(m)) if m.contains("control")));
    // A reserved character in the realm, right after a good one was cached.
    let (mut bytes, _) = body("a:1", "r2");
    let at = bytes.windows(2).rposition(|w| w == b"r2").unwrap();
    bytes[at + 1] = b'/';
    assert!(decode_body(&bytes).is_err());
}

#[test]
fn large_payloads_encode_directly_as_serde_does() {
    for len in [23, 24, 255, 256, 65_535, 65_536, 1 << 20] {
        let env = request_path_envelope(
            len as u8 % 3,
            (1, 2, 3, 4, 5),
            "h:1",
            "g",
            "k".into(),
            Some("i".into()),
            vec![7; len],
        );
        let codec = FrameCodec::default();
        let (mut direct, mut by_serde) = (BytesMut::new(), BytesMut::new());
        codec.encode(&env, &mut direct).unwrap();
        codec.encode_value(&env, &mut by_serde).unwrap();
        assert_eq!(direct, by_serde, "{len}");
        assert_eq!(decode_body(&direct[LENGTH_PREFIX..]).unwrap(), env);
    }
    // Over the maximum: refused, and the buffer left as it was.
    let env =
        request_path_envelope(0, (1, 2, 3, 4, 5), "h:1", "g", "k".into(), None, vec![7; 5000]);
    let mut out = BytesMut::from(&b"xy"[..]);
    assert!(matches!(
        FrameCodec::new(4096).encode(&env, &mut out),
        Err(WireError::FrameTooLarge { .. })
    ));
    assert_eq!(&out[..], b"xy");
}
