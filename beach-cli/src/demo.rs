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

    let mut failures = 0;
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

    let (killed, failed) = deployment_story(&client, &nodes, args.duration).await?;
    failures += failed;

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
        if killed == Some(i) {
            println!("  node {i}: killed earlier with SIGKILL");
            continue;
        }
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

/// The deployment part of the demo: Pong replicas spread over the nodes by repulsion,
/// requests flowing to them, one node killed with SIGKILL a third of the way through,
/// requests carrying on through retries, and the replicas coming back on the survivors, each
/// step timed. Which node was killed, and how many requests failed.
async fn deployment_story(
    client: &beach_core::client::Beach,
    nodes: &[crate::local_cluster::NodeProcess],
    duration: Duration,
) -> Result<(Option<usize>, usize), String> {
    let replicas = (2 * nodes.len()) as u32;
    let spec = beach_core::deploy::DeployFile::parse(&format!(
        "deployments:\n  - {{name: pongers, type: Pong, categories: [pongers/deployed], replicas: {replicas}, strategy: repulsion, hint: pongers/deployed}}\n"
    ))?
    .deployments;
    println!("\ndeploying {replicas} Pong replicas, spread by repulsion (beach deploy apply):");
    let applied = Instant::now();
    client.deploy_apply(spec, false).await.map_err(|e| e.to_string())?;
    wait_complete(client, Duration::from_secs(30)).await?;
    println!("  all {replicas} running after {:.2}s", applied.elapsed().as_secs_f64());
    let per_node = replicas_per_node(client).await?;
    for (node, n) in &per_node {
        println!("  {node:<24} {n} replicas");
    }

    println!(
        "\nrequests to category `pongers` for {} (random routing, 2 retries; a ping is safe to repeat, so one\nlost with its connection is retried too), one line a second:",
        humantime::format_duration(duration)
    );
    // The node to kill: the one with the most replicas, never node 0 (the demo's entry).
    let victim = nodes
        .iter()
        .enumerate()
        .skip(1)
        .max_by_key(|(_, n)| per_node.iter().find(|(e, _)| *e == n.endpoint).map_or(0, |p| p.1))
        .map(|(i, _)| i);
    // A ping may run twice harmlessly, so a request lost with the killed node's connection
    // (it may have been handled) is retried on another actor, as DESIGN §5 allows on opt-in.
    let handle =
        client.handle("pongers").timeout(Duration::from_secs(5)).retries(2).retry_timeouts(true);
    let start = Instant::now();
    let kill_at = duration / 3;
    let mut killed = None;
    let mut killed_at = None;
    let mut back_after = None;
    let (mut ok, mut failed, mut total_failed) = (0usize, 0usize, 0usize);
    let mut second = Instant::now();
    let mut took: Vec<f64> = Vec::new();
    while start.elapsed() < duration {
        if killed.is_none()
            && start.elapsed() >= kill_at
            && let Some(i) = victim
        {
            // SIGKILL: no goodbye, its actors simply vanish.
            let pid = nodes[i].child.id();
            let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
            println!("  >>> killed node {i} (pid {pid}, {}) with SIGKILL", nodes[i].endpoint);
            killed = Some(i);
            killed_at = Some(Instant::now());
        }
        let sent = Instant::now();
        match handle.ask(msg::Ping).await {
            Ok(_) => {
                ok += 1;
                took.push(sent.elapsed().as_secs_f64() * 1e3);
            }
            Err(e) => {
                failed += 1;
                println!("  request failed: {e}");
            }
        }
        if let (Some(at), None, Some(i)) = (killed_at, back_after, killed)
            && replicas_back(client, &nodes[i].endpoint, replicas).await
        {
            back_after = Some(at.elapsed());
            println!(
                "  >>> all {replicas} replicas running again on the survivors, {:.2}s after the kill",
                at.elapsed().as_secs_f64()
            );
        }
        if second.elapsed() >= Duration::from_secs(1) {
            took.sort_by(f64::total_cmp);
            let p50 = took.get(took.len() / 2).copied().unwrap_or(0.0);
            println!(
                "  t={:>4.1}s  {ok:>5} answered  {failed} failed  p50 {p50:.2} ms",
                start.elapsed().as_secs_f64()
            );
            total_failed += failed;
            (ok, failed) = (0, 0);
            took.clear();
            second = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    total_failed += failed;
    if let (Some(i), None) = (killed, back_after) {
        let waited = killed_at.map(|t| t.elapsed()).unwrap_or_default();
        if !wait_back(client, &nodes[i].endpoint, replicas, Duration::from_secs(20)).await {
            return Err(format!(
                "the replicas of node {i} were not replaced within {waited:?} + 20s"
            ));
        }
        println!("  >>> all {replicas} replicas running again on the survivors");
    }
    if killed.is_some() {
        println!("  {total_failed} requests failed while a node died");
        for (node, n) in replicas_per_node(client).await? {
            println!("  {node:<24} {n} replicas");
        }
    }
    Ok((killed, total_failed))
}

/// Waits until the deployment is complete.
async fn wait_complete(client: &beach_core::client::Beach, limit: Duration) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let status = client.deploy_status(&["pongers"]).await.map_err(|e| e.to_string())?;
        if status.first().is_some_and(|s| s.complete) {
            return Ok(());
        }
        if start.elapsed() > limit {
            return Err(format!("the deployment did not complete within {limit:?}: {status:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `replicas` replicas run and none on `dead`.
async fn replicas_back(
    client: &beach_core::client::Beach,
    dead: &beach_core::model::Endpoint,
    replicas: u32,
) -> bool {
    let Ok(dir) = client.directory("pongers/deployed").await else { return false };
    let ids: std::collections::BTreeSet<_> = dir.into_values().flatten().collect();
    ids.len() == replicas as usize && ids.iter().all(|a| a.node().endpoint() != dead)
}

async fn wait_back(
    client: &beach_core::client::Beach,
    dead: &beach_core::model::Endpoint,
    replicas: u32,
    limit: Duration,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if replicas_back(client, dead, replicas).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The deployment's replicas per node address.
async fn replicas_per_node(
    client: &beach_core::client::Beach,
) -> Result<Vec<(beach_core::model::Endpoint, usize)>, String> {
    let dir = client.directory("pongers/deployed").await.map_err(|e| e.to_string())?;
    let ids: std::collections::BTreeSet<_> = dir.into_values().flatten().collect();
    let mut per: std::collections::BTreeMap<beach_core::model::Endpoint, usize> =
        Default::default();
    for id in ids {
        *per.entry(id.node().endpoint().clone()).or_default() += 1;
    }
    Ok(per.into_iter().collect())
}
