//! A real cluster of `beach-node` processes on loopback: joining, placement, cross-node
//! requests, crashes, restarts, secrets, tokens, signals and bad input.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use beach_core::model::NodeId;
use beach_core::placement::Strategy;
use beach_node::actors::{Time, msg};
use common::{Cluster, NodeProc, connect, eventually};

const JOIN: Duration = Duration::from_secs(20);

fn host_port(id: &NodeId) -> String {
    id.endpoint().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_join_place_and_serve_across_nodes() {
    let cluster = Cluster::start("three", 3, "");
    cluster.wait_joined(JOIN).await;
    let a = cluster.client_of(0).await;
    let nodes = a.nodes().await.unwrap();
    assert_eq!(nodes.len(), 3);
    let ids: Vec<NodeId> = nodes.iter().map(|n| n.id.clone()).collect();

    // host_affinity to node C, then a request from a client of node A reaches it.
    let c = cluster.nodes[2].endpoint().to_string();
    let spec = a.actor("Pong", ["pongers"]).strategy(Strategy::HostAffinity, Some(&c));
    let pong = a.add_actor(spec).await.unwrap().remove(0);
    assert_eq!(host_port(pong.node()), c);
    let t: Time = a.handle("pongers").ask(msg::Ping).await.unwrap();
    assert!(t.time > 1.7e9);

    // Each strategy lands where it should.
    let spec = a.actor("Echo", ["rep"]).strategy(Strategy::Repulsion, Some("rep")).count(6);
    let placed = a.add_actor(spec).await.unwrap();
    for id in &ids {
        assert_eq!(placed.iter().filter(|p| p.node() == id).count(), 2, "repulsion: 2 on {id}");
    }
    let spec = a.actor("Echo", ["rr"]).strategy(Strategy::Roundrobin, None).count(3);
    let rr = a.add_actor(spec).await.unwrap();
    assert_eq!(
        rr.iter().map(|r| r.node().clone()).collect::<std::collections::BTreeSet<_>>().len(),
        3
    );
    let spec = a.actor("Echo", ["aff"]).strategy(Strategy::Affinity, Some("pongers"));
    assert_eq!(host_port(a.add_actor(spec).await.unwrap()[0].node()), c);
    let spec = a.actor("Echo", ["res"]).strategy(Strategy::Resource, None);
    assert!(ids.contains(a.add_actor(spec).await.unwrap()[0].node()));
    let spec = a.actor("Echo", ["rnd"]).strategy(Strategy::Random, None).count(3);
    assert_eq!(a.add_actor(spec).await.unwrap().len(), 3);

    // Broadcast reaches actors on every node: counters answer through request_from_all.
    let spec = a.actor("MultiPing", ["multi"]).strategy(Strategy::Roundrobin, None).count(3);
    a.add_actor(spec).await.unwrap();
    assert_eq!(a.handle("multi").broadcast("ping", &()).unwrap(), 3);
    let replies = a.handle("multi").request_from_all("oob", &()).unwrap().collect_all().await;
    assert_eq!(replies.len(), 3);
    assert!(replies.iter().all(|(_, r)| r.is_ok()));

    // Another client, of another node, sees the same directory once it converged.
    let b = cluster.client_of(1).await;
    let converged = eventually(Duration::from_secs(10), || async {
        b.directory("").await.map(|d| d.values().map(Vec::len).sum::<usize>()).unwrap_or(0) == 18
    })
    .await;
    assert!(converged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_leaves_every_directory_and_rejoins_as_a_new_generation() {
    let mut cluster = Cluster::start("kill", 3, "");
    cluster.wait_joined(JOIN).await;
    let a = cluster.client_of(0).await;
    let spec = a.actor("Pong", ["pongers"]).strategy(Strategy::Roundrobin, None).count(6);
    let actors = a.add_actor(spec).await.unwrap();
    let victim_endpoint = cluster.nodes[2].endpoint().to_string();
    let old: Vec<_> =
        actors.iter().filter(|id| host_port(id.node()) == victim_endpoint).cloned().collect();
    assert_eq!(old.len(), 2);

    let killed = Instant::now();
    cluster.nodes[2].kill9();
    let gone = common::gone_from_directories(
        &cluster.config,
        &cluster.nodes[..2],
        &old,
        Duration::from_secs(10),
    )
    .await;
    assert!(gone, "the killed node's actors are still listed after 10s");
    eprintln!("killed node left every directory after {:?}", killed.elapsed());
    // The survivors say what membership went through, at info.
    let said = eventually(Duration::from_secs(5), || async {
        cluster.nodes[..2].iter().any(|n| {
            let log = n.log_text();
            log.contains("member suspect") && log.contains("member down")
        })
    })
    .await;
    assert!(
        said,
        "no survivor logged the suspicion and the death:\n{}",
        cluster.nodes[0].log_text()
    );
    // Routing avoids it.
    for _ in 0..20 {
        let _: Time = a.handle("pongers").ask(msg::Ping).await.unwrap();
    }

    // Start it again: a new generation, and none of its old actors come back.
    let restarted = NodeProc::start(
        &cluster.config_path,
        cluster.nodes[2].port,
        cluster.scratch.0.join("node2b.log"),
    );
    cluster.nodes[2] = restarted;
    cluster.wait_joined(JOIN).await;
    let nodes = a.nodes().await.unwrap();
    let back = nodes.iter().find(|n| host_port(&n.id) == victim_endpoint).expect("rejoined");
    assert_ne!(back.id.generation(), old[0].node().generation());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let dir = a.directory("").await.unwrap();
    assert!(dir.values().flatten().all(|id| !old.contains(id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_never_joins_and_wrong_token_is_unprivileged() {
    let scratch = common::Scratch::new("secret");
    let good = scratch.0.join("good.key");
    let bad = scratch.0.join("bad.key");
    std::fs::write(&good, [1u8; 32]).unwrap();
    std::fs::write(&bad, [2u8; 32]).unwrap();
    let extra = format!("secret_file: {}\nadmin_token: letmein\n", good.display());
    let cluster = Cluster::start("secret-ok", 2, &extra);
    cluster.wait_joined(JOIN).await;

    // A third node with the wrong secret, seeded with the two good nodes.
    let seeds: Vec<String> =
        cluster.nodes.iter().map(|n| format!("\"127.0.0.1:{}\"", n.port)).collect();
    let bad_config = scratch.0.join("bad.yaml");
    std::fs::write(
        &bad_config,
        format!(
            "cluster_name: test\nseed_nodes: [{}]\nsecret_file: {}\n",
            seeds.join(", "),
            bad.display()
        ),
    )
    .unwrap();
    let port = common::free_ports(1)[0];
    let outsider = NodeProc::start(&bad_config, port, scratch.0.join("outsider.log"));
    let said_why = eventually(Duration::from_secs(10), || async {
        outsider.log_text().contains("another secret_file")
    })
    .await;
    assert!(said_why, "the outsider's log does not say why:\n{}", outsider.log_text());
    let a = cluster.client_of(0).await;
    assert_eq!(a.node_count().await.unwrap(), 2, "the outsider joined");
    let refused = |t: String| t.contains("cluster secret is not this node's");
    assert!(
        refused(cluster.nodes[0].log_text()) || refused(cluster.nodes[1].log_text()),
        "the good nodes do not say why"
    );

    // Admin calls with a wrong token are unprivileged; reads are not.
    let mut wrong = cluster.config.clone();
    wrong.admin_token = Some("guess".to_owned());
    let w = connect(&wrong, vec![cluster.nodes[0].endpoint()]).await;
    let err = w.add_actor(w.actor("Pong", ["p"])).await.unwrap_err();
    assert_eq!(err.to_string(), "unprivileged");
    assert_eq!(w.node_count().await.unwrap(), 2);
    a.add_actor(a.actor("Pong", ["p"])).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_zero() {
    let mut cluster = Cluster::start("term", 2, "");
    cluster.wait_joined(JOIN).await;
    let a = cluster.client_of(0).await;
    let host = cluster.nodes[1].endpoint().to_string();
    a.add_actor(a.actor("Pong", ["p"]).strategy(Strategy::HostAffinity, Some(&host)))
        .await
        .unwrap();
    let status = cluster.nodes[1].terminate();
    assert!(status.success(), "exit status {status:?}; log:\n{}", cluster.nodes[1].log_text());
    assert!(cluster.nodes[1].log_text().contains("stopped"));
    // The other node learns at once (a goodbye, not a suspicion timeout).
    let left =
        eventually(Duration::from_secs(3), || async { a.node_count().await.unwrap_or(0) == 1 })
            .await;
    assert!(left);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_a_4gib_length_prefix_are_refused_and_the_node_keeps_serving() {
    let cluster = Cluster::start("garbage", 1, "");
    cluster.wait_joined(JOIN).await;
    let addr = format!("127.0.0.1:{}", cluster.nodes[0].port);
    for bytes in
        [b"GET / HTTP/1.1\r\n\r\n".to_vec(), vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3], vec![0; 64]]
    {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(&bytes).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        // The node closes the connection: reading reaches the end (or a reset).
        let _ = std::io::Read::read_to_end(&mut s, &mut Vec::new());
    }
    let a = cluster.client_of(0).await;
    a.add_actor(a.actor("Pong", ["p"])).await.unwrap();
    let _: Time = a.handle("p").ask(msg::Ping).await.unwrap();
    let log = cluster.nodes[0].log_text();
    assert!(log.contains("refused a connection"), "{log}");
}

#[test]
fn a_missing_or_bad_config_is_one_line_and_exit_code_2() {
    let scratch = common::Scratch::new("badconfig");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_beach-node"))
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run(&["--config", "/nonexistent/cluster.yaml"]);
    assert_eq!(code, Some(2));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/cluster.yaml") && err.contains("cannot read"), "{err}");
    let bad = scratch.0.join("bad.yaml");
    std::fs::write(&bad, "sync_intervall: 1s\n").unwrap();
    let (code, err) = run(&["--config", bad.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("sync_intervall"), "{err}");
    let short = scratch.0.join("short.yaml");
    std::fs::write(scratch.0.join("short.key"), [0u8; 5]).unwrap();
    std::fs::write(&short, "secret_file: short.key\n").unwrap();
    let (code, err) = run(&["--config", short.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("secret_file") && err.contains("exactly 32 bytes"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_sets_the_runtime_workers_and_refuses_zero_and_bad_log_levels() {
    let scratch = common::Scratch::new("threads");
    let config = scratch.0.join("cluster.yaml");
    std::fs::write(&config, "cluster_name: test\n").unwrap();
    let port = common::free_ports(1)[0];
    let node = |threads: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_beach-node"))
            .args(["--config", config.to_str().unwrap(), "--threads", threads])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let out = node("0").wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_beach-node"))
        .args(["--config", config.to_str().unwrap(), "--log-level", "[bad"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a bad log level is a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("log level \"[bad\""));

    // Four workers, more than this machine's cores: the setting, not a default, made them.
    let three = node("4");
    let cfg = beach_node::files::load_config(&config).unwrap();
    let at = beach_core::model::Endpoint::new(format!("127.0.0.1:{port}")).unwrap();
    let client = common::connect(&cfg, vec![at]).await;
    client.add_actor(client.actor("Pong", ["p"])).await.unwrap();
    let _: Time = client.handle("p").ask(msg::Ping).await.unwrap();
    client.close();
    std::process::Command::new("kill").arg(three.id().to_string()).status().unwrap();
    let log = String::from_utf8_lossy(&three.wait_with_output().unwrap().stderr).into_owned();
    let started = log.lines().find(|l| l.contains("runtime started")).unwrap_or_default();
    assert!(started.contains("workers=4"), "{log}");
}
