//! What a lab run found: the figures of each variant (a placement with a routing mode),
//! computed from what the runs recorded, as a document (`--json`) and a terminal table.
//!
//! Every figure is in virtual time and comes from the seed alone, so the same seed gives the
//! same report, byte for byte.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use beach_core::model::ActorId;
use serde::Serialize;

use super::run::{RunData, SAMPLE_EVERY, Sample};

/// A whole lab report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// The seed every variant ran from.
    pub seed: u64,
    /// How long requests flowed, in seconds.
    pub duration_s: f64,
    /// The nodes at the start.
    pub nodes: usize,
    /// The events, as the first variant saw them.
    pub events: Vec<EventInfo>,
    /// One per placement and routing compared.
    pub variants: Vec<Variant>,
}

/// An event of the scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventInfo {
    /// When, in seconds from the start of the request stream.
    pub at_s: f64,
    /// What happened.
    pub label: String,
}

/// The figures of one placement with one routing mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// `placement / routing`.
    pub name: String,
    /// The placement strategy.
    pub placement: String,
    /// The routing mode.
    pub routing: String,
    /// How the actors were spread.
    pub spread: Spread,
    /// How the requests fared.
    pub requests: Requests,
    /// How keys stayed with actors.
    pub affinity: Affinity,
    /// Recovery after each event, in the order of [`Report::events`].
    pub recovery: Vec<Recovery>,
    /// Latency over time, one point per second.
    pub series: Series,
}

/// Placement: actors per node, CPU and memory balance, failed spawns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    /// Actors on each node after the spawn phase.
    pub actors_per_node: Vec<usize>,
    /// The most actors on one node.
    pub max: usize,
    /// The fewest actors on one node.
    pub min: usize,
    /// The standard deviation of actors per node.
    pub stddev: f64,
    /// Each node's mean CPU use over the run (0-1), while it was up.
    pub cpu_per_node: Vec<f64>,
    /// The busiest node's mean CPU use.
    pub cpu_max: f64,
    /// The standard deviation of the nodes' mean CPU use.
    pub cpu_stddev: f64,
    /// The standard deviation of the nodes' memory use after the spawn phase.
    pub memory_stddev: f64,
    /// Actors on each node at the end.
    pub final_actors_per_node: Vec<usize>,
    /// Actors asked for and not spawned (the spawn phase and respawns).
    pub spawn_failures: u32,
}

/// Routing: latency, errors, retries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Requests {
    /// Requests sent.
    pub sent: usize,
    /// Requests that failed.
    pub errors: usize,
    /// Failures by error.
    pub errors_by_kind: BTreeMap<String, usize>,
    /// Attempts after the first, over all requests.
    pub retries: u64,
    /// Latency percentiles over every request (a failure counts with the time it took to
    /// fail), in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// The share of requests served by a slow node, or failed or retried because a node was
    /// down or cut off.
    pub troubled_share: f64,
}

/// Affinity: how requests for a key stay with one actor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Affinity {
    /// Of the successful requests for keys asked twice or more, the share served by the
    /// key's most frequent actor (1.0: every key always on one actor).
    pub stickiness: f64,
    /// Per event: keys that changed actor across it.
    pub moves: Vec<KeyMoves>,
}

/// Keys that changed actor across one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyMoves {
    /// Keys served both before and after the event.
    pub keys: usize,
    /// Of those, keys served by another actor after it.
    pub moved: usize,
    /// Of the moved, keys whose actor was not lost in the event and that did not go to an
    /// actor spawned since: moves a stable mapping would not make (rendezvous makes none).
    pub needless: usize,
}

/// How the cluster came back after one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recovery {
    /// Requests that failed after the event (before the next one).
    pub failed: usize,
    /// Milliseconds from the event until the last of those failures ended: after it, every
    /// request succeeded (0 when none failed).
    pub requests_ok_after_ms: f64,
    /// Milliseconds from the event (from the heal, for a partition) until every node agreed
    /// on members and directory; `None` if not before the next event or the end.
    pub converged_after_ms: Option<f64>,
}

/// Per-second figures, by the second requests were sent in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// Requests sent.
    pub requests: Vec<usize>,
    /// Of those, failed.
    pub errors: Vec<usize>,
    /// Median latency in ms (0 for a second without requests).
    pub p50_ms: Vec<f64>,
    /// 99th percentile latency in ms.
    pub p99_ms: Vec<f64>,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// The `q` quantile of sorted durations, in ms.
fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    ms(sorted[i])
}

fn mean_stddev(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, round3(var.sqrt()))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Variant {
    /// The figures of one run.
    pub(crate) fn of(
        placement: String,
        routing: String,
        data: &RunData,
        duration: Duration,
    ) -> Self {
        let mut samples: Vec<&Sample> = data.samples.iter().collect();
        samples.sort_by_key(|s| (s.sent, s.key));
        let recovery = recovery(&samples, data, duration);
        Self {
            name: format!("{placement} / {routing}"),
            placement,
            routing,
            spread: spread(data),
            requests: requests(&samples),
            affinity: affinity(&samples, data, duration, &recovery),
            recovery,
            series: series(&samples, duration),
        }
    }
}

fn spread(data: &RunData) -> Spread {
    let actors = &data.initial_actors;
    let counts: Vec<f64> = actors.iter().map(|&a| a as f64).collect();
    let cpu_per_node: Vec<f64> = (0..data.cpu.first().map_or(0, Vec::len))
        .filter_map(|i| {
            let up: Vec<f64> = data.cpu.iter().filter_map(|s| s[i]).collect();
            (!up.is_empty()).then(|| round3(up.iter().sum::<f64>() / up.len() as f64))
        })
        .collect();
    let first_memory: Vec<f64> =
        data.memory.first().map(|m| m.iter().flatten().copied().collect()).unwrap_or_default();
    Spread {
        actors_per_node: actors.clone(),
        max: actors.iter().copied().max().unwrap_or(0),
        min: actors.iter().copied().min().unwrap_or(0),
        stddev: mean_stddev(&counts).1,
        cpu_max: cpu_per_node.iter().copied().fold(0.0, f64::max),
        cpu_stddev: mean_stddev(&cpu_per_node).1,
        cpu_per_node,
        memory_stddev: mean_stddev(&first_memory).1,
        final_actors_per_node: data.final_actors.clone(),
        spawn_failures: data.spawn_failures,
    }
}

fn requests(samples: &[&Sample]) -> Requests {
    let mut took: Vec<Duration> = samples.iter().map(|s| s.took).collect();
    took.sort();
    let mut errors_by_kind = BTreeMap::new();
    for e in samples.iter().filter_map(|s| s.error.as_ref()) {
        *errors_by_kind.entry(e.clone()).or_default() += 1;
    }
    let troubled = samples.iter().filter(|s| s.hit_trouble).count();
    Requests {
        sent: samples.len(),
        errors: samples.iter().filter(|s| s.error.is_some()).count(),
        errors_by_kind,
        retries: samples.iter().map(|s| u64::from(s.retries)).sum(),
        p50_ms: quantile(&took, 0.5),
        p99_ms: quantile(&took, 0.99),
        p999_ms: quantile(&took, 0.999),
        troubled_share: round3(troubled as f64 / samples.len().max(1) as f64),
    }
}

/// The window of time an event owns: from it to the next event (or the end).
fn windows(data: &RunData, duration: Duration) -> Vec<(Duration, Duration)> {
    let ats: Vec<Duration> = data.events.iter().map(|e| e.at).collect();
    ats.iter()
        .enumerate()
        .map(|(i, &at)| (at, ats.get(i + 1).copied().unwrap_or(duration).max(at)))
        .collect()
}

fn recovery(samples: &[&Sample], data: &RunData, duration: Duration) -> Vec<Recovery> {
    windows(data, duration)
        .into_iter()
        .zip(&data.events)
        .map(|((from, to), event)| {
            // A failure belongs to the event in force when it ended: a request sent just
            // before a restart fails because of the restart.
            let failed: Vec<&&Sample> = samples
                .iter()
                .filter(|s| s.error.is_some() && (from..to).contains(&(s.sent + s.took)))
                .collect();
            let last_end = failed.iter().map(|s| s.sent + s.took).max();
            Recovery {
                failed: failed.len(),
                requests_ok_after_ms: last_end.map_or(0.0, |end| ms(end.saturating_sub(from))),
                converged_after_ms: event.converged_after.map(ms),
            }
        })
        .collect()
}

fn affinity(
    samples: &[&Sample],
    data: &RunData,
    duration: Duration,
    recoveries: &[Recovery],
) -> Affinity {
    let ok: Vec<(&Sample, &ActorId)> =
        samples.iter().filter_map(|s| s.served_by.as_ref().map(|a| (*s, a))).collect();
    let mut per_key: BTreeMap<u32, BTreeMap<&ActorId, usize>> = BTreeMap::new();
    for (s, a) in &ok {
        *per_key.entry(s.key).or_default().entry(a).or_default() += 1;
    }
    let (mut top, mut total) = (0, 0);
    for served in per_key.values() {
        let n: usize = served.values().sum();
        if n >= 2 {
            top += served.values().max().copied().unwrap_or(0);
            total += n;
        }
    }
    let starts: Vec<Duration> = data.events.iter().map(|e| e.at).collect();
    let moves = windows(data, duration)
        .into_iter()
        .enumerate()
        .map(|(i, (at, to))| {
            // Before: since the last change of members (an event, or actors spawned again),
            // so that a key's server before is its settled one.
            let previous = if i == 0 { Duration::ZERO } else { starts[i - 1] };
            let spawned = data.born.values().copied().filter(|b| *b < at).max();
            let before_from = spawned.map_or(previous, |b| b.max(previous));
            let settled = at + Duration::from_secs_f64(recoveries[i].requests_ok_after_ms / 1e3);
            let mut before: BTreeMap<u32, &ActorId> = BTreeMap::new();
            let mut after: BTreeMap<u32, &ActorId> = BTreeMap::new();
            for (s, a) in &ok {
                if s.sent >= before_from && s.sent < at {
                    before.insert(s.key, a);
                } else if s.sent >= settled && s.sent < to {
                    after.entry(s.key).or_insert(a);
                }
            }
            let lost = &data.events[i].lost;
            let new = |a: &ActorId| data.born.get(a).is_some_and(|b| *b > at);
            let (mut keys, mut moved, mut needless) = (0, 0, 0);
            for (k, b) in &before {
                let Some(a) = after.get(k) else { continue };
                keys += 1;
                if a != b {
                    moved += 1;
                    if !lost.contains(b) && !new(a) {
                        needless += 1;
                    }
                }
            }
            KeyMoves { keys, moved, needless }
        })
        .collect();
    Affinity { stickiness: round3(top as f64 / total.max(1) as f64), moves }
}

fn series(samples: &[&Sample], duration: Duration) -> Series {
    let seconds = duration.as_secs_f64().div_euclid(SAMPLE_EVERY.as_secs_f64()).max(1.0) as usize;
    let mut took: Vec<Vec<Duration>> = vec![Vec::new(); seconds];
    let mut errors = vec![0; seconds];
    for s in samples {
        let i = (s.sent.as_secs_f64() as usize).min(seconds - 1);
        took[i].push(s.took);
        errors[i] += usize::from(s.error.is_some());
    }
    for t in &mut took {
        t.sort();
    }
    Series {
        requests: took.iter().map(Vec::len).collect(),
        errors,
        p50_ms: took.iter().map(|t| quantile(t, 0.5)).collect(),
        p99_ms: took.iter().map(|t| quantile(t, 0.99)).collect(),
    }
}

/// One table of the report, for the terminal and the page alike: headings and rows of cells.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Table {
    /// What the table is about.
    pub(crate) title: &'static str,
    /// The column headings.
    pub(crate) headings: &'static [&'static str],
    /// How many leading columns are labels (aligned left); the rest are figures.
    pub(crate) labels: usize,
    /// The rows, one cell per heading.
    pub(crate) rows: Vec<Vec<String>>,
}

impl Table {
    /// The table as text: labels aligned left, figures right.
    fn text(&self) -> String {
        let mut widths: Vec<usize> = self.headings.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut out = String::new();
            for (i, (cell, w)) in cells.zip(&widths).enumerate() {
                let gap = if i == 0 { "" } else { "  " };
                let _ = if i < self.labels {
                    write!(out, "{gap}{cell:<w$}")
                } else {
                    write!(out, "{gap}{cell:>w$}")
                };
            }
            out.trim_end().to_owned()
        };
        let mut out = format!("\n{}\n", self.title);
        out.push_str(&line(&mut self.headings.iter().copied()));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(&mut row.iter().map(String::as_str)));
            out.push('\n');
        }
        out
    }
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

impl Report {
    /// Latency, errors, retries, trouble, stickiness and needless key moves per variant.
    pub(crate) fn requests_table(&self) -> Table {
        Table {
            title: "Requests",
            labels: 1,
            headings: &[
                "variant",
                "p50 ms",
                "p99 ms",
                "p99.9 ms",
                "sent",
                "errors",
                "retries",
                "met trouble",
                "stickiness",
                "needless key moves",
            ],
            rows: self
                .variants
                .iter()
                .map(|v| {
                    let r = &v.requests;
                    vec![
                        v.name.clone(),
                        format!("{:.2}", r.p50_ms),
                        format!("{:.2}", r.p99_ms),
                        format!("{:.2}", r.p999_ms),
                        r.sent.to_string(),
                        r.errors.to_string(),
                        r.retries.to_string(),
                        percent(r.troubled_share),
                        percent(v.affinity.stickiness),
                        v.affinity.moves.iter().map(|m| m.needless).sum::<usize>().to_string(),
                    ]
                })
                .collect(),
        }
    }

    /// Actors per node, CPU and memory balance and failed spawns per variant.
    pub(crate) fn spread_table(&self) -> Table {
        Table {
            title: "Placement",
            labels: 1,
            headings: &[
                "variant",
                "max",
                "min",
                "stddev",
                "busiest CPU",
                "CPU stddev",
                "memory stddev",
                "failed spawns",
                "actors per node",
                "at the end",
            ],
            rows: self
                .variants
                .iter()
                .map(|v| {
                    let s = &v.spread;
                    let list = |l: &[usize]| {
                        l.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
                    };
                    vec![
                        v.name.clone(),
                        s.max.to_string(),
                        s.min.to_string(),
                        format!("{:.2}", s.stddev),
                        format!("{:.0}%", s.cpu_max * 100.0),
                        format!("{:.3}", s.cpu_stddev),
                        format!("{:.3}", s.memory_stddev),
                        s.spawn_failures.to_string(),
                        list(&s.actors_per_node),
                        list(&s.final_actors_per_node),
                    ]
                })
                .collect(),
        }
    }

    /// Per event and variant: failures, recovery, convergence, keys moved.
    pub(crate) fn recovery_table(&self) -> Table {
        let mut rows = Vec::new();
        for (i, e) in self.events.iter().enumerate() {
            for v in &self.variants {
                let (r, m) = (&v.recovery[i], &v.affinity.moves[i]);
                rows.push(vec![
                    format!("{:.1} s {}", e.at_s, e.label),
                    v.name.clone(),
                    r.failed.to_string(),
                    format!("{:.0} ms", r.requests_ok_after_ms),
                    r.converged_after_ms.map_or("no".into(), |c| format!("{c:.0} ms")),
                    format!("{}/{}", m.moved, m.keys),
                    m.needless.to_string(),
                ]);
            }
        }
        Table {
            title: "After each event",
            labels: 2,
            headings: &[
                "event",
                "variant",
                "failed",
                "all ok after",
                "converged after",
                "keys moved",
                "needless",
            ],
            rows,
        }
    }

    /// The report as terminal tables: requests, placement, and what followed each event.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{}: {} nodes, {} s of requests, seed {}\n",
            self.scenario, self.nodes, self.duration_s, self.seed
        );
        out.push_str(&self.requests_table().text());
        out.push_str(&self.spread_table().text());
        if !self.events.is_empty() {
            out.push_str(&self.recovery_table().text());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_the_sample_at_or_above_the_rank() {
        let d: Vec<Duration> = (1..=1000).map(Duration::from_millis).collect();
        assert_eq!(quantile(&d, 0.5), 500.0);
        assert_eq!(quantile(&d, 0.99), 990.0);
        assert_eq!(quantile(&d, 0.999), 999.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
        assert_eq!(mean_stddev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]), (5.0, 2.0));
    }
}
