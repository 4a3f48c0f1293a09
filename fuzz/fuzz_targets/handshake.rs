//! The handshake state machines fed any sequence of steps (each a CBOR-encoded handshake
//! message, split on the length bytes the input gives): never a panic, and with a secret
//! never an established connection without a valid proof.
//!
//! The seed corpus holds a real handshake made with the same key but other nonces, so that
//! the fuzzer reaches the proof checks; its proofs must not verify here (a first version of
//! this target reused the seed's nonces, and the fuzzer duly replayed the valid proof).
#![no_main]

use beach_core::auth::handshake::{AcceptStep, Acceptor, Connector};
use beach_core::auth::{Credentials, Secret};
use beach_core::wire::{Handshake, Peer};
use libfuzzer_sys::fuzz_target;

fn steps(mut data: &[u8]) -> Vec<Handshake> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let len = usize::from(len).min(rest.len());
        if let Ok(h) = ciborium::from_reader::<Handshake, _>(&rest[..len]) {
            out.push(h);
        }
        data = &rest[len..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let me: beach_core::model::NodeId = "10.0.0.1:4999#1".parse().unwrap();
    let creds = Credentials::node(vec![Secret::new([7; 32])]);
    for creds in [creds, None] {
        let with_secret = creds.is_some();
        let mut a = Acceptor::new(me.clone(), "c", creds, [3; 32]);
        for s in steps(data) {
            if let Ok(AcceptStep::Done { .. }) = a.on_message(s)
                && with_secret
            {
                panic!("authenticated without the key");
            }
        }
    }
    let client = Credentials::Client(Secret::new([7; 32]).client_key());
    let mut c =
        Connector::new("n", "c", Peer::Client { name: "f".into() }, Some(&client), [4; 32]).unwrap();
    c.hello();
    for s in steps(data) {
        assert!(c.on_message(s).is_err(), "a forged welcome was taken");
    }
});
