//! Node processes on loopback, started from this executable (`beach node`): the demo's cluster
//! and the node `beach bench --target tcp` measures against.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use beach_core::client::Beach;
use beach_core::config::ClusterConfig;
use beach_core::model::Endpoint;

use crate::args::BenchArgs;
use crate::outcome::Failure;

/// One node process; killed if still running when dropped.
pub(crate) struct NodeProcess {
    pub(crate) child: Child,
    pub(crate) endpoint: Endpoint,
    pub(crate) log: PathBuf,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Writes `dir/cluster.yaml` for `n` nodes on free loopback ports (with `extra` YAML lines)
/// and starts them, each logging to `dir/node<i>.log`.
pub(crate) fn start_nodes(
    n: usize,
    dir: &Path,
    name: &str,
    extra: &str,
) -> Result<(ClusterConfig, PathBuf, Vec<NodeProcess>), String> {
    start_nodes_with(n, dir, name, extra, &[])
}

/// [`start_nodes`], node 0 with the command-line arguments `first` besides (`--http ADDR`).
pub(crate) fn start_nodes_with(
    n: usize,
    dir: &Path,
    name: &str,
    extra: &str,
    first: &[String],
) -> Result<(ClusterConfig, PathBuf, Vec<NodeProcess>), String> {
    let ports = free_ports(n)?;
    let seeds: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    let config_path = dir.join("cluster.yaml");
    let yaml = format!(
        "# written by `beach {name}`\ncluster_name: {name}\nseed_nodes: [{}]\n{extra}",
        seeds.join(", ")
    );
    fs::write(&config_path, yaml).map_err(|e| format!("{}: {e}", config_path.display()))?;
    let config = beach_node::files::load_config(&config_path).map_err(|e| e.to_string())?;
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
            .args(if i == 0 { first } else { &[] })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .map_err(|e| format!("cannot start node {i}: {e}"))?;
        let endpoint = Endpoint::new(format!("127.0.0.1:{port}")).map_err(|e| e.to_string())?;
        nodes.push(NodeProcess { child, endpoint, log });
    }
    Ok((config, config_path, nodes))
}

/// `n` loopback ports free a moment ago.
fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let held = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot find free ports on 127.0.0.1: {e}"))?;
    Ok(held.iter().filter_map(|l| l.local_addr().ok()).map(|a| a.port()).collect())
}

/// Connects a client named `name` to the nodes, retrying for 15 seconds while they start.
pub(crate) async fn connect(
    config: &ClusterConfig,
    nodes: &[NodeProcess],
    name: &str,
) -> Result<Beach, String> {
    let seeds: Vec<Endpoint> = nodes.iter().map(|n| n.endpoint.clone()).collect();
    let start = Instant::now();
    loop {
        let attempt = beach_node::files::client_for(config)
            .map_err(|e| e.to_string())?
            .seeds(seeds.iter().map(ToString::to_string))
            .name(name)
            .connect()
            .await;
        match attempt {
            Ok(c) => return Ok(c),
            Err(e) if start.elapsed() > Duration::from_secs(15) => return Err(e.to_string()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Sends SIGTERM and waits for the exit status (SIGKILL after 20 seconds).
pub(crate) fn terminate(child: &mut Child) -> Option<std::process::ExitStatus> {
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

/// Whether `python3` with `cbor2` is here, as code directory actors in Python need.
pub(crate) fn python_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import cbor2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The `cluster.yaml` lines a node started for a measurement gets from the options: `--spin`
/// and `--secret` (a fresh secret written into `dir`).
pub(crate) fn node_options(args: &BenchArgs, dir: &std::path::Path) -> Result<String, Failure> {
    let mut extra = String::new();
    if !args.spin.is_zero() {
        extra.push_str(&format!("tcp_spin: {}us\n", args.spin.as_micros()));
    }
    if args.secret {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| Failure::usage(format!("no randomness from the system: {e}")))?;
        let path = dir.join("secret.key");
        std::fs::write(&path, secret)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
        extra.push_str("secret_file: secret.key\n");
    }
    Ok(extra)
}

/// The outcome of a measurement in `dir` (the nodes' config and logs): the folder is removed
/// after a success, and kept and named in the error after a failure.
pub(crate) fn keep_on_failure<T>(
    dir: &std::path::Path,
    result: Result<T, Failure>,
) -> Result<T, Failure> {
    match result {
        Ok(w) => {
            let _ = std::fs::remove_dir_all(dir);
            Ok(w)
        }
        Err(mut f) => {
            f.message = format!("{} (node log in {})", f.message, dir.display());
            Err(f)
        }
    }
}
