//! The same seed gives the same run: the simulator's promise, checked on a scenario with
//! traffic and a crash.

mod common;

use std::time::{Duration, Instant};

use beach::placement::Strategy;
use beach_transport_mem::SimBuilder;
use common::{converge, registry};

/// Five nodes, ten counters, traffic, a crash and more traffic; returns the trace hash.
fn scenario(seed: u64) -> (u64, u64, usize) {
    let builder = SimBuilder::new(seed).registry(registry());
    let used = builder.seed();
    builder.run(|mut sim| async move {
        sim.add_nodes(5).await;
        converge(&sim, Duration::from_secs(10)).await;
        let client = sim.client().await;
        let spec = client.actor("Counter", ["c"]).strategy(Strategy::Random, None).count(10);
        client.add_actor(spec).await.unwrap();
        let h = client.handle("c").retries(2).timeout(Duration::from_secs(3));
        for i in 0..50 {
            let r = h.request("incr", &()).await.map(|p| p.decode::<u64>().unwrap());
            sim.note(format!("request {i}: {r:?}"));
        }
        sim.crash(3);
        for i in 50..100 {
            let r = h.request("incr", &()).await.map(|p| p.decode::<u64>().unwrap());
            sim.note(format!("request {i}: {r:?}"));
        }
        sim.sleep(Duration::from_secs(20)).await;
        (used, sim.trace_hash(), sim.trace().len())
    })
}

#[test]
fn the_same_seed_gives_the_same_trace_hash() {
    let (seed_a, a, lines) = scenario(42);
    let (_, b, _) = scenario(42);
    assert!(lines > 100, "the trace should record the run ({lines} lines)");
    assert_eq!(a, b, "BEACH_SIM_SEED={seed_a} gave two different runs");
    let (seed_c, c, _) = scenario(43);
    if seed_c != seed_a {
        assert_ne!(a, c, "seeds {seed_a} and {seed_c} gave the same run");
    }
}

#[test]
fn a_minute_on_ten_nodes_takes_a_moment() {
    let wall = Instant::now();
    SimBuilder::new(5).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(10).await;
        let client = sim.client().await;
        let spec = client.actor("Pong", ["pongers"]).count(10);
        client.add_actor(spec).await.unwrap();
        sim.sleep(Duration::from_secs(60)).await;
        assert!(sim.converged());
        assert!(sim.elapsed() >= Duration::from_secs(60));
    });
    // Measured, not asserted: tests check behaviour, benchmarks measure speed.
    eprintln!("60 virtual seconds on 10 nodes took {:?} of wall time", wall.elapsed());
}
