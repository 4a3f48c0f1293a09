//! A node at its descriptor limit: it backs off instead of spinning, logs a line a second at
//! most, and serves again once descriptors are free.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Scratch, eventually, free_ports};

/// CPU time (user + system) of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_descriptor_limit_the_node_backs_off_and_recovers() {
    let scratch = Scratch::new("descriptors");
    let port = free_ports(1)[0];
    let config = scratch.0.join("cluster.yaml");
    std::fs::write(&config, "cluster_name: fd\n").unwrap();
    let log = scratch.0.join("node.log");
    let mut node = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_beach-node"))
        .args(["--config", config.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = node.id();
    let addr = format!("127.0.0.1:{port}");
    assert!(
        eventually(Duration::from_secs(10), || async {
            std::net::TcpStream::connect(&addr).is_ok()
        })
        .await,
        "the node did not start"
    );
    // Far more connections than descriptors: the kernel queues them, accept fails.
    let flood: Vec<_> = (0..150).filter_map(|_| std::net::TcpStream::connect(&addr).ok()).collect();
    assert!(flood.len() > 64, "{} connections", flood.len());
    let before = cpu_ticks(pid);
    // A measurement window, not a wait for an event: how much CPU the node burns meanwhile.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(pid) - before;
    let ticks_per_second = 100; // USER_HZ on Linux
    assert!(used < ticks_per_second, "the node spun: {used} ticks of CPU in 2 s");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines = text.lines().filter(|l| l.contains("accept failed")).count();
    assert!(lines <= 6, "{lines} accept warnings in 2 s:\n{text}");
    // Descriptors free again: it serves.
    drop(flood);
    let cfg = beach_node::files::load_config(&config).unwrap();
    let seeds = vec![beach_core::model::Endpoint::new(format!("127.0.0.1:{port}")).unwrap()];
    let served = eventually(Duration::from_secs(15), || async {
        match common::try_connect(&cfg, seeds.clone()).await {
            Some(c) => c.node_count().await.is_ok(),
            None => false,
        }
    })
    .await;
    assert!(served, "the node did not recover:\n{}", std::fs::read_to_string(&log).unwrap());
    let _ = node.kill();
    let _ = node.wait();
}
