use proptest::prelude::*;

use super::*;
use crate::auth::Secret;

fn node(i: u64) -> NodeId {
    format!("10.0.0.{i}:4999#{i:x}").parse().unwrap()
}

fn client() -> Peer {
    Peer::Client { name: "cli".into() }
}

/// Runs both machines against each other; the acceptor's outcome or the first error.
fn run(connector: &mut Connector, acceptor: &mut Acceptor) -> Result<(Peer, Role, NodeId), String> {
    let first = acceptor.on_message(connector.hello())?;
    match first {
        AcceptStep::Done { peer, role, send } => {
            let c = connector.on_message(send.expect("a welcome"))?;
            assert!(c.send.is_none());
            Ok((peer, role, c.node))
        }
        AcceptStep::Send(welcome) => {
            let c = connector.on_message(welcome)?;
            match acceptor.on_message(c.send.expect("a proof"))? {
                AcceptStep::Done { peer, role, send: None } => Ok((peer, role, c.node)),
                other => panic!("{other:?}"),
            }
        }
    }
}

fn secret(b: u8) -> Secret {
    Secret::new([b; 32])
}

fn node_creds(b: u8) -> Credentials {
    Credentials::node(vec![secret(b)]).unwrap()
}

#[test]
fn nodes_and_clients_prove_their_role_with_their_key() {
    let mut a = Acceptor::new(node(1), "c", Some(node_creds(7)), [1; 32]);
    let mut c =
        Connector::new("n1", "c", Peer::Node(node(2)), Some(&node_creds(7)), [2; 32]).unwrap();
    assert_eq!(run(&mut c, &mut a), Ok((Peer::Node(node(2)), Role::Node, node(1))));

    let client_creds = Credentials::Client(secret(7).client_key());
    let mut a = Acceptor::new(node(1), "c", Some(node_creds(7)), [1; 32]);
    let mut c = Connector::new("n1", "c", client(), Some(&client_creds), [2; 32]).unwrap();
    assert_eq!(run(&mut c, &mut a), Ok((client(), Role::Client, node(1))));
}

#[test]
fn a_client_key_can_never_claim_the_node_role() {
    let client_creds = Credentials::Client(secret(7).client_key());
    let err =
        Connector::new("n1", "c", Peer::Node(node(2)), Some(&client_creds), [2; 32]).unwrap_err();
    assert!(err.contains("a client key cannot connect as a node"), "{err}");
    // A hand-made hello claiming the node role with the client key's id is refused.
    let mut honest = Connector::new("n1", "c", client(), Some(&client_creds), [2; 32]).unwrap();
    let Handshake::Hello { version, cluster, nonce, key_id, .. } = honest.hello() else { panic!() };
    let forged = Handshake::Hello { version, cluster, peer: Peer::Node(node(2)), nonce, key_id };
    let mut a = Acceptor::new(node(1), "c", Some(node_creds(7)), [1; 32]);
    let err = a.on_message(forged).unwrap_err();
    assert!(err.contains("a client key cannot make a node"), "{err}");
}

#[test]
fn a_proof_for_one_claim_or_connection_proves_nothing_for_another() {
    // A relay forwards a client's hello but changes the claim: the acceptor's proof covers
    // the changed claim, and the client, checking its own, refuses it.
    let creds = Credentials::Client(secret(7).client_key());
    let mut c = Connector::new("n1", "c", client(), Some(&creds), [2; 32]).unwrap();
    let Handshake::Hello { version, cluster, nonce, key_id, .. } = c.hello() else { panic!() };
    let changed = Handshake::Hello {
        version,
        cluster,
        peer: Peer::Client { name: "someone else".into() },
        nonce,
        key_id,
    };
    let mut a = Acceptor::new(node(1), "c", Some(node_creds(7)), [1; 32]);
    let AcceptStep::Send(welcome) = a.on_message(changed).unwrap() else { panic!() };
    let err = c.on_message(welcome).unwrap_err();
    assert!(err.contains("failed to prove"), "{err}");
    // A proof made on one connection (nonce pair) fails on another.
    let mut c1 = Connector::new("n1", "c", client(), Some(&creds), [2; 32]).unwrap();
    let mut a1 = Acceptor::new(node(1), "c", Some(node_creds(7)), [1; 32]);
    let AcceptStep::Send(w1) = a1.on_message(c1.hello()).unwrap() else { panic!() };
    let proof = c1.on_message(w1).unwrap().send.unwrap();
    let mut c2 = Connector::new("n1", "c", client(), Some(&creds), [2; 32]).unwrap();
    let mut a2 = Acceptor::new(node(1), "c", Some(node_creds(7)), [3; 32]);
    a2.on_message(c2.hello()).unwrap();
    assert!(a2.on_message(proof).unwrap_err().contains("wrong proof"));
}

#[test]
fn mismatches_are_refused_with_a_reason_that_names_the_fix() {
    let cases: Vec<(Option<Credentials>, Option<Credentials>, &str, &str)> = vec![
        (Some(node_creds(1)), Some(node_creds(2)), "c", "cluster secret is not this node's"),
        (None, Some(node_creds(2)), "c", "requires its secret"),
        (Some(node_creds(1)), None, "c", "has no secret_file but the peer uses one"),
        (None, None, "other", "cluster name \"other\" is not this cluster's"),
    ];
    for (mine, theirs, cluster, want) in cases {
        let mut c =
            Connector::new("n1", cluster, Peer::Node(node(2)), mine.as_ref(), [2; 32]).unwrap();
        let mut a = Acceptor::new(node(1), "c", theirs, [1; 32]);
        let err = run(&mut c, &mut a).unwrap_err();
        assert!(err.contains(want), "{err} / {want}");
        assert!(!err.contains("\"c\""), "the real cluster name is never echoed: {err}");
    }
    let mut a = Acceptor::new(node(1), "c", None, [1; 32]);
    let err = a
        .on_message(Handshake::Hello {
            version: PROTOCOL_VERSION + 1,
            cluster: "c".into(),
            peer: client(),
            nonce: Bytes::from_static(&[0; 32]),
            key_id: None,
        })
        .unwrap_err();
    assert!(err.contains("upgrade every node of a cluster together"), "{err}");
    let mut a = Acceptor::new(node(1), "c", None, [1; 32]);
    let mut me = Connector::new("n1", "c", Peer::Node(node(1)), None, [2; 32]).unwrap();
    assert!(a.on_message(me.hello()).unwrap_err().contains("this node's own identity"));
}

#[test]
fn a_node_with_several_secrets_accepts_each_and_offers_the_first() {
    let rotating = Credentials::node(vec![secret(2), secret(1)]).unwrap();
    for peer_secret in [1, 2] {
        let mut a = Acceptor::new(node(1), "c", Some(rotating.clone()), [1; 32]);
        let creds = node_creds(peer_secret);
        let mut c = Connector::new("n1", "c", Peer::Node(node(2)), Some(&creds), [2; 32]).unwrap();
        assert!(run(&mut c, &mut a).is_ok());
    }
    // It connects with the first: a node that knows only the old one refuses it.
    let mut a = Acceptor::new(node(1), "c", Some(node_creds(1)), [1; 32]);
    let mut c = Connector::new("n1", "c", Peer::Node(node(2)), Some(&rotating), [2; 32]).unwrap();
    assert!(run(&mut c, &mut a).is_err());
}

fn any_step() -> impl Strategy<Value = Handshake> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from);
    prop_oneof![
        (
            any::<u16>(),
            "[a-c]{0,2}",
            any::<bool>(),
            bytes.clone(),
            proptest::option::of(bytes.clone())
        )
            .prop_map(|(version, cluster, is_node, nonce, key_id)| Handshake::Hello {
                version,
                cluster,
                peer: if is_node { Peer::Node(node(9)) } else { client() },
                nonce,
                key_id,
            }),
        (any::<u16>(), bytes.clone(), proptest::option::of(bytes.clone())).prop_map(
            |(version, nonce, proof)| Handshake::Welcome { version, node: node(1), nonce, proof }
        ),
        bytes.prop_map(|proof| Handshake::Proof { proof }),
        ".{0,8}".prop_map(|reason| Handshake::Refused { reason }),
    ]
}

proptest! {
    /// Any sequence of messages: never a panic, and never an established connection with a
    /// secret unless the key was proved (no forged message sequence gets through).
    #[test]
    fn arbitrary_steps_never_authenticate_without_the_key(steps in proptest::collection::vec(any_step(), 1..6)) {
        let mut a = Acceptor::new(node(1), "c", Some(node_creds(7)), [1; 32]);
        for s in steps.clone() {
            if let Ok(AcceptStep::Done { .. }) = a.on_message(s) {
                prop_assert!(false, "authenticated by {steps:?}");
            }
        }
        let mut c = Connector::new("n1", "c", client(), Some(&Credentials::Client(secret(7).client_key())), [2; 32]).unwrap();
        c.hello();
        for s in steps {
            prop_assert!(c.on_message(s).is_err());
        }
    }
}
