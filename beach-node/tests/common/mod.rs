//! Real `beach-node` processes on loopback, and clients talking to them over TCP.

#![allow(dead_code, unreachable_pub)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use beach_core::client::Beach;
use beach_core::config::ClusterConfig;
use beach_core::model::Endpoint;

/// A folder for one test's files, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("beach-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `n` loopback ports free right now (bound together, then released).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> =
        (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    held.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// A running `beach-node` process.
pub struct NodeProc {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl NodeProc {
    pub fn start(config: &Path, port: u16, log: PathBuf) -> Self {
        Self::start_with(config, port, log, &[])
    }

    /// [`NodeProc::start`] with more command-line arguments.
    pub fn start_with(config: &Path, port: u16, log: PathBuf, args: &[String]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_beach-node"))
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self { child, port, log }
    }

    pub fn endpoint(&self) -> Endpoint {
        Endpoint::new(format!("127.0.0.1:{}", self.port)).unwrap()
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, as a crash.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        wait_exit(&mut self.child, Duration::from_secs(20)).expect("the node exits after SIGTERM")
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls the child until it exits or `limit` passes.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Polls `check` every 50ms until it holds or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A cluster of `n` nodes started from one configuration file listing them all as seeds.
pub struct Cluster {
    pub config_path: PathBuf,
    pub config: ClusterConfig,
    pub nodes: Vec<NodeProc>,
    pub scratch: Scratch,
}

impl Cluster {
    /// Writes `cluster.yaml` with fast test timings (and `extra` appended) naming `n` free
    /// ports as seeds and starts a node on each.
    pub fn start(name: &str, n: usize, extra: &str) -> Self {
        Self::start_raw(
            name,
            n,
            &format!("probe_interval: 500ms\nsuspect_timeout: 2s\nsync_interval: 500ms\n{extra}"),
        )
    }

    /// Like [`Cluster::start`], each node serving its HTTP gateway on a port of its own
    /// (`--http`); returns the gateways' base URLs too.
    pub fn start_http(name: &str, n: usize, extra: &str) -> (Self, Vec<String>) {
        let http = free_ports(n);
        let urls = http.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
        let args: Vec<Vec<String>> =
            http.iter().map(|p| vec!["--http".to_owned(), format!("127.0.0.1:{p}")]).collect();
        let extra =
            format!("probe_interval: 500ms\nsuspect_timeout: 2s\nsync_interval: 500ms\n{extra}");
        (Self::start_each(name, n, &extra, |i| args[i].clone()), urls)
    }

    /// Like [`Cluster::start`] but with only `extra` besides the name and seeds.
    pub fn start_raw(name: &str, n: usize, extra: &str) -> Self {
        Self::start_each(name, n, extra, |_| Vec::new())
    }

    /// Starts `n` nodes, node `i` with the command-line arguments `args(i)`.
    fn start_each(name: &str, n: usize, extra: &str, args: impl Fn(usize) -> Vec<String>) -> Self {
        let scratch = Scratch::new(name);
        let ports = free_ports(n);
        let seeds: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
        let yaml = format!("cluster_name: test\nseed_nodes: [{}]\n{extra}", seeds.join(", "));
        let config_path = scratch.0.join("cluster.yaml");
        fs::write(&config_path, yaml).unwrap();
        let config = beach_node::files::load_config(&config_path).unwrap();
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                NodeProc::start_with(
                    &config_path,
                    p,
                    scratch.0.join(format!("node{i}.log")),
                    &args(i),
                )
            })
            .collect();
        Self { config_path, config, nodes, scratch }
    }

    /// A client of node `i` (only that node as seed).
    pub async fn client_of(&self, i: usize) -> Beach {
        connect(&self.config, vec![self.nodes[i].endpoint()]).await
    }

    /// Waits until every node reports the whole cluster.
    pub async fn wait_joined(&self, limit: Duration) {
        let want = self.nodes.len();
        for i in 0..want {
            let ok = eventually(limit, || async {
                match try_connect(&self.config, vec![self.nodes[i].endpoint()]).await {
                    Some(c) => {
                        let n = c.node_count().await.unwrap_or(0);
                        c.close();
                        n == want
                    }
                    None => false,
                }
            })
            .await;
            assert!(ok, "node {i} did not see {want} nodes; log:\n{}", self.nodes[i].log_text());
        }
    }
}

/// A client with the configuration's token and secret, or `None` if no seed answers.
pub async fn try_connect(config: &ClusterConfig, seeds: Vec<Endpoint>) -> Option<Beach> {
    beach_node::files::client_for(config)
        .ok()?
        .seeds(seeds.iter().map(ToString::to_string))
        .rng_seed(7)
        .connect()
        .await
        .ok()
}

/// A client, waiting (by polling) for a seed to answer.
pub async fn connect(config: &ClusterConfig, seeds: Vec<Endpoint>) -> Beach {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if let Some(c) = try_connect(config, seeds.clone()).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no node answered at {seeds:?}");
}

/// Polls until no node among `nodes` lists any of `actors` in its directory (asking each node
/// through its own client), or `limit` passes; whether they all went.
pub async fn gone_from_directories(
    config: &ClusterConfig,
    nodes: &[NodeProc],
    actors: &[beach_core::model::ActorId],
    limit: Duration,
) -> bool {
    eventually(limit, || async {
        for n in nodes {
            let Some(c) = try_connect(config, vec![n.endpoint()]).await else { return false };
            let dir = c.directory("").await.unwrap_or_default();
            c.close();
            if dir.values().flatten().any(|id| actors.contains(id)) {
                return false;
            }
        }
        true
    })
    .await
}
