//! Hostile or mistaken peers on a simulated cluster: what a node refuses, and that it keeps
//! serving everyone else.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use beach::config::ClusterConfig;
use beach::directory::{Entry, Partition};
use beach::model::Realm;
use beach::transport::Transport;
use beach::wire::{Envelope, Handshake, Peer};
use beach_node::actors::{Time, msg};
use beach_transport_mem::SimBuilder;
use common::{converge, registry};

const SETTLE: Duration = Duration::from_secs(10);

/// Asserts that the node closed `conn` within a second, after `what` was sent on it.
async fn assert_closed(conn: &mut beach::transport::Connection, what: &str) {
    let closed = tokio::time::timeout(Duration::from_secs(1), conn.stream.recv()).await;
    assert!(
        matches!(closed, Ok(Ok(None)) | Ok(Err(_))),
        "{what}: the connection stayed open: {closed:?}"
    );
}

#[test]
fn a_client_cannot_write_the_directory() {
    SimBuilder::new(40).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(2).await;
        converge(&sim, SETTLE).await;
        let victim = sim.live(1).id().clone();
        // A client connects properly, then sends a forged partition claiming node 1 hosts a
        // fake actor at a far newer version.
        let t = sim.network().transport("evil");
        let mut conn = t.connect(sim.endpoint(0)).await.unwrap();
        conn.sink
            .send(&[Envelope::Handshake(Handshake::hello(
                "beach",
                Peer::Client { name: "evil".into() },
            ))])
            .await
            .unwrap();
        assert!(matches!(
            conn.stream.recv().await,
            Ok(Some(Envelope::Handshake(Handshake::Welcome { .. })))
        ));
        let forged = Partition {
            owner: victim.clone(),
            version: 1_000_000,
            entries: BTreeMap::from([(
                victim.actor_id(666),
                Entry::new(Realm::global(), "Pong", ["pongers"]).unwrap(),
            )]),
        };
        conn.sink
            .send(&[Envelope::Partitions { partitions: vec![forged], digest: None }])
            .await
            .unwrap();
        // The node closes a connection that breaks the protocol.
        assert_closed(&mut conn, "a forged partition").await;
        sim.sleep(Duration::from_secs(1)).await;
        let held = sim.live(0).directory().partition(&victim).map(|p| p.version);
        assert_ne!(held, Some(1_000_000), "node 0 took a partition from a client");
        assert!(sim.live(0).directory().lookup(&Realm::global(), "pongers").is_empty());
    });
}

#[test]
fn a_wrong_cluster_name_or_a_missing_handshake_is_refused() {
    SimBuilder::new(41).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(1).await;
        let t = sim.network().transport("stranger");
        let mut conn = t.connect(sim.endpoint(0)).await.unwrap();
        conn.sink
            .send(&[Envelope::Handshake(Handshake::hello(
                "other",
                Peer::Client { name: "x".into() },
            ))])
            .await
            .unwrap();
        match conn.stream.recv().await {
            Ok(Some(Envelope::Handshake(Handshake::Refused { reason }))) => {
                assert!(
                    reason.contains("cluster name \"other\" is not this cluster's"),
                    "{reason}"
                );
                assert!(!reason.contains("\"beach\""), "the real name is not echoed: {reason}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let mut conn = t.connect(sim.endpoint(0)).await.unwrap();
        conn.sink.send(&[Envelope::Digest(Default::default())]).await.unwrap();
        match conn.stream.recv().await {
            Ok(Some(Envelope::Handshake(Handshake::Refused { reason }))) => {
                assert!(reason.contains("expected a handshake"), "{reason}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // The node keeps serving a normal client.
        let client = sim.client().await;
        client.add_actor(client.actor("Pong", ["p"])).await.unwrap();
        let _: Time = client.handle("p").ask(msg::Ping).await.unwrap();
    });
}

#[test]
fn an_absurd_spawn_count_is_refused_before_placement() {
    SimBuilder::new(42).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(1).await;
        let client = sim.client().await;
        let err = client.add_actor(client.actor("Pong", ["p"]).count(u32::MAX)).await.unwrap_err();
        assert!(err.to_string().contains("count must be from 1 to 100000"), "{err}");
        let err = client.add_actor(client.actor("Pong", ["p"]).count(0)).await.unwrap_err();
        assert!(err.to_string().contains("count must be from 1"), "{err}");
    });
}

#[test]
fn only_nodes_and_clients_that_prove_the_cluster_secret_get_in() {
    use beach::auth::Secret;
    use beach::client::ClientBuilder;
    let secret = Secret::new([42; 32]);
    SimBuilder::new(43).registry(registry()).secret(secret.clone()).run(|mut sim| async move {
        sim.add_nodes(2).await;
        converge(&sim, SETTLE).await;
        let wrong = sim.add_node_with_secret(Some(Secret::new([1; 32]))).await;
        let none = sim.add_node_with_secret(None).await;
        sim.sleep(Duration::from_secs(15)).await;
        for i in [0, 1] {
            assert_eq!(sim.live(i).members().len(), 1, "node {i} let an outsider in");
        }
        assert!(sim.live(wrong).members().is_empty() && sim.live(none).members().is_empty());

        // The right secret gets a client in; a wrong one or none is refused, saying why.
        let client = sim.client().await;
        client.add_actor(client.actor("Pong", ["p"])).await.unwrap();
        let _: Time = client.handle("p").ask(msg::Ping).await.unwrap();
        for (name, s) in [("w", Some(Secret::new([9; 32]))), ("n", None)] {
            let mut builder = ClientBuilder::new()
                .seed(sim.endpoint(0).to_string())
                .name(name)
                .rng_seed(1)
                .transport(sim.network().transport(name))
                .runtime(sim.runtime());
            if let Some(s) = &s {
                builder = builder.secret(s);
            }
            let err = builder.connect().await.unwrap_err().to_string();
            assert!(err.contains("cannot reach any seed"), "{err}");
            assert!(err.contains("secret"), "the error should say why: {err}");
        }
    });
}

/// Connects to node `i` of `sim` as `peer`, by hand, proving `key` (a client key's or a
/// secret's credentials) or nothing; returns the connection and the acceptor's answer.
async fn connect_as(
    sim: &beach_transport_mem::SimCluster,
    i: usize,
    hello: Handshake,
) -> (beach::transport::Connection, Option<Envelope>) {
    let t = sim.network().transport("intruder");
    let mut conn = t.connect(sim.endpoint(i)).await.unwrap();
    conn.sink.send(&[Envelope::Handshake(hello)]).await.unwrap();
    let answer = conn.stream.recv().await.ok().flatten();
    (conn, answer)
}

#[test]
fn a_client_key_can_never_claim_to_be_a_node() {
    use beach::auth::handshake::Connector;
    use beach::auth::{Credentials, Secret};
    let secret = Secret::new([42; 32]);
    SimBuilder::new(44).registry(registry()).secret(secret.clone()).run(|mut sim| async move {
        sim.add_nodes(2).await;
        converge(&sim, SETTLE).await;
        let creds = Credentials::Client(secret.client_key());
        // The honest connector refuses to make the claim at all.
        let me: beach::model::NodeId = "10.9.9.9:4999#1".parse().unwrap();
        assert!(
            Connector::new("n0", "beach", Peer::Node(me.clone()), Some(&creds), [1; 32]).is_err()
        );
        // A hand-made hello that claims the node role with the client key's id is refused.
        let mut honest =
            Connector::new("n0", "beach", Peer::Client { name: "c".into() }, Some(&creds), [1; 32])
                .unwrap();
        let Handshake::Hello { version, cluster, nonce, key_id, .. } = honest.hello() else {
            panic!()
        };
        let forged = Handshake::Hello { version, cluster, peer: Peer::Node(me), nonce, key_id };
        match connect_as(&sim, 0, forged).await.1 {
            Some(Envelope::Handshake(Handshake::Refused { reason })) => {
                assert!(reason.contains("a client key cannot make a node"), "{reason}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        sim.sleep(Duration::from_secs(5)).await;
        assert_eq!(sim.live(0).members().len(), 1, "nobody joined");
    });
}

#[test]
fn a_client_that_sends_membership_or_answers_loses_its_connection_and_changes_nothing() {
    SimBuilder::new(45).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(2).await;
        converge(&sim, SETTLE).await;
        let victim = sim.live(1).id().clone();
        let forged = [
            // A SWIM packet would list the victim down at an absurd generation; whatever it
            // holds, a client may not send one.
            Envelope::Membership(bytes::Bytes::from_static(&[0xff; 64])),
            Envelope::Reply(beach::wire::Reply {
                id: 1,
                attempt: 0,
                result: Ok(Default::default()),
            }),
            Envelope::AdminReply(beach::wire::AdminReply { id: 1, result: Err("x".into()) }),
            Envelope::View { alive: Vec::new(), partitions: Vec::new(), more: false },
        ];
        for envelope in forged {
            let hello = Handshake::hello("beach", Peer::Client { name: "evil".into() });
            let (mut conn, answer) = connect_as(&sim, 0, hello).await;
            assert!(matches!(answer, Some(Envelope::Handshake(Handshake::Welcome { .. }))));
            conn.sink.send(std::slice::from_ref(&envelope)).await.unwrap();
            assert_closed(&mut conn, &format!("{envelope:?}")).await;
        }
        sim.sleep(Duration::from_secs(5)).await;
        assert_eq!(sim.live(0).members(), vec![victim], "membership unchanged");
    });
}

#[test]
fn a_node_may_send_changes_to_its_own_partition_only() {
    use beach::directory::{Change, PartitionDelta};
    SimBuilder::new(46).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(2).await;
        converge(&sim, SETTLE).await;
        let victim = sim.live(1).id().clone();
        let me: beach::model::NodeId = "10.0.0.77:4999#1".parse().unwrap();
        let (mut conn, answer) =
            connect_as(&sim, 0, Handshake::hello("beach", Peer::Node(me))).await;
        assert!(matches!(answer, Some(Envelope::Handshake(Handshake::Welcome { .. }))));
        let forged = PartitionDelta {
            owner: victim.clone(),
            base: 0,
            version: 1 << 62,
            changes: vec![Change::Upsert {
                id: victim.actor_id(666),
                entry: Entry::new(Realm::global(), "Pong", ["pongers"]).unwrap(),
            }],
        };
        conn.sink.send(&[Envelope::Delta(forged)]).await.unwrap();
        assert_closed(&mut conn, "a forged partition or delta").await;
        assert!(sim.live(0).directory().lookup(&Realm::global(), "pongers").is_empty());
    });
}

#[test]
fn silent_connections_are_bounded_per_address_and_the_oldest_dropped() {
    SimBuilder::new(47).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(1).await;
        let t = sim.network().transport("flood");
        let mut silent = Vec::new();
        for _ in 0..70 {
            silent.push(t.connect(sim.endpoint(0)).await.unwrap());
        }
        // Well before the 3 s a handshake may take, the oldest six are gone.
        sim.sleep(Duration::from_millis(100)).await;
        let mut closed = 0;
        for conn in &mut silent {
            if let Ok(r) = tokio::time::timeout(Duration::from_millis(1), conn.stream.recv()).await
            {
                assert!(matches!(r, Ok(None) | Err(_)), "{r:?}");
                closed += 1;
            }
        }
        assert_eq!(closed, 6, "70 silent connections from one address, 64 may wait");
        // Others still get in.
        let client = sim.client().await;
        client.add_actor(client.actor("Pong", ["p"])).await.unwrap();
    });
}

#[test]
fn an_idle_client_connection_is_closed_and_a_dropped_client_lets_go() {
    SimBuilder::new(48).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(1).await;
        // A client that says hello and then nothing.
        let hello = Handshake::hello("beach", Peer::Client { name: "sleepy".into() });
        let (mut conn, answer) = connect_as(&sim, 0, hello).await;
        assert!(matches!(answer, Some(Envelope::Handshake(Handshake::Welcome { .. }))));
        sim.sleep(Duration::from_secs(200)).await;
        assert!(
            tokio::time::timeout(Duration::from_millis(1), conn.stream.recv()).await.is_err(),
            "closed too early"
        );
        let closed = tokio::time::timeout(Duration::from_secs(400), conn.stream.recv()).await;
        assert!(matches!(closed, Ok(Ok(None)) | Ok(Err(_))), "still open: {closed:?}");

        // A client dropped without close() releases its connections.
        let client = sim.client().await;
        client.add_actor(client.actor("Pong", ["p"])).await.unwrap();
        let _: Time = client.handle("p").ask(msg::Ping).await.unwrap();
        assert!(sim.network().open_pipes("client1") > 0);
        drop(client);
        sim.sleep(Duration::from_secs(1)).await;
        assert_eq!(sim.network().open_pipes("client1"), 0, "a dropped client kept its links");
    });
}

#[test]
fn a_node_may_send_only_its_own_partition_and_versions_cannot_hide_actors() {
    SimBuilder::new(49).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(2).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let host = sim.endpoint(1).as_str().split(':').next().unwrap().to_owned();
        let spec = client
            .actor("Pong", ["pongers"])
            .strategy(beach::placement::Strategy::HostAffinity, Some(&host));
        client.add_actor(spec).await.unwrap();
        converge(&sim, SETTLE).await;
        let victim = sim.live(1).id().clone();
        let me: beach::model::NodeId = "10.0.0.77:4999#1".parse().unwrap();
        // The victim's partition, emptied, at a version far ahead: it would hide its actors.
        let forged =
            Partition { owner: victim.clone(), version: 1 << 63, entries: BTreeMap::new() };
        let (mut conn, _) = connect_as(&sim, 0, Handshake::hello("beach", Peer::Node(me))).await;
        conn.sink
            .send(&[Envelope::Partitions { partitions: vec![forged], digest: None }])
            .await
            .unwrap();
        assert_closed(&mut conn, "a forged partition or delta").await;
        // Nor can a digest claiming that version: it only makes node 0 ask the owner, whose
        // real partition stays.
        let (mut conn, _) = connect_as(
            &sim,
            0,
            Handshake::hello("beach", Peer::Node("10.0.0.78:4999#1".parse().unwrap())),
        )
        .await;
        let mut digest = beach::directory::Digest::default();
        digest.versions.insert(victim.clone(), 1 << 63);
        conn.sink.send(&[Envelope::Digest(digest)]).await.unwrap();
        sim.sleep(Duration::from_secs(5)).await;
        assert_eq!(sim.live(0).directory().lookup(&Realm::global(), "pongers").len(), 1);
    });
}

#[test]
fn an_answer_from_another_connection_is_never_taken() {
    use beach::config::ClusterConfig;
    use beach::wire::{ActorRecord, AdminAnswer, AdminReply};
    let config = ClusterConfig {
        request_timeout_default: Duration::from_secs(2),
        ..ClusterConfig::default()
    };
    SimBuilder::new(50).registry(registry()).config(config).run(|mut sim| async move {
        sim.add_nodes(2).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let b = sim.live(1).id().clone();
        let host_b = sim.endpoint(1).as_str().split(':').next().unwrap().to_owned();
        // Node 0 will forward the spawn to node 1, and nothing between them arrives in time:
        // node 0's call waits.
        let slow = beach_transport_mem::LinkConfig {
            latency: Duration::from_secs(60),
            ..Default::default()
        };
        sim.set_link(0, 1, slow);
        let spawn = {
            let client = client.clone();
            tokio::spawn(async move {
                let spec = client
                    .actor("Pong", ["p"])
                    .strategy(beach::placement::Strategy::HostAffinity, Some(&host_b));
                client.add_actor(spec).await
            })
        };
        sim.sleep(Duration::from_millis(100)).await;
        // Meanwhile someone else, on a connection of its own, answers every likely call id.
        let me: beach::model::NodeId = "10.0.0.77:4999#1".parse().unwrap();
        let (mut conn, _) = connect_as(&sim, 0, Handshake::hello("beach", Peer::Node(me))).await;
        let fake = ActorRecord {
            id: b.actor_id(999),
            entry: Entry::new(Realm::global(), "Pong", ["p"]).unwrap(),
            version: 99,
        };
        let forged: Vec<Envelope> = (0..64)
            .map(|id| {
                let result = Ok(AdminAnswer::Spawned(vec![fake.clone()]));
                Envelope::AdminReply(AdminReply { id, result })
            })
            .collect();
        conn.sink.send(&forged).await.unwrap();
        let outcome = spawn.await.unwrap();
        assert!(outcome.is_err(), "a forged answer was taken: {outcome:?}");
    });
}

#[test]
fn frame_limits_hold_in_simulation_as_on_tcp() {
    let config = ClusterConfig { max_frame_size: 64 * 1024, ..ClusterConfig::default() };
    SimBuilder::new(44).registry(registry()).config(config).run(|mut sim| async move {
        sim.add_nodes(2).await;
        converge(&sim, Duration::from_secs(10)).await;
        let client = sim.client().await;
        client.add_actor(client.actor("Echo", ["e"]).count(2)).await.unwrap();
        let h = client.handle("e").timeout(Duration::from_secs(20));
        // Too large for a frame: refused by the codec, the caller told at once, nothing retried.
        let start = sim.elapsed();
        let big = beach::value::Value::Bytes(vec![1; 128 * 1024]);
        let err = h.request("echo", &big).await.unwrap_err().to_string();
        assert!(err.starts_with("request too large: frame of "), "{err}");
        assert!(sim.elapsed() - start < Duration::from_secs(1));
        // The connection it was refused on goes on carrying what fits.
        let small = beach::value::Value::Bytes(vec![2; 1024]);
        let back: beach::value::Value = h.request("echo", &small).await.unwrap().decode().unwrap();
        assert_eq!(back, small);
    });
}

#[test]
fn a_node_relays_only_for_the_children_it_adopted() {
    SimBuilder::new(45).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(2).await;
        converge(&sim, Duration::from_secs(10)).await;
        let client = sim.client().await;
        let on_1 = client.actor("Pong", ["p"]).on_node(sim.live(1).id().clone());
        client.add_actor(on_1).await.unwrap();
        // A client asking node 0 to carry its request to node 1's actor is refused: only an
        // isolated actor's process, on the socket its node made for it, is relayed.
        let sneaky = beach::client::ClientBuilder::new()
            .seed(sim.endpoint(0).to_string())
            .name("sneaky")
            .rng_seed(3)
            .through_entry()
            .transport(sim.network().transport("sneaky"))
            .runtime(sim.runtime())
            .connect()
            .await
            .unwrap();
        sneaky.refresh().await;
        let err = sneaky.handle("p").retries(0).ask(msg::Ping).await.unwrap_err();
        assert!(err.is(beach::ErrorCode::WrongDest), "{err:?}");
    });
}
