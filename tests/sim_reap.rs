//! Quiet connections between nodes (`link_idle`): closed by a handshake that loses nothing,
//! reopened when used, and without slowing failure detection; a small cluster keeps its
//! connections.

mod common;

use std::time::Duration;

use beach::config::ClusterConfig;
use beach::model::Realm;
use beach::placement::Strategy;
use beach_transport_mem::{LinkConfig, SimBuilder, SimCluster};
use common::{Incr, converge, registry};
use rand::RngExt;

/// Connections quiet for `idle` close; probes and anti-entropy every `period`.
fn config(idle: Duration, period: Duration) -> ClusterConfig {
    ClusterConfig {
        link_idle: idle,
        probe_interval: period,
        sync_interval: period,
        ..ClusterConfig::default()
    }
}

/// Connections open between nodes `a` and `b`.
fn between(sim: &SimCluster, a: usize, b: usize) -> usize {
    sim.network().connections(sim.endpoint(a).as_str(), sim.endpoint(b).as_str())
}

#[test]
fn a_quiet_connection_between_nodes_closes_and_reopens_when_used() {
    let idle = Duration::from_secs(2);
    SimBuilder::new(91).registry(registry()).config(config(idle, Duration::from_secs(60))).run(
        |mut sim| async move {
            sim.add_nodes(2).await;
            converge(&sim, Duration::from_secs(10)).await;
            let client = sim.client().await;
            let on_1 = sim.live(1).id().clone();
            client.add_actor(client.actor("Counter", ["c"]).on_node(on_1)).await.unwrap();
            converge(&sim, Duration::from_secs(10)).await;
            let from_0 = sim.live(0).handle(&Realm::global(), "c").retries(0);
            assert_eq!(from_0.ask(Incr).await.unwrap(), 1);
            assert_eq!(between(&sim, 0, 1), 1, "one connection between the two nodes");

            let closed = sim
                .run_until(idle * 4, |s| between(s, 0, 1) == 0)
                .await
                .expect("the quiet connection closes");
            assert!(closed >= idle, "not before it was quiet for {idle:?}: {closed:?}");
            for i in [0, 1] {
                assert_eq!(sim.live(i).counters().connections_reaped, 1, "node {i}");
            }

            // Used again: a new connection, and the node's directory and calls carry on.
            assert_eq!(from_0.ask(Incr).await.unwrap(), 2);
            assert_eq!(between(&sim, 0, 1), 1);
            sim.run_until(idle * 4, |s| between(s, 0, 1) == 0).await.expect("closes again");
        },
    );
}

/// Requests, one-way messages and directory changes keep flowing while connections close
/// under them: with `link_idle` shorter than the gaps between calls, most calls race a close
/// handshake, and none may fail (retries off) nor any one-way message go missing.
#[test]
fn nothing_is_lost_when_connections_close_under_traffic() {
    let seed = beach_transport_mem::seed_from_env(92);
    let idle = Duration::from_millis(300);
    SimBuilder::new(seed).registry(registry()).config(config(idle, Duration::from_secs(60))).run(
        |mut sim| async move {
            // A slow link: a `Bye` is on its way long enough for calls to cross it.
            sim.set_default_link(LinkConfig {
                latency: Duration::from_millis(20),
                ..LinkConfig::default()
            });
            sim.add_nodes(3).await;
            converge(&sim, Duration::from_secs(10)).await;
            let client = sim.client().await;
            for i in [1, 2] {
                let on = sim.live(i).id().clone();
                client.add_actor(client.actor("Counter", ["c"]).on_node(on.clone())).await.unwrap();
                // Answers a second later: a close must wait for the answers it owes.
                client.add_actor(client.actor("Worker", ["slow"]).on_node(on)).await.unwrap();
            }
            converge(&sim, Duration::from_secs(10)).await;
            let h = sim.live(0).handle(&Realm::global(), "c").retries(0);
            let slow = sim.live(0).handle(&Realm::global(), "slow").retries(0);
            let mut rng = beach::rng::seeded(seed);
            let (mut asked, mut shot) = (0u64, 0u64);
            for round in 0..300 {
                // Gaps around the idle time: a close starts, or is under way, or is done.
                let gap = Duration::from_millis(rng.random_range(0..=4 * idle.as_millis() as u64));
                sim.sleep(gap).await;
                let failed = |e: beach::actor::RequestError| -> ! {
                    panic!("request {round} failed: {e} (BEACH_SIM_SEED={seed})")
                };
                match rng.random_range(0..3) {
                    0 => {
                        h.ask(Incr).await.unwrap_or_else(|e| failed(e));
                        asked += 1;
                    }
                    1 => {
                        h.shoot("incr", &()).unwrap();
                        shot += 1;
                    }
                    _ => {
                        slow.request("work", &()).await.unwrap_or_else(|e| failed(e));
                    }
                }
                if round % 50 == 25 {
                    // A directory change from node 2 spreads over new connections too.
                    let on = sim.live(2).id().clone();
                    client.add_actor(client.actor("Whoami", ["w"]).on_node(on)).await.unwrap();
                }
            }
            sim.sleep(Duration::from_secs(1)).await;
            let counts = h.request_from_all("count", &()).unwrap().collect_all().await;
            let total: u64 = counts
                .iter()
                .map(|(_, r)| r.as_ref().expect("count").decode::<u64>().expect("a number"))
                .sum();
            assert_eq!(total, asked + shot, "every request and shoot counted once (seed {seed})");
            converge(&sim, Duration::from_secs(10)).await;
            let reaped: u64 = (0..3).map(|i| sim.live(i).counters().connections_reaped).sum();
            assert!(reaped >= 50, "the closes raced the calls: {reaped} (seed {seed})");
        },
    );
}

/// With the default `link_idle` and timings, the probes and sync exchanges of a cluster of
/// twenty reach every peer well within a minute: once settled, no connection closes and none
/// is opened again, so a small cluster pays no reconnects; and each pair of nodes shares one
/// connection (when both dial at once, the one the lower id dialled stays).
#[test]
fn a_small_cluster_keeps_its_connections() {
    SimBuilder::new(93).registry(registry()).codec(false).run(|mut sim| async move {
        sim.add_nodes(20).await;
        converge(&sim, Duration::from_secs(10)).await;
        let client = sim.client().await;
        let spec = client.actor("Whoami", ["w"]).strategy(Strategy::Roundrobin, None).count(40);
        client.add_actor(spec).await.unwrap();
        sim.sleep(Duration::from_secs(60)).await;
        let count = |s: &SimCluster| -> Vec<(u64, u64)> {
            let c = |i| s.live(i).counters();
            s.running()
                .iter()
                .map(|&i| (c(i).connections_opened, c(i).connections_reaped))
                .collect()
        };
        let settled = count(&sim);
        sim.sleep(Duration::from_secs(300)).await;
        assert_eq!(count(&sim), settled, "(opened, closed) per node over five quiet minutes");
        for a in 0..20 {
            for b in a + 1..20 {
                assert!(between(&sim, a, b) <= 1, "{a} and {b}: {}", between(&sim, a, b));
            }
        }
    });
}

/// Connections closing after every probe (idle shorter than the probe period, so each probe
/// reconnects) detect a crash as fast as connections kept open.
#[test]
fn failure_detection_does_not_wait_for_reaped_connections() {
    let detect = |idle: Duration| {
        SimBuilder::new(94)
            .registry(registry())
            .codec(false)
            .config(config(idle, Duration::from_secs(1)))
            .run(|mut sim| async move {
                sim.add_nodes(12).await;
                converge(&sim, Duration::from_secs(10)).await;
                sim.sleep(Duration::from_secs(20)).await;
                let victim = sim.live(5).id().clone();
                sim.crash(5);
                let took = sim
                    .run_until(Duration::from_secs(30), |s| {
                        s.running().iter().all(|&i| !s.live(i).members().contains(&victim))
                    })
                    .await
                    .expect("the crash is detected");
                let reaped: u64 =
                    sim.running().iter().map(|&i| sim.live(i).counters().connections_reaped).sum();
                (took, reaped)
            })
    };
    let (kept, few) = detect(Duration::from_secs(3600));
    let (reaping, reaped) = detect(Duration::from_millis(500));
    assert!(reaped > 10 * few.max(10), "connections closed between probes: {reaped} ({few})");
    assert!(
        reaping <= kept + Duration::from_secs(1),
        "detection with reaping {reaping:?}, without {kept:?}"
    );
    eprintln!("crash detected: {kept:?} with connections kept, {reaping:?} with {reaped} closed");
}
