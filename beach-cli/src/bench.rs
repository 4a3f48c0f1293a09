//! `beach bench`: request latency and throughput, beside a raw TCP baseline measured in the
//! same run.
//!
//! - `--target raw-tcp`: a minimal tokio echo over loopback (length-prefixed payloads) between
//!   this process and a child, the floor every TCP figure is compared with;
//! - `--target tcp`: a node process started on loopback (or an existing cluster with
//!   `--config` or `--seed`), Echo actors, and a client in this process asking them over TCP;
//! - `--target local`: a node, its actors and a client in this process on the in-memory
//!   network: actor-to-actor requests and fan-out on one node, spawn rate, and idle memory
//!   per actor;
//! - `--target both`: raw-tcp and tcp, with the ratios; `--target all` (the default): all three.
//!
//! With `--rounds N` the raw echo and beach are measured N times, alternating over one node,
//! and the median p50 ratio is reported with its spread and every round's ratio, and the
//! median pipelined rate likewise; so are the native client and the gateway for `--target
//! http`. The measurements run as a task of the runtime (see [`run_as_task`]). With
//! `--clients N`, N client processes (the hidden `beach bench-client`) ask the tcp target at
//! once, and their rates are added up (each is measured over its own run; they overlap).

use std::time::{Duration, Instant};

use beach_core::value::Payload;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::args::{BenchArgs, BenchClientArgs, Global, Target};
use crate::bench_measure::{Measured, Plan, Workloads, measure, serde_bytes_of};
use crate::local_cluster::{connect, start_nodes};
use crate::outcome::{Failure, Output};
use crate::output::table;

/// `beach bench-client`: connects as the global options say and measures pipelined requests.
pub async fn bench_client(args: &BenchClientArgs, global: &Global) -> Result<Output, Failure> {
    let client = crate::cmd::connect(global).await?;
    let handle = client.handle(&args.category).timeout(Duration::from_secs(30));
    let data = Payload::encode(&serde_bytes_of(args.payload))
        .map_err(|e| Failure::usage(e.to_string()))?;
    let n = args.requests as usize;
    let result = crate::bench_measure::pipelined(&handle, &data, n, args.inflight as usize).await;
    client.close();
    let per_second = result.map_err(|e| Failure::cluster(e.to_string()))?;
    Ok(Output { json: json!({ "per_second": per_second }), human: format!("{per_second:.0}/s\n") })
}

impl BenchArgs {
    /// The measurement these options ask for.
    pub(crate) fn plan(&self) -> Plan {
        Plan {
            requests: self.requests,
            inflight: self.inflight,
            fanout_rounds: (self.requests / self.fanout).max(10),
        }
    }
}

/// Latencies and throughput of one target.
#[derive(Debug, Clone, Copy)]
struct Figures {
    p50: Duration,
    p99: Duration,
    p999: Duration,
    max: Duration,
    per_second: f64,
}

fn figures(m: &Measured) -> Figures {
    let mut lat: Vec<Duration> =
        m.latencies_ns.iter().map(|&ns| Duration::from_nanos(ns)).collect();
    let per_second = m.per_second;
    lat.sort();
    let at = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    Figures {
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
        max: *lat.last().expect("some"),
        per_second,
    }
}

/// Runs `work` on a runtime of `threads` (see [`runtime`]) as one of its tasks, rather than on
/// the thread that blocks on the runtime. That thread is not one of the runtime's workers, which
/// run the connections' tasks: there every reply would cross threads to reach its caller (a
/// thread wake-up per burst of replies), where a task is woken on the worker that runs it.
/// Pipelined requests measure 1.5x faster so, and a service's callers run as tasks too.
pub fn run_as_task<F>(threads: usize, work: F) -> Result<Output, Failure>
where
    F: std::future::Future<Output = Result<Output, Failure>> + Send + 'static,
{
    let rt =
        runtime(threads).map_err(|e| Failure::usage(format!("cannot start the runtime: {e}")))?;
    rt.block_on(async {
        match tokio::spawn(work).await {
            Ok(done) => done,
            // A panic goes on as it would have on this thread.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(Failure::usage(format!("the benchmark task ended: {e}"))),
        }
    })
}

/// The runtime a `--threads` option asks for: 0 for one worker per core, 1 for a
/// single-threaded runtime, or that many workers.
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    match threads {
        0 => tokio::runtime::Runtime::new(),
        1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    }
}

/// Runs the benchmark as `args` say; `--target tcp` measures the cluster `global` names, if it
/// names one (`--config` or `--seed`).
pub async fn run(args: &BenchArgs, global: &Global) -> Result<Output, Failure> {
    let mut results: Vec<(String, Figures)> = Vec::new();
    let add = |results: &mut Vec<(String, Figures)>, name: &str, w: &Workloads| {
        results.push((name.to_owned(), figures(&w.requests)));
        results.push((format!("{name} fan-out x{}", w.fanout_actors), figures(&w.fanout)));
    };
    let mut local = None;
    if matches!(args.target, Target::Local | Target::All) {
        let l = crate::bench_local::run(args).await?;
        add(&mut results, "local", &l.workloads);
        local = Some(l);
    }
    let python = match args.target {
        Target::Python => Some(crate::bench_python::run(args).await?),
        Target::All if crate::local_cluster::python_available() => {
            Some(crate::bench_python::run(args).await?)
        }
        _ => None,
    };
    if let Some(p) = &python {
        results.push(("python async def".to_owned(), figures(&p.async_handler)));
        results.push(("python plain fn".to_owned(), figures(&p.plain_handler)));
    }
    let http = match args.target {
        Target::Http | Target::All => crate::bench_http::run(args).await?,
        _ => Vec::new(),
    };
    // The gateway's p50 against the native client's of the same round; the table shows the
    // round whose ratio is the median.
    let http_ratio = |h: &crate::bench_http::HttpFigures| {
        figures(&h.http).p50.as_secs_f64() / figures(&h.native).p50.as_secs_f64()
    };
    let http_ratios: Vec<f64> = http.iter().map(http_ratio).collect();
    let http_spread = spread(&http_ratios);
    if let Some(h) = median_by(&http, |h| Some(http_ratio(h))) {
        results.push(("http gateway".to_owned(), figures(&h.http)));
        results.push(("http: native tcp".to_owned(), figures(&h.native)));
    }
    let (rounds, many) = tcp_rounds(args, global).await?;
    // The tables show the round whose ratio is the median (the only round without one).
    let shown = median_by(&rounds, Round::ratio);
    if let Some(raw) = shown.and_then(|r| r.raw) {
        results.push(("raw-tcp".to_owned(), raw));
    }
    if let Some(tcp) = shown.and_then(|r| r.tcp.as_ref()) {
        add(&mut results, "tcp", tcp);
    }
    let baseline = results.iter().find(|(n, _)| n == "raw-tcp").map(|(_, f)| *f);
    // Only one request at a time over TCP compares with the raw echo.
    let ratio = |name: &str, f: &Figures| {
        baseline
            .filter(|_| name == "tcp" || name == "raw-tcp")
            .map(|b| f.p50.as_secs_f64() / b.p50.as_secs_f64())
    };
    let ratios: Vec<f64> = rounds.iter().filter_map(Round::ratio).collect();
    // Pipelined throughput too varies from round to round: its median says more than the
    // shown round's.
    let pipelined: Vec<f64> =
        rounds.iter().filter_map(|r| Some(r.tcp.as_ref()?.requests.per_second)).collect();
    let pipelined_spread = spread(&pipelined);
    let spread = spread(&ratios);
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let rows = results
        .iter()
        .map(|(name, f)| {
            vec![
                name.clone(),
                format!("{:.1} µs", us(f.p50)),
                format!("{:.1} µs", us(f.p99)),
                format!("{:.1} µs", us(f.p999)),
                format!("{:.1} µs", us(f.max)),
                ratio(name, f).map(|r| format!("{r:.2}x")).unwrap_or_default(),
                format!("{:.0}/s", f.per_second),
            ]
        })
        .collect();
    let json = json!({
        "requests": args.requests, "inflight": args.inflight, "payload": args.payload,
        "threads": args.threads, "fanout": args.fanout, "spin_us": args.spin.as_micros() as u64,
        "local": local.as_ref().map(|l| json!({
            "spawn_per_s": l.spawn_per_s,
            "idle_actors": l.idle_actors,
            "idle_bytes_per_actor": l.idle_bytes_per_actor,
        })),
        "results": results.iter().map(|(name, f)| json!({
            "target": name,
            "p50_us": us(f.p50), "p99_us": us(f.p99), "p999_us": us(f.p999), "max_us": us(f.max),
            "p50_vs_raw": ratio(name, f),
            "throughput_per_s": f.per_second,
        })).collect::<Vec<_>>(),
        "rounds": rounds.iter().map(|r| json!({
            "raw_p50_us": r.raw.map(|f| us(f.p50)),
            "tcp_p50_us": r.tcp.as_ref().map(|w| us(figures(&w.requests).p50)),
            "p50_vs_raw": r.ratio(),
            "raw_per_second": r.raw.map(|f| f.per_second),
            "tcp_per_second": r.tcp.as_ref().map(|w| w.requests.per_second),
        })).collect::<Vec<_>>(),
        "tcp_per_second_median": pipelined_spread.map(|s| s.0),
        "tcp_per_second_min": pipelined_spread.map(|s| s.1),
        "tcp_per_second_max": pipelined_spread.map(|s| s.2),
        "p50_vs_raw_median": spread.map(|s| s.0),
        "p50_vs_raw_min": spread.map(|s| s.1),
        "p50_vs_raw_max": spread.map(|s| s.2),
        "http_p50_vs_native": http_spread.map(|s| s.0),
        "http_p50_vs_native_min": http_spread.map(|s| s.1),
        "http_p50_vs_native_max": http_spread.map(|s| s.2),
        "http_rounds": http.iter().map(|h| json!({
            "native_p50_us": us(figures(&h.native).p50),
            "http_p50_us": us(figures(&h.http).p50),
            "http_throughput_per_s": figures(&h.http).per_second,
            "p50_vs_native": http_ratio(h),
        })).collect::<Vec<_>>(),
        "python": python.as_ref().map(|p| json!({
            "idle_actors": p.idle_actors,
            "spawn_seconds": p.spawn_seconds,
            "idle_bytes_per_actor": p.idle_bytes_per_actor,
        })),
        "clients": many.as_ref().map(|m| json!({
            "processes": m.per_client.len(),
            "throughput_per_s": m.per_client.iter().sum::<f64>(),
            "per_client": m.per_client,
        })),
    });
    let threads = if args.threads == 0 {
        "one runtime thread per core".to_owned()
    } else {
        format!("{} runtime thread(s)", args.threads)
    };
    let mut human = format!(
        "{} sequential requests of {} bytes, then as many with {} in flight (THROUGHPUT); \
         fan-out: rounds to {} actors at once (THROUGHPUT: replies); {threads}\n{}",
        args.requests,
        args.payload,
        args.inflight,
        args.fanout,
        table(&["TARGET", "P50", "P99", "P99.9", "MAX", "P50/RAW", "THROUGHPUT"], rows)
    );
    if let (Some((median, min, max)), true) = (spread, ratios.len() > 1) {
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}x")).collect();
        human.push_str(&format!(
            "p50/raw over {} alternating rounds: median {median:.2}x (from {min:.2}x to {max:.2}x: {}); the table shows the median round\n",
            ratios.len(),
            each.join(", ")
        ));
    }
    if let (Some((median, min, max)), true) = (pipelined_spread, pipelined.len() > 1) {
        let each: Vec<String> = pipelined.iter().map(|r| format!("{:.0}k", r / 1e3)).collect();
        human.push_str(&format!(
            "tcp with {} in flight over {} rounds: median {median:.0}/s (from {min:.0} to {max:.0}: {})\n",
            args.inflight,
            pipelined.len(),
            each.join(", ")
        ));
    }
    if let Some(m) = &many {
        human.push_str(&format!(
            "tcp with {} client processes at once: {:.0}/s in all ({} in flight each)\n",
            m.per_client.len(),
            m.per_client.iter().sum::<f64>(),
            args.inflight
        ));
    }
    match (http_spread, http_ratios.len()) {
        (Some((r, ..)), 1) => human.push_str(&format!(
            "http: p50 through the gateway is {r:.2}x the native client's of the same run\n"
        )),
        (Some((median, min, max)), n) => {
            let each: Vec<String> = http
                .iter()
                .map(|h| format!("{:.2}x at {:.0}/s", http_ratio(h), figures(&h.http).per_second))
                .collect();
            human.push_str(&format!(
                "http: p50 through the gateway over {n} alternating rounds: median {median:.2}x the native client's (from {min:.2}x to {max:.2}x: {}); the table shows the median round\n",
                each.join(", ")
            ));
        }
        (None, _) => {}
    }
    if let Some(p) = &python {
        let memory = match p.idle_bytes_per_actor {
            Some(b) => format!("{b:.0} bytes each in their host process"),
            None => "memory not measured (no /proc here)".to_owned(),
        };
        human.push_str(&format!(
            "python: spawned {} idle actors in {:.2} s, {memory}\n",
            p.idle_actors, p.spawn_seconds
        ));
    }
    if matches!(args.target, Target::All) && python.is_none() {
        human.push_str("python: not measured (python3 with cbor2 not found: pip install cbor2)\n");
    }
    if let Some(l) = &local {
        let memory = match l.idle_bytes_per_actor {
            Some(b) => format!("{b:.0} bytes each"),
            None => "memory not measured (no /proc/self/status here)".to_owned(),
        };
        human.push_str(&format!(
            "local: spawned {} idle actors at {:.0}/s, {memory}\n",
            l.idle_actors, l.spawn_per_s
        ));
    }
    Ok(Output { json, human })
}

/// `beach bench-echo` (hidden): the raw baseline's server, a plain tokio echo of
/// length-prefixed frames on a loopback port, on the same default runtime a node runs on. It
/// prints its address on stdout and serves until its stdin closes (its parent's end).
pub fn echo_server() -> std::io::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("{}", listener.local_addr()?);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = s.set_nodelay(true);
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let mut len = [0u8; 4];
                    let mut buf = Vec::new();
                    while r.read_exact(&mut len).await.is_ok() {
                        buf.resize(u32::from_be_bytes(len) as usize, 0);
                        if r.read_exact(&mut buf).await.is_err() {
                            return;
                        }
                        let mut out = Vec::with_capacity(4 + buf.len());
                        out.extend_from_slice(&len);
                        out.extend_from_slice(&buf);
                        if w.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
            .await
            .map_err(std::io::Error::other)??;
        Ok(())
    })
}

/// A child process of this executable, killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The raw baseline: a client here, plain tokio over loopback, asking the echo server of a
/// child process (`beach bench-echo`), as a beach client asks a node process.
async fn raw_tcp(args: &BenchArgs) -> std::io::Result<Figures> {
    let exe = std::env::current_exe()?;
    let mut child = Child(
        std::process::Command::new(exe)
            .arg("bench-echo")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()?,
    );
    let stdout = child.0.stdout.take().ok_or(std::io::ErrorKind::BrokenPipe)?;
    let addr = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).map(|_| line)
    })
    .await
    .map_err(std::io::Error::other)??;
    let addr: std::net::SocketAddr = addr.trim().parse().map_err(std::io::Error::other)?;
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut frame = (args.payload as u32).to_be_bytes().to_vec();
    frame.extend(std::iter::repeat_n(7u8, args.payload));
    let mut back = vec![0u8; frame.len()];
    let mut lat = Vec::with_capacity(args.requests as usize);
    for _ in 0..args.requests / 10 {
        s.write_all(&frame).await?;
        s.read_exact(&mut back).await?;
    }
    for _ in 0..args.requests {
        let t = Instant::now();
        s.write_all(&frame).await?;
        s.read_exact(&mut back).await?;
        lat.push(t.elapsed().as_nanos() as u64);
    }
    // Throughput: a window of `inflight` frames written ahead of the replies.
    let (mut r, mut w) = s.into_split();
    let n = args.requests as usize;
    let window = args.inflight as usize;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(window);
    let start = Instant::now();
    let writer = {
        let frame = frame.clone();
        tokio::spawn(async move {
            for _ in 0..n {
                if tx.send(()).await.is_err() || w.write_all(&frame).await.is_err() {
                    return;
                }
            }
        })
    };
    for _ in 0..n {
        r.read_exact(&mut back).await?;
        let _ = rx.recv().await;
    }
    let elapsed = start.elapsed();
    let _ = writer.await;
    Ok(figures(&Measured { latencies_ns: lat, per_second: n as f64 / elapsed.as_secs_f64() }))
}

/// One round of the TCP comparison: the raw echo and beach, measured one after the other.
struct Round {
    raw: Option<Figures>,
    tcp: Option<Workloads>,
}

impl Round {
    /// Beach's p50 over the raw echo's, when both were measured.
    fn ratio(&self) -> Option<f64> {
        let raw = self.raw?;
        let tcp = figures(&self.tcp.as_ref()?.requests);
        Some(tcp.p50.as_secs_f64() / raw.p50.as_secs_f64())
    }
}

/// The median, smallest and largest of `values`; `None` when empty.
fn spread(values: &[f64]) -> Option<(f64, f64, f64)> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Some((*v.get(v.len() / 2)?, *v.first()?, *v.last()?))
}

/// The round whose ratio is the median of all (the first, when none has a ratio).
fn median_by<T>(rounds: &[T], ratio: impl Fn(&T) -> Option<f64>) -> Option<&T> {
    let (median, ..) = spread(&rounds.iter().filter_map(&ratio).collect::<Vec<_>>()).unwrap_or((
        f64::NAN,
        0.0,
        0.0,
    ));
    rounds.iter().find(|r| ratio(r) == Some(median)).or(rounds.first())
}

/// The raw echo and beach over TCP, as `args` asks, in `args.rounds` alternating rounds over
/// one node (beach's actors are spawned and stopped in each round).
async fn tcp_rounds(
    args: &BenchArgs,
    global: &Global,
) -> Result<(Vec<Round>, Option<ManyClients>), Failure> {
    let want_raw = matches!(args.target, Target::RawTcp | Target::Both | Target::All);
    let want_tcp = matches!(args.target, Target::Tcp | Target::Both | Target::All);
    let raw = async || -> Result<Option<Figures>, Failure> {
        if !want_raw {
            return Ok(None);
        }
        raw_tcp(args).await.map(Some).map_err(|e| Failure::usage(format!("raw-tcp: {e}")))
    };
    if !want_tcp {
        let mut rounds = Vec::new();
        for _ in 0..if want_raw { args.rounds } else { 0 } {
            rounds.push(Round { raw: raw().await?, tcp: None });
        }
        return Ok((rounds, None));
    }
    with_beach_tcp(args, global, async |client, reach| {
        let mut rounds = Vec::new();
        for _ in 0..args.rounds {
            let raw = raw().await?;
            let tcp = echo_workloads(args, global, client).await?;
            rounds.push(Round { raw, tcp: Some(tcp) });
        }
        let many =
            if args.clients > 0 { Some(many_clients(args, client, &reach).await?) } else { None };
        Ok((rounds, many))
    })
    .await
}

/// What `--clients` measured: each client process's pipelined requests per second.
struct ManyClients {
    per_client: Vec<f64>,
}

/// `args.clients` client processes at once, each asking two Echo actors of this run with
/// pipelined requests; their rates.
async fn many_clients(
    args: &BenchArgs,
    client: &beach_core::client::Beach,
    reach: &[String],
) -> Result<ManyClients, Failure> {
    let category = format!("bench/many/{}", std::process::id());
    let spec = client.actor("Echo", [&category]);
    let ids = client.add_actor(spec.count(2)).await?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::usage(format!("cannot find this executable: {e}")))?;
    let result = async {
        let mut children = Vec::new();
        for _ in 0..args.clients {
            let child = tokio::process::Command::new(&exe)
                .args(reach)
                .arg("--json")
                .arg("bench-client")
                .args(["--category", &category])
                .args(["--requests", &args.requests.to_string()])
                .args(["--inflight", &args.inflight.to_string()])
                .args(["--payload", &args.payload.to_string()])
                .args(["--threads", &args.threads.to_string()])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| Failure::usage(format!("cannot start a client process: {e}")))?;
            children.push(child.wait_with_output());
        }
        let mut per_client = Vec::new();
        for out in futures::future::join_all(children).await {
            let out = out.map_err(|e| Failure::usage(format!("client process: {e}")))?;
            let rate = serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .ok()
                .and_then(|v| v["per_second"].as_f64())
                .ok_or_else(|| {
                    Failure::cluster(format!(
                        "a client process failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ))
                })?;
            per_client.push(rate);
        }
        Ok(ManyClients { per_client })
    }
    .await;
    let _ = client.stop_actors(&ids, &[]).await;
    result
}

/// Runs `f` with a client of a node process started here (`beach node`), or of the cluster
/// the global options name (`--config` or `--seed`, with its secret, admin token and
/// `--realm`).
async fn with_beach_tcp<T>(
    args: &BenchArgs,
    global: &Global,
    f: impl AsyncFnOnce(&beach_core::client::Beach, Vec<String>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    if global.config.is_some() || !global.seeds.is_empty() {
        let client = crate::cmd::connect(global).await?;
        // Client processes reach the same cluster the same way.
        let mut reach = Vec::new();
        if let Some(c) = &global.config {
            reach.extend(["--config".to_owned(), c.display().to_string()]);
        }
        for s in &global.seeds {
            reach.extend(["--seed".to_owned(), s.clone()]);
        }
        reach.extend(["--realm".to_owned(), global.realm.clone()]);
        let result = f(&client, reach).await;
        client.close();
        return result;
    }
    // The node process lives until the measurement is done; see keep_on_failure for its folder.
    let dir = std::env::temp_dir().join(format!("beach-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Failure::usage(format!("{}: {e}", dir.display())))?;
    let result = async {
        let extra = crate::local_cluster::node_options(args, &dir)?;
        let (config, path, nodes) =
            start_nodes(1, &dir, "bench", &extra).map_err(Failure::usage)?;
        let client = connect(&config, &nodes, "bench").await.map_err(Failure::usage)?;
        let reach = vec!["--config".to_owned(), path.display().to_string()];
        let result = f(&client, reach).await;
        client.close();
        result
    }
    .await;
    crate::local_cluster::keep_on_failure(&dir, result)
}

/// Spawns the Echo actors, measures them through `client` and stops them, whatever the
/// outcome.
async fn echo_workloads(
    args: &BenchArgs,
    global: &Global,
    client: &beach_core::client::Beach,
) -> Result<Workloads, Failure> {
    let timeout = global.timeout.unwrap_or(Duration::from_secs(10));
    let category = format!("bench/echo/{}", std::process::id());
    let fan_category = format!("bench/fan/{}", std::process::id());
    let spec = |c: &str| client.actor("Echo", [c]);
    let mut ids = Vec::new();
    let result = async {
        ids.extend(client.add_actor(spec(&category)).await?);
        ids.extend(client.add_actor(spec(&fan_category).count(args.fanout)).await?);
        let handle = client.handle(&category).timeout(timeout);
        let fan = client.handle(&fan_category).timeout(timeout);
        let data = Payload::encode(&serde_bytes_of(args.payload))
            .map_err(|e| Failure::usage(e.to_string()))?;
        measure("tcp", &handle, &fan, &data, args.plan())
            .await
            .map_err(|e| Failure::cluster(e.to_string()))
    }
    .await;
    if !ids.is_empty() {
        let _ = client.stop_actors(&ids, &[]).await;
    }
    result
}
