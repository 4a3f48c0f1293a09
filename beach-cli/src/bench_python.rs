//! `beach bench --target python`: requests to a Python actor of a node's code directory over
//! TCP (an `async def` handler and a plain function), spawning idle Python actors into one
//! host process, and the memory each costs.

use std::time::{Duration, Instant};

use beach_core::actor::Handle;
use beach_core::value::Payload;

use crate::args::BenchArgs;
use crate::bench_measure::{Measured, serde_bytes_of, timed};
use crate::local_cluster::{connect, python_available, start_nodes};
use crate::outcome::Failure;

/// The actor measured: `echo` is an `async def` handler, `echo_plain` a plain function.
const PY_ECHO: &str = "from beach.actor import Actor\n\n\nclass PyEcho(Actor):\n    def init(self, parameters):\n        self.handle('echo', self.echo)\n        self.handle('echo_plain', lambda msg: msg.data)\n\n    async def echo(self, msg):\n        return msg.data\n";

/// What the Python target measured.
pub(crate) struct PythonFigures {
    /// The `async def` handler.
    pub(crate) async_handler: Measured,
    /// The plain function handler.
    pub(crate) plain_handler: Measured,
    /// How many idle actors were spawned, and how long it took.
    pub(crate) idle_actors: u32,
    pub(crate) spawn_seconds: f64,
    /// The host process's memory growth per idle actor, where /proc tells.
    pub(crate) idle_bytes_per_actor: Option<f64>,
}

/// `n` sequential requests of `kind`, then `n` with `window` in flight.
async fn measure(
    handle: &Handle,
    kind: &str,
    data: &Payload,
    n: usize,
    window: usize,
) -> Result<Measured, Failure> {
    timed(n, window, || async { handle.request_payload(kind, data.clone()).await.map(|_| ()) })
        .await
        .map_err(|e| Failure::cluster(format!("python {kind}: {e}")))
}

/// The resident memory of `pid`'s child processes, in bytes (Linux).
fn children_rss(pid: u32) -> Option<f64> {
    let mut total = 0.0;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for task in tasks.flatten() {
        let kids = std::fs::read_to_string(task.path().join("children")).ok()?;
        for kid in kids.split_whitespace() {
            let status = std::fs::read_to_string(format!("/proc/{kid}/status")).ok()?;
            let kb: f64 = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            total += kb * 1024.0;
        }
    }
    Some(total)
}

/// Runs the Python target on a node started here with a code directory.
pub(crate) async fn run(args: &BenchArgs) -> Result<PythonFigures, Failure> {
    if !python_available() {
        return Err(Failure::usage(
            "the python target needs python3 with cbor2 (pip install cbor2)".to_owned(),
        ));
    }
    let dir = std::env::temp_dir().join(format!("beach-bench-python-{}", std::process::id()));
    let code = dir.join("code").join("global");
    std::fs::create_dir_all(&code)
        .map_err(|e| Failure::usage(format!("{}: {e}", code.display())))?;
    std::fs::write(code.join("PyEcho.py"), PY_ECHO)
        .map_err(|e| Failure::usage(format!("{}: {e}", code.display())))?;
    let result: Result<PythonFigures, Failure> = async {
        let extra =
            format!("code_directory: code\n{}", crate::local_cluster::node_options(args, &dir)?);
        let (config, _, nodes) = start_nodes(1, &dir, "bench", &extra).map_err(Failure::usage)?;
        let client = connect(&config, &nodes, "bench").await.map_err(Failure::usage)?;
        let category = "bench/python";
        client.add_actor(client.actor("PyEcho", [category])).await?;
        let handle = client.handle(category).timeout(Duration::from_secs(30));
        let data = Payload::encode(&serde_bytes_of(args.payload))
            .map_err(|e| Failure::usage(e.to_string()))?;
        let (n, window) = (args.requests as usize, args.inflight as usize);
        let async_handler = measure(&handle, "echo", &data, n, window).await?;
        let plain_handler = measure(&handle, "echo_plain", &data, n, window).await?;
        let node_pid = nodes[0].child.id();
        let before = children_rss(node_pid);
        let idle = args.python_actors;
        let start = Instant::now();
        client.add_actor(client.actor("PyEcho", ["bench/python/idle"]).count(idle)).await?;
        let spawn_seconds = start.elapsed().as_secs_f64();
        let after = children_rss(node_pid);
        let idle_bytes_per_actor = before.zip(after).map(|(b, a)| (a - b) / f64::from(idle));
        client.close();
        Ok(PythonFigures {
            async_handler,
            plain_handler,
            idle_actors: idle,
            spawn_seconds,
            idle_bytes_per_actor,
        })
    }
    .await;
    crate::local_cluster::keep_on_failure(&dir, result)
}
