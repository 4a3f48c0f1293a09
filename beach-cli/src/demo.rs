//! `beach demo`: a local cluster of real node processes, doing real work, then stopped cleanly.

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use beach_core::placement::Strategy;
use beach_node::actors::msg;

use crate::args::DemoArgs;
use crate::local_cluster::{connect, python_available, start_nodes_with, terminate};

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

/// py-beach's README Pong, unchanged: what the demo puts in its code directory.
const PY_PONG: &str = "from beach.actor import Actor\nimport time\n\n\nclass PyPong(Actor):\n\n    def init(self, parameters):\n        print(\"Called init of actor.\")\n        self.handle('ping', self.ponger)\n\n    def ponger(self, msg):\n        print(\"Received ping: %s\" % str(msg))\n        return {'time': time.time()}\n";

async fn run_cluster(args: &DemoArgs, dir: &Path) -> Result<(), String> {
    // The nodes' code directory, with a Python Pong when Python actors can run here.
    let code = dir.join("code").join("global");
    fs::create_dir_all(&code).map_err(|e| format!("{}: {e}", code.display()))?;
    let python = python_available();
    if python {
        let file = code.join("PyPong.py");
        fs::write(&file, PY_PONG).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    let extra =
        "probe_interval: 500ms\nsuspect_timeout: 2s\nsync_interval: 500ms\ncode_directory: code\n";
    // Node 0 serves the HTTP gateway and the dashboard.
    let http = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port for the gateway: {e}"))?;
    let first = ["--http".to_owned(), http.to_string()];
    let (config, config_path, nodes) =
        start_nodes_with(args.nodes as usize, dir, "demo", extra, &first)?;
    println!("starting {} nodes on 127.0.0.1 (config {})", args.nodes, config_path.display());
    for (i, node) in nodes.iter().enumerate() {
        println!("  node {i}: pid {} at {}", node.child.id(), node.endpoint);
    }
    println!("  dashboard and HTTP API of node 0: http://{http}/ (open it while the demo runs)");

    let client = connect(&config, &nodes, "demo").await?;
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
    let ping = spawn(client.actor("Ping", ["pingers"]).strategy(Strategy::Resource, None)).await?;
    println!("  Ping         in pingers  (strategy resource)               -> {}", ping[0]);
    let pong = client.actor("Pong", ["pongers"]).strategy(Strategy::Affinity, Some("pingers"));
    let pong = spawn(pong).await?;
    println!("  Pong         in pongers  (strategy affinity toward pingers) -> {}", pong[0]);
    let iso = spawn(client.actor("Pong", ["pongers"]).isolated(true)).await?;
    println!("  Pong         in pongers  (isolated, its own process)        -> {}", iso[0]);
    if python {
        let py = spawn(client.actor("PyPong", ["pongers"])).await?;
        println!("  PyPong       in pongers  (Python, from code/global/PyPong.py) -> {}", py[0]);
    } else {
        println!("  (a Python Pong joins them when python3 has cbor2: pip install cbor2)");
    }

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
        match handle.to_actor(target.clone()).ask(msg::Ping).await {
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

    println!("\nthe same through node 0's HTTP gateway, as any language can:");
    let body = serde_json::json!({"category": "pongers", "kind": "ping", "timeout": "5s"});
    println!("  POST http://{http}/v1/request {body}");
    let answer = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?
        .post(format!("http://{http}/v1/request"))
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("the gateway: {e}"))?;
    let status = answer.status();
    let text = answer.text().await.map_err(|e| format!("the gateway: {e}"))?;
    println!("  -> {status} {text}");
    if !status.is_success() {
        failures += 1;
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
