//! The serde (ciborium) envelope decoder on its own, whatever the first bytes say: it must
//! refuse hostile nesting and bad input without a panic or a stack overflow.
#![no_main]

use beach_core::wire::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ciborium::from_reader::<Envelope, _>(data);
});
