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
