//! JSON from the CLI (and later the HTTP gateway) into the dynamic `Value`, to CBOR and back:
//! never a panic, and whatever converts survives the round trip.
#![no_main]

use beach_core::value::{Payload, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let value = Value::from_json(&json);
    let Ok(payload) = Payload::from_value(&value) else { return };
    let back = payload.to_value().expect("an encoded value decodes");
    assert_eq!(back, value);
    let _ = back.to_json();
});
