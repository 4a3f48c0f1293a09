//! The frame decoder on any byte stream: frames are taken off the front until more bytes are
//! needed or an error ends the connection. Never a panic; never more than the limit
//! allocated for one frame.
#![no_main]

use beach_core::wire::FrameCodec;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let codec = FrameCodec::new(64 * 1024);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(envelope)) = codec.decode(&mut buf) {
        // What decodes re-encodes.
        let mut out = BytesMut::new();
        codec.encode(&envelope, &mut out).expect("a decoded envelope encodes");
    }
});
