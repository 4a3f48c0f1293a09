//! Isolated actors in their own processes, on a real node.

mod common;

use std::time::Duration;

use beach_node::actors::{Time, msg};
use common::{Cluster, eventually};

/// The pids of the isolated actor processes a node's log reports, in order.
fn child_pids(log: &str) -> Vec<u32> {
    log.lines()
        .filter(|l| l.contains("isolated actor started"))
        .filter_map(|l| {
            l.split("pid=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .trim_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    // `kill -0` checks that the process exists (a zombie would still count, but the node reaps).
    std::process::Command::new("kill")
        .arg("-0")
        .arg(pid.to_string())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_actor_runs_dies_alone_and_never_outlives_its_node() {
    let mut cluster = Cluster::start("isolated", 1, "");
    cluster.wait_joined(Duration::from_secs(20)).await;
    let a = cluster.client_of(0).await;
    a.add_actor(a.actor("Pong", ["safe"])).await.unwrap();
    let isolated = a.add_actor(a.actor("Pong", ["iso"]).isolated(true)).await.unwrap().remove(0);
    let t: Time = a.handle("iso").ask(msg::Ping).await.unwrap();
    assert!(t.time > 1.7e9);
    let meta = a.node_metadata().await.unwrap();
    assert!(meta[0].actors.iter().any(|m| m.id == isolated && m.isolated));
    let pids = child_pids(&cluster.nodes[0].log_text());
    assert_eq!(pids.len(), 1, "{}", cluster.nodes[0].log_text());
    assert!(alive(pids[0]));

    // kill -9 the actor's process: it leaves the directory; the node and its other actors go on.
    std::process::Command::new("kill").arg("-9").arg(pids[0].to_string()).status().unwrap();
    let gone = eventually(Duration::from_secs(5), || async {
        a.directory("iso").await.map(|d| d.is_empty()).unwrap_or(false)
    })
    .await;
    assert!(gone, "the dead isolated actor is still listed");
    let _: Time = a.handle("safe").ask(msg::Ping).await.unwrap();

    // Stopping an isolated actor stops its process.
    let second = a.add_actor(a.actor("Pong", ["iso2"]).isolated(true)).await.unwrap();
    let pid = *child_pids(&cluster.nodes[0].log_text()).last().unwrap();
    assert!(alive(pid));
    a.stop_actors(&second, &[]).await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async { !alive(pid) }).await,
        "the stopped actor's process lives on"
    );
    // It finished by itself (its deinit ran), not killed.
    let log = cluster.nodes[0].log_text();
    assert!(
        log.contains("isolated actor process finished") && log.contains("code=Some(0)"),
        "{log}"
    );
    // Its socket lived in a private folder: no folder of actor sockets is open to others.
    #[cfg(unix)]
    for entry in std::fs::read_dir(std::env::temp_dir()).unwrap().flatten() {
        use std::os::unix::fs::PermissionsExt;
        if entry.file_name().to_string_lossy().starts_with("beach-actors-") {
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{:?}", entry.path());
        }
    }

    // And the node's SIGTERM leaves no child behind.
    a.add_actor(a.actor("Pong", ["iso3"]).isolated(true)).await.unwrap();
    let pid = *child_pids(&cluster.nodes[0].log_text()).last().unwrap();
    let status = cluster.nodes[0].terminate();
    assert!(status.success());
    assert!(
        eventually(Duration::from_secs(5), || async { !alive(pid) }).await,
        "a child outlived its node"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_init_failure_is_the_spawn_error() {
    let cluster = Cluster::start("isolated-fail", 1, "");
    cluster.wait_joined(Duration::from_secs(20)).await;
    let a = cluster.client_of(0).await;
    let err = a.add_actor(a.actor("Nope", ["x"]).isolated(true)).await.unwrap_err();
    assert!(err.to_string().contains("unknown actor type"), "{err}");
}

/// An isolated `Ping` on node 0 asks `pongers`, hosted on node 1, in a cluster with a secret:
/// the child holds no key, so its calls can only go through its node, which relays them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_actor_reaches_other_nodes_through_its_own_holding_no_key() {
    let scratch = common::Scratch::new("isolated-relay-key");
    let key = scratch.0.join("secret.key");
    std::fs::write(&key, [9u8; 32]).unwrap();
    let extra = format!("secret_file: {}\nadmin_token: t\n", key.display());
    let cluster = Cluster::start("isolated-relay", 2, &extra);
    cluster.wait_joined(Duration::from_secs(20)).await;
    let a = cluster.client_of(0).await;
    let nodes = a.nodes().await.unwrap();
    let on = |i: usize| {
        let port = cluster.nodes[i].port;
        nodes
            .iter()
            .find(|n| n.id.endpoint().as_str().ends_with(&format!(":{port}")))
            .unwrap()
            .id
            .clone()
    };
    let pong = a.add_actor(a.actor("Pong", ["pongers"]).on_node(on(1))).await.unwrap().remove(0);
    a.add_actor(a.actor("Ping", ["pingers"]).on_node(on(0)).isolated(true)).await.unwrap();
    // Ping asks `pongers` at once, then every 5 seconds: the first ask reaches node 1.
    let relayed = eventually(Duration::from_secs(15), || async {
        let load = a.load_info().await.unwrap_or_default();
        load.iter().any(|l| l.id == pong && l.received > 0 && l.replied > 0)
    })
    .await;
    assert!(
        relayed,
        "Pong never heard from the isolated Ping; log:\n{}",
        cluster.nodes[0].log_text()
    );
    // The child logs to its node's log, as the node does: Ping's line for each round trip.
    let logged = eventually(Duration::from_secs(10), || async {
        cluster.nodes[0].log_text().lines().any(|l| l.contains("pong") && l.contains("rtt_ms"))
    })
    .await;
    assert!(logged, "no log line from the isolated actor:\n{}", cluster.nodes[0].log_text());
    a.close();
}
