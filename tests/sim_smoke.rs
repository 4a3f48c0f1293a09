//! Smoke test: a simulated cluster serves a request end to end.

use std::time::Duration;

use beach_node::actors::{Time, builtin_registry, msg};
use beach_transport_mem::SimBuilder;

#[test]
fn a_client_spawns_pong_and_pings_it() {
    SimBuilder::new(1).registry(builtin_registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        assert!(sim.run_until(Duration::from_secs(10), |s| s.converged()).await.is_some());
        let client = sim.client().await;
        let ids = client.add_actor(client.actor("Pong", ["pongers"])).await.unwrap();
        assert_eq!(ids.len(), 1);
        let t: Time = client.handle("pong").ask(msg::Ping).await.unwrap();
        assert!(t.time > 1.7e9, "{t:?}");
    });
}

#[tokio::test]
async fn a_simulation_runs_inside_an_async_test() {
    SimBuilder::new(2)
        .registry(builtin_registry())
        .run_async(|mut sim| async move {
            sim.add_nodes(2).await;
            assert!(sim.run_until(Duration::from_secs(10), |s| s.converged()).await.is_some());
            let client = sim.client().await;
            client.add_actor(client.actor("Pong", ["pongers"])).await.unwrap();
            let t: Time = client.handle("pongers").ask(msg::Ping).await.unwrap();
            assert!(t.time > 1.7e9);
            // A minute passes in no time: the clock is virtual.
            sim.sleep(Duration::from_secs(60)).await;
        })
        .await;
}

#[tokio::test]
#[should_panic(expected = "call `SimBuilder::run_async(..).await`")]
async fn the_blocking_run_inside_an_async_test_says_what_to_use() {
    SimBuilder::new(3).run(|_sim| async {});
}
