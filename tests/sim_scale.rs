//! Scale: many simulated nodes converge quickly. The 1000-node run and the timing survey are
//! `#[ignore]`d stress tests: `cargo test --release --test sim_scale -- --ignored --nocapture`.

mod common;

use std::time::Duration;

use beach::placement::Strategy;
use beach_transport_mem::SimBuilder;
use common::registry;

/// `n` nodes, 10 actors each; returns (virtual time to converge after the last join, virtual
/// time for a crash to leave every directory).
fn grow(n: usize, seed: u64, limit: Duration) -> (Duration, Duration) {
    SimBuilder::new(seed).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(n).await;
        let client = sim.client().await;
        let spec = client
            .actor("Whoami", ["w"])
            .unwrap()
            .strategy(Strategy::Roundrobin, None)
            .count(10 * n as u32);
        client.add_actor(spec).await.unwrap();
        let mut next_report = Duration::ZERO;
        let wall = std::time::Instant::now();
        let progress = move |s: &beach_transport_mem::SimCluster| {
            // Progress for the long runs: how many nodes know the whole cluster.
            if n >= 200 && s.elapsed() >= next_report {
                let full =
                    s.running().iter().filter(|&&i| s.live(i).member_count() == n - 1).count();
                eprintln!(
                    "  {n} nodes, virtual {:?}, wall {:?}: {full} know everyone",
                    s.elapsed(),
                    wall.elapsed()
                );
                next_report = s.elapsed() + Duration::from_secs(2);
            }
            s.converged()
        };
        let converged = sim.run_until(limit, progress).await.unwrap_or_else(|| {
            panic!("{n} nodes did not converge within {limit:?} (BEACH_SIM_SEED={seed})")
        });
        for i in [0, n / 2, n - 1] {
            let dir = sim.live(i).directory();
            assert_eq!(dir.len(), 10 * n, "node {i}");
            assert!(dir.partitions().all(|p| p.entries.len() == 10), "node {i}");
        }
        let victim = sim.live(n / 3).id().clone();
        sim.crash(n / 3);
        let detected = sim
            .run_until(Duration::from_secs(30), |s| {
                s.running()
                    .iter()
                    .all(|&i| s.live(i).with_directory(|d| d.partition(&victim).is_none()))
            })
            .await
            .unwrap_or_else(|| {
                panic!("the crash of {victim} was not detected within 30s (BEACH_SIM_SEED={seed})")
            });
        (converged, detected)
    })
}

#[test]
fn hundred_nodes_with_ten_actors_each_converge_within_10s() {
    let (converged, detected) = grow(100, 1, Duration::from_secs(10));
    eprintln!(
        "100 nodes: converged {converged:?} after the last join, crash detected in {detected:?}"
    );
}

#[test]
#[ignore = "stress: 1000 simulated nodes; run with --release --ignored"]
fn stress_thousand_nodes_converge() {
    let n = std::env::var("BEACH_SIM_NODES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let (converged, detected) = grow(n, 1, Duration::from_secs(60));
    eprintln!(
        "{n} nodes: converged {converged:?} after the last join, crash detected in {detected:?}"
    );
}

#[test]
#[ignore = "survey: convergence and failure detection over 20 seeds; run with --release --ignored --nocapture"]
fn stress_survey_convergence_and_detection() {
    for n in [10, 100] {
        let mut conv = Vec::new();
        let mut det = Vec::new();
        for seed in 0..20 {
            let (c, d) = grow(n, seed, Duration::from_secs(60));
            conv.push(c);
            det.push(d);
        }
        conv.sort();
        det.sort();
        eprintln!(
            "{n} nodes over 20 seeds: convergence median {:?} worst {:?}; detection median {:?} worst {:?}",
            conv[10], conv[19], det[10], det[19]
        );
    }
}
