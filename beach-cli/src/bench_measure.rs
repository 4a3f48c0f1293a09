//! The measurement loops every `beach bench` target runs: sequential requests, requests with a
//! window in flight, and fan-out to every actor of a category, with a progress line on a
//! terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use beach_core::actor::{Handle, RequestError};
use beach_core::value::Payload;
use serde::{Deserialize, Serialize};

/// What to measure.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Plan {
    /// Sequential requests (after a tenth as many to warm up), then as many with `inflight`
    /// in flight.
    pub(crate) requests: u32,
    pub(crate) inflight: u32,
    /// Fan-out rounds: `request_from_all` to every actor of the fan-out category.
    pub(crate) fanout_rounds: u32,
}

/// Latencies (nanoseconds) and a rate (per second) of one workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Measured {
    pub(crate) latencies_ns: Vec<u64>,
    pub(crate) per_second: f64,
}

/// What [`measure`] found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Workloads {
    /// Request/response to one Echo actor: sequential latencies, pipelined requests per second.
    pub(crate) requests: Measured,
    /// One round to every actor of the fan-out category: round latencies, replies per second.
    pub(crate) fanout: Measured,
    /// How many actors each fan-out round reached.
    pub(crate) fanout_actors: usize,
}

/// Shows `label: step done/total` on stderr when it is a terminal, about every 1 %; nothing
/// in pipes and files, so `--json` output and logs stay clean.
struct Progress {
    label: String,
    show: bool,
    last: Instant,
}

impl Progress {
    fn new(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            show: std::io::stderr().is_terminal(),
            last: Instant::now(),
        }
    }

    fn at(&mut self, step: &str, done: usize, total: usize) {
        if self.show && (done == total || self.last.elapsed() >= Duration::from_millis(200)) {
            self.last = Instant::now();
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[K{}: {step} {done}/{total}", self.label);
            let _ = err.flush();
        }
    }

    fn done(&self) {
        if self.show {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

/// `n` requests through `echo` with `window` of them in flight at all times; requests per
/// second.
pub(crate) async fn pipelined(
    echo: &Handle,
    data: &Payload,
    n: usize,
    window: usize,
) -> Result<f64, RequestError> {
    let window = window.max(1);
    let start = Instant::now();
    let workers = (0..window).map(|w| {
        let share = n / window + usize::from(w < n % window);
        async move {
            for _ in 0..share {
                echo.request_payload("echo", data.clone()).await?;
            }
            Ok::<_, RequestError>(())
        }
    });
    for r in futures::future::join_all(workers).await {
        r?;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Runs the plan: `echo` reaches one Echo actor, `fan` the fan-out category.
pub(crate) async fn measure(
    label: &str,
    echo: &Handle,
    fan: &Handle,
    data: &Payload,
    plan: Plan,
) -> Result<Workloads, RequestError> {
    let mut progress = Progress::new(label);
    let n = plan.requests as usize;
    let warm_up = n / 10;
    for i in 0..warm_up {
        echo.request_payload("echo", data.clone()).await?;
        progress.at("warm-up", i + 1, warm_up);
    }
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        echo.request_payload("echo", data.clone()).await?;
        latencies.push(t.elapsed().as_nanos() as u64);
        progress.at("sequential", i + 1, n);
    }
    progress.at("pipelined", 0, n);
    let pipelined = pipelined(echo, data, n, plan.inflight as usize).await?;
    progress.at("pipelined", n, n);

    let rounds = plan.fanout_rounds as usize;
    let mut fan_latencies = Vec::with_capacity(rounds);
    let mut replies = 0usize;
    let start = Instant::now();
    for i in 0..rounds {
        let t = Instant::now();
        for (_, r) in fan.request_from_all("echo", data)?.collect_all().await {
            r?;
            replies += 1;
        }
        fan_latencies.push(t.elapsed().as_nanos() as u64);
        progress.at("fan-out", i + 1, rounds);
    }
    let fanout_rate = replies as f64 / start.elapsed().as_secs_f64();
    progress.done();
    Ok(Workloads {
        requests: Measured { latencies_ns: latencies, per_second: pipelined },
        fanout: Measured { latencies_ns: fan_latencies, per_second: fanout_rate },
        fanout_actors: fan.num_available(),
    })
}

/// `n` sequential calls of `op` (after a tenth as many to warm up), then `n` with `window` in
/// flight: the sequential latencies and the rate with the window.
pub(crate) async fn timed<F, Fut, E>(n: usize, window: usize, op: F) -> Result<Measured, E>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
{
    for _ in 0..n / 10 {
        op().await?;
    }
    let mut latencies_ns = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        op().await?;
        latencies_ns.push(t.elapsed().as_nanos() as u64);
    }
    let window = window.max(1);
    let start = Instant::now();
    let workers = (0..window).map(|w| {
        let share = n / window + usize::from(w < n % window);
        let op = &op;
        async move {
            for _ in 0..share {
                op().await?;
            }
            Ok::<_, E>(())
        }
    });
    for r in futures::future::join_all(workers).await {
        r?;
    }
    Ok(Measured { latencies_ns, per_second: n as f64 / start.elapsed().as_secs_f64() })
}

/// A byte string of `n` bytes (a CBOR byte string, as user data usually is).
pub(crate) fn serde_bytes_of(n: usize) -> beach_core::value::Value {
    beach_core::value::Value::Bytes(vec![7u8; n])
}
