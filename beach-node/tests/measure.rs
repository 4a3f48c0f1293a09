//! Measurements for the record (not assertions on speed): run with
//! `cargo test --release -p beach-node --test measure -- --ignored --nocapture`.

mod common;

use std::time::{Duration, Instant};

use beach_core::placement::Strategy;
use beach_node::actors::{Time, msg};
use common::{Cluster, NodeProc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run in release with --ignored --nocapture"]
async fn measure_failure_detection_and_ping_latency() {
    // Default timings: probe every 1s, suspect for 3s, sync every 1s.
    let mut cluster = Cluster::start_raw("measure", 3, "");
    cluster.wait_joined(Duration::from_secs(30)).await;
    let a = cluster.client_of(0).await;
    let b_host = cluster.nodes[1].endpoint().to_string();
    let spec = a.actor("Pong", ["pongers"]).strategy(Strategy::HostAffinity, Some(&b_host));
    a.add_actor(spec).await.unwrap();
    let h = a.handle("pongers").timeout(Duration::from_secs(5));
    for _ in 0..500 {
        let _: Time = h.ask(msg::Ping).await.unwrap();
    }
    let mut rtts = Vec::with_capacity(5000);
    for _ in 0..5000 {
        let t = Instant::now();
        let _: Time = h.ask(msg::Ping).await.unwrap();
        rtts.push(t.elapsed());
    }
    rtts.sort();
    eprintln!(
        "ping over loopback (client process -> node process, sequential, 5000): p50 {:?} p99 {:?} max {:?}",
        rtts[2500], rtts[4950], rtts[4999]
    );

    let mut took = Vec::new();
    for round in 0..5 {
        cluster.wait_joined(Duration::from_secs(30)).await;
        let spec = a
            .actor("Pong", ["victims"])
            .strategy(Strategy::HostAffinity, Some(cluster.nodes[2].endpoint().as_str()));
        let victims = a.add_actor(spec).await.unwrap();
        let killed = Instant::now();
        cluster.nodes[2].kill9();
        let gone = common::gone_from_directories(
            &cluster.config,
            &cluster.nodes[..2],
            &victims,
            Duration::from_secs(30),
        )
        .await;
        assert!(gone);
        took.push(killed.elapsed());
        eprintln!("round {round}: killed node left every directory after {:?}", killed.elapsed());
        let port = cluster.nodes[2].port;
        cluster.nodes[2] = NodeProc::start(
            &cluster.config_path,
            port,
            cluster.scratch.0.join(format!("r{round}.log")),
        );
    }
    took.sort();
    eprintln!("kill -9 to out of every directory: median {:?} worst {:?}", took[2], took[4]);
}
