//! The same small cluster scenario on the smol runtime adapter, in real time on the in-memory
//! network: three nodes join, a client spawns `Pong` and pings it, a node crashes and the
//! others drop its actors.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use beach::client::ClientBuilder;
use beach::config::ClusterConfig;
use beach::model::Endpoint;
use beach::node::NodeBuilder;
use beach::placement::Strategy;
use beach::runtime::{Runtime, SmolRuntime};
use beach_node::actors::{Time, msg};
use beach_transport_mem::MemNetwork;

/// Polls `done` every 10ms until it holds or `limit` passes.
async fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        smol::Timer::after(Duration::from_millis(10)).await;
    }
    done()
}

#[test]
fn a_small_cluster_runs_on_smol() {
    smol::block_on(async {
        let rt: Arc<dyn Runtime> = Arc::new(SmolRuntime);
        let net = MemNetwork::new(rt.clone(), 3);
        let config = ClusterConfig {
            probe_interval: Duration::from_millis(100),
            suspect_timeout: Duration::from_millis(300),
            sync_interval: Duration::from_millis(100),
            ..ClusterConfig::default()
        };
        let endpoints: Vec<Endpoint> =
            (1..=3).map(|i| Endpoint::new(format!("10.1.0.{i}:4999")).unwrap()).collect();
        let mut nodes = Vec::new();
        for (i, ep) in endpoints.iter().enumerate() {
            let node = NodeBuilder::new()
                .config(&config)
                .listen(ep.to_string())
                .seeds(endpoints.iter().map(ToString::to_string))
                .rng_seed(i as u64)
                .generation(1)
                .registry(common::registry())
                .transport(net.transport(ep.as_str()))
                .runtime(rt.clone())
                .start()
                .await
                .unwrap();
            nodes.push(node);
        }
        assert!(
            eventually(Duration::from_secs(10), || nodes.iter().all(|n| n.members().len() == 2))
                .await
        );

        let client = ClientBuilder::new()
            .config(&config)
            .seeds(endpoints.iter().map(ToString::to_string))
            .name("smol-client")
            .transport(net.transport("smol-client"))
            .runtime(rt.clone())
            .connect()
            .await
            .unwrap();
        let spec = client.actor("Pong", ["pongers"]).strategy(Strategy::Roundrobin, None).count(3);
        client.add_actor(spec).await.unwrap();
        let pong: Time = client.handle("pongers").ask(msg::Ping).await.unwrap();
        assert!(pong.time > 1.7e9);

        let victim = nodes[2].id().clone();
        nodes[2].kill();
        net.crash(endpoints[2].as_str());
        let dropped = eventually(Duration::from_secs(10), || {
            nodes[..2].iter().all(|n| n.directory().partition(&victim).is_none())
        })
        .await;
        assert!(dropped, "the crashed node's actors are still listed");
        for _ in 0..10 {
            let _: Time = client.handle("pongers").retries(1).ask(msg::Ping).await.unwrap();
        }
        client.close();
        for n in &nodes[..2] {
            n.shutdown().await;
        }
    });
}
