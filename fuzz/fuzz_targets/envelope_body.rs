//! A frame body through `decode_body`, which sends requests, one-way messages and replies to
//! the compact (minicbor) decoder and everything else to ciborium. Whatever decodes must
//! survive a round trip unchanged.
#![no_main]

use beach_core::wire::{FrameCodec, decode_body};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = decode_body(data) {
        let mut out = BytesMut::new();
        FrameCodec::default().encode(&envelope, &mut out).expect("a decoded envelope encodes");
        let again = decode_body(&out[4..]).expect("an encoded envelope decodes");
        assert_eq!(format!("{envelope:?}"), format!("{again:?}"));
    }
});
