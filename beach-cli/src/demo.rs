//! `beach demo`: a local cluster of real node processes, doing real work, then stopped cleanly.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use beach_core::client::{Beach, ClientOptions};
use beach_core::config::ClusterConfig;
use beach_core::model::{Endpoint, Realm};
use beach_core::placement::Strategy;
use beach_core::runtime::TokioRuntime;
use beach_node::actors::Time;
use beach_transport_tcp::TcpTransport;
use clap::Args;

/// Options of `beach demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// How many nodes to start.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub nodes: u16,
    /// How long to show traffic (e.g. `10s`, `1m`).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Keep the nodes' logs in this folder instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub logs: Option<PathBuf>,
}

/// One node process of the demo; killed if still running when dropped.
struct NodeProcess {
    child: Child,
    endpoint: Endpoint,
    log: PathBuf,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the demo; the exit code is 0 when every step worked and every node stopped cleanly.
pub fn run(args: DemoArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("beach demo: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(demo(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("beach demo: {e}");
            ExitCode::from(1)
        }
    }
}

async fn demo(args: DemoArgs) -> Result<(), String> {
    let temp = args.logs.is_none();
    let dir = args
        .logs
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("beach-demo-{}", std::process::id())));
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = run_cluster(&args, &dir).await;
    if temp && result.is_ok() {
        let _ = fs::remove_dir_all(&dir);
    } else {
        println!("node logs are in {}", dir.display());
    }
    result
}

async fn run_cluster(args: &DemoArgs, dir: &Path) -> Result<(), String> {
    let ports = free_ports(args.nodes as usize)?;
    let seeds: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    let config_path = dir.join("cluster.yaml");
    let yaml = format!(
        "# written by `beach demo`\ncluster_name: demo\nseed_nodes: [{}]\nprobe_interval: 500ms\nsuspect_timeout: 2s\nsync_interval: 500ms\n",
        seeds.join(", ")
    );
    fs::write(&config_path, yaml).map_err(|e| format!("{}: {e}", config_path.display()))?;
    let config = ClusterConfig::from_file(&config_path).map_err(|e| e.to_string())?;

    println!("starting {} nodes on 127.0.0.1 (config {})", args.nodes, config_path.display());
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let mut nodes = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let log = dir.join(format!("node{i}.log"));
        let file = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(&exe)
            .arg("node")
            .arg("--config")
            .arg(&config_path)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .map_err(|e| format!("cannot start node {i}: {e}"))?;
        let endpoint = Endpoint::new(format!("127.0.0.1:{port}")).map_err(|e| e.to_string())?;
        println!("  node {i}: pid {} at {endpoint}", child.id());
        nodes.push(NodeProcess { child, endpoint, log });
    }

    let client = connect(&config, &nodes).await?;
    let started = Instant::now();
    loop {
        let n = client.node_count().await.unwrap_or(0);
        if n == nodes.len() {
            println!("all {n} nodes know each other ({:.1}s)", started.elapsed().as_secs_f64());
            break;
        }
        if started.elapsed() > Duration::from_secs(20) {
            return Err(format!(
                "only {n} of {} nodes joined; see {}",
                nodes.len(),
                nodes[0].log.display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    println!("\ndeploying the py-beach seed:");
    let spawn = |spec| async { client.add_actor(spec).await.map_err(|e| e.to_string()) };
    let ping = spawn(
        client
            .actor("Ping", ["pingers"])
            .map_err(|e| e.to_string())?
            .strategy(Strategy::Resource, None),
    )
    .await?;
    println!("  Ping         in pingers  (strategy resource)               -> {}", ping[0]);
    let pong = client
        .actor("Pong", ["pongers"])
        .map_err(|e| e.to_string())?
        .strategy(Strategy::Affinity, Some("pingers"));
    let pong = spawn(pong).await?;
    println!("  Pong         in pongers  (strategy affinity toward pingers) -> {}", pong[0]);
    let iso =
        spawn(client.actor("Pong", ["pongers"]).map_err(|e| e.to_string())?.isolated(true)).await?;
    println!("  Pong         in pongers  (isolated, its own process)        -> {}", iso[0]);

    println!(
        "\n`ping` to each actor of category `pongers` in turn, for {}:",
        humantime::format_duration(args.duration)
    );
    let handle = client.handle("pongers").timeout(Duration::from_secs(5));
    let until = Instant::now() + args.duration;
    let mut failures = 0;
    let mut turn = 0;
    while Instant::now() < until {
        let members = handle.members();
        let Some(target) = members.get(turn % members.len().max(1)).cloned() else {
            return Err("category pongers is empty".to_owned());
        };
        turn += 1;
        let sent = Instant::now();
        match handle.to_actor(target.clone()).ask::<_, Time>("ping", &Time { time: 0.0 }).await {
            Ok(t) => println!(
                "  {target:<34} answered time {:.3} in {:>5.2} ms",
                t.time,
                sent.elapsed().as_secs_f64() * 1e3
            ),
            Err(e) => {
                failures += 1;
                println!("  {target}: {e}");
            }
        }
        tokio::select! {
            biased;
            _ = tokio::signal::ctrl_c() => { println!("interrupted"); break; }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }

    println!("\ndirectory of realm global:");
    for (category, actors) in client.directory("").await.map_err(|e| e.to_string())? {
        let list: Vec<String> = actors.iter().map(ToString::to_string).collect();
        println!("  {category:<8} {}", list.join("  "));
    }
    println!("\nactors (Ping asks every 5 seconds on its own):");
    for l in client.load_info().await.map_err(|e| e.to_string())? {
        println!("  {:<34} received {:>3}  p99 {:>6.2} ms", l.id.to_string(), l.received, l.p99_ms);
    }
    client.close();

    println!("\nstopping the nodes (SIGTERM: actors drain, peers are told)");
    let mut clean = true;
    for (i, mut node) in nodes.into_iter().enumerate() {
        let status = terminate(&mut node.child);
        let ok = status.as_ref().is_some_and(|s| s.success());
        clean &= ok;
        println!(
            "  node {i}: {}",
            if ok { "stopped cleanly".to_owned() } else { format!("exit {status:?}") }
        );
    }
    match (clean, failures) {
        (true, 0) => {
            println!("done");
            Ok(())
        }
        (true, n) => Err(format!("{n} requests failed")),
        (false, _) => Err("a node did not stop cleanly".to_owned()),
    }
}

fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let held = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot find free ports on 127.0.0.1: {e}"))?;
    Ok(held.iter().filter_map(|l| l.local_addr().ok()).map(|a| a.port()).collect())
}

async fn connect(config: &ClusterConfig, nodes: &[NodeProcess]) -> Result<Beach, String> {
    let seeds: Vec<Endpoint> = nodes.iter().map(|n| n.endpoint.clone()).collect();
    let start = Instant::now();
    loop {
        let mut options = ClientOptions::from_config(config, seeds.clone());
        options.name = "demo".to_owned();
        let attempt = Beach::connect(
            options,
            Realm::global(),
            Arc::new(TcpTransport::default()),
            Arc::new(TokioRuntime),
        )
        .await;
        match attempt {
            Ok(c) => return Ok(c),
            Err(e) if start.elapsed() > Duration::from_secs(15) => return Err(e.to_string()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Sends SIGTERM and waits for the exit status (SIGKILL after 20 seconds).
fn terminate(child: &mut Child) -> Option<std::process::ExitStatus> {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait().ok().filter(|_| false)
}
