//! Over TCP with a cluster secret (every frame in a Noise session): a quiet connection between
//! two nodes closes by the close handshake on both ends, and the next call opens a new one.

mod common;

use std::time::Duration;

use beach::auth::Secret;
use beach::config::ClusterConfig;
use beach::model::Realm;
use common::Incr;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_tcp_connection_between_nodes_closes_and_reopens_when_used() {
    // Probes and anti-entropy far apart: only the test's calls use the connection.
    let config = ClusterConfig {
        link_idle: Duration::from_secs(1),
        probe_interval: Duration::from_secs(60),
        sync_interval: Duration::from_secs(60),
        ..ClusterConfig::default()
    };
    let secret = Secret::new([9; 32]);
    let a = common::tcp_node(&config, &secret, None).await;
    let b = common::tcp_node(&config, &secret, Some(a.id().endpoint().to_string())).await;
    let joined = common::poll(Duration::from_secs(20), || a.member_count() == 1).await;
    assert!(joined, "the nodes did not join");
    let from_b = b.client().await.unwrap();
    from_b.add_actor(from_b.actor("Counter", ["c"]).on_node(a.id().clone())).await.unwrap();
    // Asked by node b itself: over b's connection to a.
    let h = b.handle(&Realm::global(), "c").retries(0);
    assert_eq!(h.ask(Incr).await.unwrap(), 1);

    let reaped = common::poll(Duration::from_secs(20), || {
        a.counters().connections_reaped >= 1 && b.counters().connections_reaped >= 1
    })
    .await;
    assert!(reaped, "a {:?}, b {:?}", a.counters(), b.counters());
    let broken = a.counters().connections_broken + b.counters().connections_broken;
    assert_eq!(broken, 0, "closed by the handshake, not broken");

    let opened = b.counters().connections_opened;
    assert_eq!(h.ask(Incr).await.unwrap(), 2, "a new connection carries the next call");
    assert!(b.counters().connections_opened > opened);
    from_b.close();
    b.shutdown().await;
    a.shutdown().await;
}
