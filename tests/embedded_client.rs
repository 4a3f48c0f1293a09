//! `Node::client`: a program that embeds a node calls actors (its own node's in process,
//! others' over the cluster's transport) and runs admin calls, with and without a secret.

mod common;

use std::time::Duration;

use beach::auth::Secret;
use beach::config::ClusterConfig;
use beach::placement::Strategy;
use beach_node::actors::{Time, msg};
use beach_transport_mem::SimBuilder;

#[test]
fn an_embedded_node_calls_its_own_and_other_nodes_actors_in_a_simulation() {
    let secret = Secret::new([5; 32]);
    SimBuilder::new(61).registry(common::registry()).secret(secret).run(|mut sim| async move {
        sim.add_nodes(3).await;
        sim.run_until(Duration::from_secs(10), |s| s.converged()).await.expect("converged");
        let client = sim.live(0).client().await.expect("the in-process client connects");
        let spec = client.actor("Pong", ["p"]).strategy(Strategy::Roundrobin, None).count(3);
        let ids = client.add_actor(spec).await.expect("admin calls work in process");
        assert_eq!(ids.len(), 3);
        for id in ids {
            let t: Time = client.handle("p").to_actor(id.clone()).ask(msg::Ping).await.unwrap();
            assert!(t.time > 1.7e9, "{id}");
        }
        assert_eq!(client.node_count().await.unwrap(), 3);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_tcp_node_with_a_secret_reaches_its_peers_as_a_client() {
    let secret = Secret::new([6; 32]);
    let config = ClusterConfig::default();
    let a = common::tcp_node(&config, &secret, None).await;
    let b = common::tcp_node(&config, &secret, Some(a.id().endpoint().to_string())).await;
    let joined = common::poll(Duration::from_secs(20), || a.member_count() == 1).await;
    assert!(joined, "the nodes did not join");
    let from_b = b.client().await.unwrap();
    let on_a = from_b.actor("Pong", ["p"]).on_node(a.id().clone());
    from_b.add_actor(on_a).await.unwrap();
    let t: Time = from_b.handle("p").ask(msg::Ping).await.unwrap();
    assert!(t.time > 1.7e9);
    from_b.close();
    b.shutdown().await;
    a.shutdown().await;
}
