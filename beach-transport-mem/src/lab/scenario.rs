//! A lab scenario: the YAML file `beach sim` reads (examples in `examples/scenarios/`).
//!
//! Every field but `compare` has a default, so a scenario names only what it is about. Times
//! are human durations (`250ms`, `20s`); node numbers count from 0 in the order nodes join.
//! [`Scenario::parse`] reads and checks one, naming the field at fault.

use std::time::Duration;

use beach_core::placement::Strategy;
use beach_core::routing::Mode;
use serde::{Deserialize, Deserializer, Serialize};

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A title for the report.
    #[serde(default = "default_name")]
    pub name: String,
    /// The seed every variant runs from (`beach sim --sim-seed` overrides it).
    #[serde(default = "one")]
    pub seed: u64,
    /// How long requests flow, in virtual time, after the actors are spawned.
    #[serde(default = "sixty_seconds", with = "duration")]
    pub duration: Duration,
    /// The cluster.
    #[serde(default)]
    pub nodes: Nodes,
    /// The actors and the requests they serve.
    #[serde(default)]
    pub workload: Workload,
    /// What happens during the run, in time order or not.
    #[serde(default)]
    pub events: Vec<Event>,
    /// The strategies and modes to compare: every placement with every routing mode.
    pub compare: Compare,
}

/// The simulated nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Nodes {
    /// How many nodes start.
    pub count: usize,
    /// How many requests a node serves at once (its cores); more wait.
    pub cores: u32,
    /// Its memory in MB, which actors fill (`workload.actor_memory`).
    pub memory: u32,
    /// One-way latency of every link.
    #[serde(with = "duration")]
    pub latency: Duration,
    /// Extra delay per message, drawn from zero to this (it reorders messages).
    #[serde(with = "duration")]
    pub jitter: Duration,
    /// The share of messages lost, 0 to 0.5.
    pub loss: f64,
    /// Nodes that differ from the rest.
    pub overrides: Vec<NodeOverride>,
    /// Links that differ from the rest (both ways), such as a far data centre.
    pub links: Vec<LinkOverride>,
}

impl Default for Nodes {
    fn default() -> Self {
        Self {
            count: 6,
            cores: 4,
            memory: 4096,
            latency: Duration::from_micros(500),
            jitter: Duration::ZERO,
            loss: 0.0,
            overrides: Vec::new(),
            links: Vec::new(),
        }
    }
}

/// One node's own capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeOverride {
    /// The node's number.
    pub node: usize,
    /// Its cores, if not the default.
    pub cores: Option<u32>,
    /// Its memory in MB, if not the default.
    pub memory: Option<u32>,
}

/// The link between two nodes, both ways, when it differs from the default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkOverride {
    /// The two nodes.
    pub between: [usize; 2],
    /// One-way latency.
    #[serde(with = "duration")]
    pub latency: Duration,
    /// Extra delay per message, drawn from zero to this.
    #[serde(default = "zero", with = "duration")]
    pub jitter: Duration,
    /// The share of messages lost, 0 to 0.5.
    #[serde(default)]
    pub loss: f64,
}

/// How keys are drawn for requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyDistribution {
    /// Every key as likely.
    Uniform,
    /// Key k with weight 1/k: a few hot keys, a long tail.
    Zipf,
}

/// The actors and the request stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    /// The category the actors join and the requests ask.
    pub category: String,
    /// How many actors.
    pub actors: u32,
    /// Memory each actor takes, in MB.
    pub actor_memory: u32,
    /// Actors per spawn request: one placement decision places a batch.
    pub spawn_batch: u32,
    /// The time between spawn requests, for loads to show in the next decision.
    #[serde(with = "duration")]
    pub spawn_every: Duration,
    /// After a crash or restart, spawn as many actors as were lost (as a supervisor or a
    /// deployment would), this long after the event; `0s` never.
    #[serde(with = "duration")]
    pub respawn_after: Duration,
    /// Requests per second (Poisson arrivals).
    pub rate: f64,
    /// How many distinct keys requests carry.
    pub keys: u32,
    /// How keys are drawn.
    pub key_distribution: KeyDistribution,
    /// Bytes of payload per request.
    pub payload: usize,
    /// Mean service time of a request (exponentially distributed), on a node that is not slow.
    #[serde(with = "duration")]
    pub service_time: Duration,
    /// A request's timeout, retries included.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Retries after failures where the request surely did not run (DESIGN §5).
    pub retries: u32,
}

impl Default for Workload {
    fn default() -> Self {
        Self {
            category: "svc/work".into(),
            actors: 24,
            actor_memory: 64,
            spawn_batch: 4,
            spawn_every: Duration::from_secs(1),
            respawn_after: Duration::from_secs(8),
            rate: 300.0,
            keys: 1000,
            key_distribution: KeyDistribution::Uniform,
            payload: 128,
            service_time: Duration::from_millis(2),
            timeout: Duration::from_secs(2),
            retries: 1,
        }
    }
}

/// One event: `at` and exactly one of the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// When, from the start of the request stream.
    #[serde(with = "duration")]
    pub at: Duration,
    /// A node stops without a word; its actors are gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash: Option<usize>,
    /// A node restarts as a new member (crashing first if it runs), without its actors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<usize>,
    /// A node serves slower for a while.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow: Option<Slow>,
    /// Some nodes are cut from the rest for a while.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Partition>,
    /// This many new nodes join (default capacity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<usize>,
    /// This many more actors are spawned by the variant's placement (scaling out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawn: Option<u32>,
}

/// A slow node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slow {
    /// The node.
    pub node: usize,
    /// Service times are multiplied by this.
    pub factor: f64,
    /// For how long.
    #[serde(rename = "for", with = "duration")]
    pub lasts: Duration,
}

/// A partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// The nodes on one side; every other node is on the other.
    pub nodes: Vec<usize>,
    /// For how long.
    #[serde(rename = "for", with = "duration")]
    pub lasts: Duration,
}

/// What to compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compare {
    /// Spawn strategies (`host_affinity` places on node 0).
    #[serde(default = "random_placement")]
    pub placement: Vec<Strategy>,
    /// Routing modes (`affinity` routes by the request's key).
    #[serde(default = "random_routing")]
    pub routing: Vec<Mode>,
}

/// The most requests one variant may send: the report keeps each one (about 100 bytes).
const MAX_REQUESTS: f64 = 10_000_000.0;

/// What is wrong with a scenario.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scenario: {0}")]
pub struct ScenarioError(pub String);

impl Scenario {
    /// Reads a scenario from YAML and checks it.
    ///
    /// ```
    /// use beach_transport_mem::lab::Scenario;
    ///
    /// let s = Scenario::parse("compare: {placement: [random, repulsion], routing: [affinity]}").unwrap();
    /// assert_eq!(s.nodes.count, 6);
    /// let e = Scenario::parse("compare: {placement: [nearest]}").unwrap_err();
    /// assert!(e.to_string().contains("nearest"), "{e}");
    /// ```
    pub fn parse(yaml: &str) -> Result<Self, ScenarioError> {
        let s: Scenario = serde_yaml::from_str(yaml).map_err(|e| ScenarioError(e.to_string()))?;
        s.check()?;
        Ok(s)
    }

    /// The number of nodes that ever exist: those that start and those that join.
    pub fn max_nodes(&self) -> usize {
        self.events.iter().filter_map(|e| e.join).fold(self.nodes.count, usize::saturating_add)
    }

    /// Checks what YAML cannot: ranges, node numbers, one action per event.
    pub fn check(&self) -> Result<(), ScenarioError> {
        let bad = |m: String| Err(ScenarioError(m));
        let (n, w) = (&self.nodes, &self.workload);
        if !(1..=1000).contains(&n.count) {
            return bad(format!("nodes.count is {}: from 1 to 1000", n.count));
        }
        if n.cores == 0 || n.memory == 0 {
            return bad("nodes.cores and nodes.memory must be above 0".into());
        }
        if !(0.0..=0.5).contains(&n.loss) {
            return bad(format!("nodes.loss is {}: from 0 to 0.5", n.loss));
        }
        if self.duration.is_zero() || self.duration > Duration::from_secs(3600) {
            return bad("duration: from 1ms to 1h of virtual time".into());
        }
        let hour = Duration::from_secs(3600);
        let mut times = vec![
            ("workload.spawn_every", w.spawn_every, hour),
            ("workload.respawn_after", w.respawn_after, hour),
            ("workload.service_time", w.service_time, hour),
            ("workload.timeout", w.timeout, hour),
            ("nodes.latency", n.latency, Duration::from_secs(10)),
            ("nodes.jitter", n.jitter, Duration::from_secs(10)),
        ];
        for l in &n.links {
            times.push(("nodes.links latency", l.latency, Duration::from_secs(10)));
            times.push(("nodes.links jitter", l.jitter, Duration::from_secs(10)));
        }
        for e in &self.events {
            let lasts = e.slow.as_ref().map(|s| s.lasts).or(e.partition.as_ref().map(|p| p.lasts));
            times.extend(lasts.map(|d| ("events: for", d, hour)));
        }
        if let Some((name, d, max)) = times.into_iter().find(|(_, d, max)| d > max) {
            return bad(format!(
                "{name} is {}: at most {}",
                humantime::format_duration(d),
                humantime::format_duration(max)
            ));
        }
        if w.category.trim().is_empty() {
            return bad("workload.category is empty".into());
        }
        if !(1..=10_000).contains(&w.actors) || w.spawn_batch == 0 {
            return bad("workload.actors: from 1 to 10000, in batches of at least 1".into());
        }
        if !(w.rate > 0.0 && w.rate <= 100_000.0) {
            return bad(format!("workload.rate is {}: above 0, at most 100000 a second", w.rate));
        }
        // Every request is kept until the report is made (about 100 bytes each).
        let requests = w.rate * self.duration.as_secs_f64();
        if requests > MAX_REQUESTS {
            return bad(format!(
                "workload.rate × duration is {requests:.0} requests per variant: at most {MAX_REQUESTS:.0}"
            ));
        }
        if !(1..=10_000_000).contains(&w.keys) {
            return bad(format!("workload.keys is {}: from 1 to 10000000", w.keys));
        }
        if w.timeout.is_zero() {
            return bad("workload.timeout must be above 0".into());
        }
        if w.payload > 1 << 20 {
            return bad("workload.payload: at most 1 MiB".into());
        }
        if self.compare.placement.is_empty() || self.compare.routing.is_empty() {
            return bad("compare: name at least one placement and one routing mode".into());
        }
        for o in &n.overrides {
            if o.node >= n.count {
                return bad(format!(
                    "nodes.overrides: no node {} (nodes 0 to {})",
                    o.node,
                    n.count - 1
                ));
            }
        }
        let all = self.max_nodes();
        if all > 1000 {
            return bad(format!("nodes.count and the join waves make {all} nodes: at most 1000"));
        }
        for (i, l) in n.links.iter().enumerate() {
            if let Some(x) = l.between.iter().find(|&&x| x >= all) {
                return bad(format!("nodes.links[{i}]: no node {x} (nodes 0 to {})", all - 1));
            }
            if !(0.0..=0.5).contains(&l.loss) {
                return bad(format!("nodes.links[{i}].loss is {}: from 0 to 0.5", l.loss));
            }
        }
        // The nodes that exist at each event: those that started, and the join waves before
        // it (a wave at the same moment counts if it comes first in the file).
        let mut order: Vec<usize> = (0..self.events.len()).collect();
        order.sort_by_key(|&i| self.events[i].at);
        let mut existing = vec![0; self.events.len()];
        let mut count = n.count;
        for &i in &order {
            existing[i] = count;
            count = count.saturating_add(self.events[i].join.unwrap_or(0));
        }
        for (i, e) in self.events.iter().enumerate() {
            let actions = [
                e.crash.is_some(),
                e.restart.is_some(),
                e.slow.is_some(),
                e.partition.is_some(),
                e.join.is_some(),
                e.spawn.is_some(),
            ];
            if actions.iter().filter(|a| **a).count() != 1 {
                return bad(format!(
                    "events[{i}]: give exactly one of crash, restart, slow, partition, join, spawn"
                ));
            }
            if e.at > self.duration {
                return bad(format!("events[{i}]: at is after the run's duration"));
            }
            let mut named: Vec<usize> = e.crash.into_iter().chain(e.restart).collect();
            if let Some(s) = &e.slow {
                if !(s.factor >= 1.0 && s.factor <= 1000.0) {
                    return bad(format!("events[{i}].slow.factor is {}: from 1 to 1000", s.factor));
                }
                named.push(s.node);
            }
            if let Some(p) = &e.partition {
                if p.nodes.is_empty() {
                    return bad(format!("events[{i}].partition.nodes is empty"));
                }
                named.extend(&p.nodes);
            }
            if e.join == Some(0) || e.spawn == Some(0) {
                return bad(format!("events[{i}]: join and spawn need at least 1"));
            }
            if let Some(bad_node) = named.iter().find(|&&x| x >= existing[i]) {
                return bad(format!(
                    "events[{i}]: no node {bad_node} at {} (nodes 0 to {} then)",
                    humantime::format_duration(e.at),
                    existing[i] - 1
                ));
            }
        }
        Ok(())
    }
}

fn default_name() -> String {
    "scenario".into()
}

fn one() -> u64 {
    1
}

fn zero() -> Duration {
    Duration::ZERO
}

fn sixty_seconds() -> Duration {
    Duration::from_secs(60)
}

fn random_placement() -> Vec<Strategy> {
    vec![Strategy::Random]
}

fn random_routing() -> Vec<Mode> {
    vec![Mode::Random]
}

/// Durations as humans write them (`250ms`, `1m 30s`), both ways.
mod duration {
    use super::*;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim()).map_err(|e| {
            serde::de::Error::custom(format!("{text:?} is not a duration like 250ms or 20s: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_scenario_reads_back_as_written() {
        let s = Scenario::parse(
            "name: t\nseed: 9\nduration: 30s\nnodes: {count: 4, latency: 2ms, overrides: [{node: 1, cores: 8}], links: [{between: [0, 5], latency: 30ms, loss: 0.01}]}\n\
             workload: {actors: 8, key_distribution: zipf}\n\
             events:\n  - {at: 10s, crash: 2}\n  - {at: 12s, slow: {node: 1, factor: 5, for: 3s}}\n  - {at: 14s, join: 2}\n  - {at: 15s, spawn: 4}\n  - {at: 20s, partition: {nodes: [5], for: 2s}}\n\
             compare: {placement: [random, roundrobin], routing: [random, affinity]}\n",
        )
        .unwrap();
        assert_eq!(s.nodes.latency, Duration::from_millis(2));
        assert_eq!(s.max_nodes(), 6);
        assert_eq!(s.events[1].slow.as_ref().unwrap().lasts, Duration::from_secs(3));
        let again = Scenario::parse(&serde_yaml::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn bad_scenarios_name_what_is_wrong() {
        let cases = [
            ("compare: {}\nnodes: {count: 0}", "nodes.count"),
            ("compare: {}\nduration: soon", "soon"),
            ("compare: {}\nevents: [{at: 1s}]", "exactly one"),
            ("compare: {}\nevents: [{at: 1s, crash: 1, join: 1}]", "exactly one"),
            ("compare: {}\nevents: [{at: 1s, spawn: 0}]", "at least 1"),
            ("compare: {}\nevents: [{at: 1s, crash: 6}]", "no node 6"),
            ("compare: {}\nevents: [{at: 1s, join: 1}, {at: 2s, crash: 6}]", ""),
            ("compare: {}\nevents: [{at: 3s, join: 1}, {at: 2s, crash: 6}]", "no node 6 at 2s"),
            (
                "compare: {}\nevents: [{at: 2s, slow: {node: 7, factor: 2, for: 1s}}, {at: 1s, join: 1}]",
                "no node 7",
            ),
            ("compare: {}\nevents: [{at: 2m, crash: 1}]", "after the run"),
            ("compare: {routing: [sideways]}", "sideways"),
            ("compare: {}\nworkload: {rate: 0}", "workload.rate"),
            ("compare: {}\nworkload: {keys: 4000000000}", "workload.keys"),
            ("compare: {}\nworkload: {timeout: 1000000years}", "workload.timeout is"),
            (
                "compare: {}\nevents: [{at: 1s, slow: {node: 1, factor: 2, for: 9999h}}]",
                "events: for",
            ),
            ("compare: {}\nnodes: {latency: 1m}", "nodes.latency"),
            ("compare: {}\nevents: [{at: 1s, join: 99999999}]", "at most 1000"),
            (
                "compare: {}\nevents: [{at: 1s, join: 18446744073709551615}, {at: 2s, join: 9}]",
                "at most 1000",
            ),
            ("compare: {}\nduration: 1h\nworkload: {rate: 5000}", "18000000 requests"),
            ("compare: {}\nnodes: {colour: red}", "colour"),
            (
                "compare: {}\nnodes: {links: [{between: [0, 6], latency: 1ms}]}",
                "nodes.links[0]: no node 6",
            ),
            ("compare: {}\nnodes: {links: [{between: [0, 1], latency: 1ms, loss: 2}]}", "loss"),
            ("compare: {placement: []}", "at least one"),
            ("nodes: {count: 2}", "compare"),
            ("compare: {}\nevents: [{at: 1s, slow: {node: 1, factor: 0.5, for: 1s}}]", "factor"),
        ];
        for (yaml, says) in cases {
            match Scenario::parse(yaml) {
                Err(e) => assert!(e.to_string().contains(says), "{yaml}: {e}"),
                Ok(_) if says.is_empty() => {}
                Ok(_) => panic!("{yaml} was accepted"),
            }
        }
    }
}
