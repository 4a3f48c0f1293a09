//! An embedding program with its own async `main`, as `beach_node::daemon`'s docs show it: a
//! node started in-process spawns an isolated actor, which runs in a copy of this very program.
//!
//! Run without arguments it plays three programs, each in a process of its own:
//! - `docs`: calls `host_if_requested_async` first, then starts a node (the documented way);
//! - `forgot`: never calls it, starting the node with `daemon::start`, which hosts the actor
//!   itself in the copy instead of starting a node there;
//! - `manual`: never calls it and builds its node without `daemon`: the copy refuses to start
//!   a node, and the spawn fails with a message that names the missing call.
//!
//! Each must finish on its own: a copy that started a node and spawned again would fork
//! without end, which a process-count guard below turns into a failure.

use std::process::{Command, ExitCode};
use std::sync::Arc;

use beach_core::client::{Beach, ClientBuilder};
use beach_core::config::{ClusterConfig, HostPort};
use beach_core::node::{Node, NodeBuilder};
use beach_node::actors::{Time, builtin_registry, msg};
use beach_node::{daemon, isolation};
use beach_transport_tcp::TcpTransport;

/// The environment variable naming the program a process plays.
const PLAY: &str = "BEACH_EMBEDDED_TEST_PLAY";

#[tokio::main]
async fn main() -> ExitCode {
    // The test runner, a play and its actor's copy: three. More is the bug this test is about.
    if ancestors_running_this_program() > 2 {
        eprintln!("a copy of a copy started: the program forks without end");
        return ExitCode::from(3);
    }
    let play = std::env::var(PLAY).ok();
    let registry = builtin_registry();
    // The documented program's first step.
    if play.as_deref() == Some("docs")
        && let Some(code) = isolation::host_if_requested_async(&registry).await
    {
        return code;
    }
    match play.as_deref() {
        None => run_all(),
        Some("docs") | Some("forgot") => spawn_isolated(play.as_deref() == Some("docs")).await,
        Some("manual") => manual().await,
        Some(other) => {
            eprintln!("unknown play {other}");
            ExitCode::from(2)
        }
    }
}

/// Runs each play in its own process and checks how it ended.
fn run_all() -> ExitCode {
    let exe = std::env::current_exe().expect("the test's own path");
    let mut failed = false;
    for play in ["docs", "forgot", "manual"] {
        let out = Command::new(&exe).env(PLAY, play).output().expect("the play starts");
        let ok = out.status.success();
        println!("embedded {play} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed = true;
            println!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn config() -> ClusterConfig {
    ClusterConfig {
        listen: HostPort::parse_bind("127.0.0.1:0", 0).expect("an address"),
        ..ClusterConfig::default()
    }
}

async fn client(node: &Node) -> Beach {
    ClientBuilder::new()
        .seed(node.id().endpoint().to_string())
        .transport_with(TcpTransport::make)
        .connect()
        .await
        .expect("the client connects")
}

/// Starts a node with `daemon::start` and asks an isolated `Pong`.
async fn spawn_isolated(documented: bool) -> ExitCode {
    let node = daemon::start(config(), daemon::Overrides::default(), builtin_registry())
        .await
        .expect("the node starts");
    let client = client(&node).await;
    let spec = client.actor("Pong", ["iso"]).isolated(true);
    let ids = match client.add_actor(spec).await {
        Ok(ids) => ids,
        Err(e) => {
            eprintln!("the isolated spawn failed (documented: {documented}): {e}");
            return ExitCode::FAILURE;
        }
    };
    let time: Time = client.handle("iso").ask(msg::Ping).await.expect("the isolated Pong answers");
    assert!(time.time > 1.7e9);
    client.stop_actors(&ids, &[]).await.expect("the actor stops");
    client.close();
    node.shutdown().await;
    ExitCode::SUCCESS
}

/// Builds a node by hand with process isolation, without any host call: the copy must refuse
/// and the spawn must say why.
async fn manual() -> ExitCode {
    let config = config();
    let isolation = match isolation::ProcessIsolation::new(&config) {
        Ok(i) => Arc::new(i),
        // This is the copy: it refused, as it should, and told the parent.
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let node = NodeBuilder::new()
        .config(&config)
        .registry(builtin_registry())
        .isolation(isolation.clone())
        .transport_with(TcpTransport::make)
        .start()
        .await
        .expect("the node starts");
    isolation.set_node(node.id().endpoint().clone());
    let client = client(&node).await;
    let spec = client.actor("Pong", ["iso"]).isolated(true);
    let err = client.add_actor(spec).await.expect_err("the copy refuses to start a node");
    let message = err.to_string();
    node.shutdown().await;
    if message.contains("host_if_requested") {
        ExitCode::SUCCESS
    } else {
        eprintln!("the spawn failed without naming the missing call: {message}");
        ExitCode::FAILURE
    }
}

/// How many of this process's ancestors run this same program (Linux; 0 elsewhere).
fn ancestors_running_this_program() -> usize {
    let exe = |pid: &str| std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let parent = |pid: &str| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // pid (comm) state ppid ...: the command may hold spaces, so split after its ')'.
        stat.rsplit_once(')')?.1.split_whitespace().nth(1).map(str::to_owned)
    };
    let me = exe("self");
    let mut count = 0;
    let mut pid = parent("self");
    while let Some(p) = pid.filter(|p| p != "0" && p != "1") {
        if me.is_some() && exe(&p) == me {
            count += 1;
        }
        pid = parent(&p);
    }
    count
}
