//! Spawn strategies: which node a new actor goes to, and why.
//!
//! Each strategy is a pure function of a [`ClusterView`] (the live nodes, their load and how many
//! actors of the hint category each hosts), the placements already decided in the same batch
//! and a seeded RNG. It returns a [`Placement`]: the node and an [`Explanation`] that
//! `--dry-run` shows.
//!
//! Passing the batch's earlier placements in (`pending`) is what lets a burst of spawns spread
//! evenly although the view is not refreshed between them.
//!
//! ```
//! use beach_core::placement::{place, ClusterView, NodeLoad, PlacementRequest, Strategy};
//! use beach_core::rng::seeded;
//!
//! let nodes = ["a:1#1", "b:1#1", "c:1#1"].map(|n| NodeLoad::idle(n.parse().unwrap()));
//! let view = ClusterView::new(nodes.to_vec());
//! let request = PlacementRequest::new(Strategy::Repulsion, Some("svc/pongers"));
//! let mut rng = seeded(7);
//! let mut pending = Vec::new();
//! for _ in 0..30 {
//!     let placement = place(&view, &request, &pending, &mut rng).unwrap();
//!     pending.push(placement.node);
//! }
//! for node in &view.nodes {
//!     assert_eq!(pending.iter().filter(|n| **n == node.id).count(), 10);
//! }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::model::NodeId;

/// A spawn strategy **(fixed names)**.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Any live node, uniformly.
    #[default]
    Random,
    /// The least loaded node by CPU plus memory use.
    Resource,
    /// A node that hosts the hint category; any node if none does.
    Affinity,
    /// The node the hint names (endpoint, host or node id).
    HostAffinity,
    /// The node with the fewest actors of the hint category.
    Repulsion,
    /// Each node in turn.
    Roundrobin,
}

impl Strategy {
    /// Every strategy, in the order they are documented.
    pub const ALL: [Strategy; 6] = [
        Strategy::Random,
        Strategy::Resource,
        Strategy::Affinity,
        Strategy::HostAffinity,
        Strategy::Repulsion,
        Strategy::Roundrobin,
    ];

    /// The strategy's name as users write it.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Random => "random",
            Strategy::Resource => "resource",
            Strategy::Affinity => "affinity",
            Strategy::HostAffinity => "host_affinity",
            Strategy::Repulsion => "repulsion",
            Strategy::Roundrobin => "roundrobin",
        }
    }

    /// Whether the strategy needs a hint.
    pub fn needs_hint(self) -> bool {
        matches!(self, Strategy::Affinity | Strategy::HostAffinity | Strategy::Repulsion)
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = PlacementError;
    fn from_str(s: &str) -> Result<Self, PlacementError> {
        Strategy::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| PlacementError::UnknownStrategy(s.to_owned()))
    }
}

/// Why no node could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// The strategy name is not one of [`Strategy::ALL`].
    #[error(
        "unknown strategy {0:?}: expected one of random, resource, affinity, host_affinity, repulsion, roundrobin"
    )]
    UnknownStrategy(String),
    /// The strategy needs a hint and none was given.
    #[error("strategy {0} needs a hint ({hint})", hint = hint_kind(*.0))]
    MissingHint(Strategy),
    /// `host_affinity` named a node that is not a live member.
    #[error("host_affinity: no live node matches {hint:?} (known: {known})")]
    UnknownNode {
        /// The hint given.
        hint: String,
        /// The live nodes, comma separated.
        known: String,
    },
    /// The view holds no live node.
    #[error("no live node to place the actor on")]
    NoNodes,
}

fn hint_kind(s: Strategy) -> &'static str {
    match s {
        Strategy::HostAffinity => "a node's endpoint, host or id",
        _ => "a category",
    }
}

/// One live node as placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeLoad {
    /// The node.
    pub id: NodeId,
    /// CPU use, 0.0 to 1.0.
    pub cpu: f64,
    /// Memory use, 0.0 to 1.0.
    pub memory: f64,
    /// How many actors of the request's hint category it hosts.
    pub hint_matches: usize,
}

impl NodeLoad {
    /// A node with no load and no actors of the hint.
    pub fn idle(id: NodeId) -> Self {
        Self { id, cpu: 0.0, memory: 0.0, hint_matches: 0 }
    }
}

/// The live nodes to choose among.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterView {
    /// The nodes, sorted by id so that choices do not depend on the order they were learnt in.
    pub nodes: Vec<NodeLoad>,
}

impl ClusterView {
    /// A view of `nodes`, sorted by id. Loads are clamped to 0.0..=1.0, and a load that is
    /// not a number (a peer may report anything) counts as full.
    pub fn new(mut nodes: Vec<NodeLoad>) -> Self {
        let sane = |x: f64| if x.is_nan() { 1.0 } else { x.clamp(0.0, 1.0) };
        for n in &mut nodes {
            n.cpu = sane(n.cpu);
            n.memory = sane(n.memory);
        }
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        nodes.dedup_by(|a, b| a.id == b.id);
        Self { nodes }
    }
}

/// What to place: a strategy and its hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementRequest {
    /// The strategy.
    pub strategy: Strategy,
    /// The hint: a category for `affinity` and `repulsion`, a node for `host_affinity`.
    pub hint: Option<String>,
    /// For `roundrobin`: the node the previous turn went to, kept by the caller across
    /// batches so the turn goes on where it stopped.
    pub previous: Option<NodeId>,
}

impl PlacementRequest {
    /// A request for `strategy` with an optional hint.
    pub fn new(strategy: Strategy, hint: Option<&str>) -> Self {
        Self { strategy, hint: hint.map(str::to_owned), previous: None }
    }
}

/// The chosen node and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The node chosen.
    pub node: NodeId,
    /// Why it was chosen.
    pub explanation: Explanation,
}

/// The reasoning behind a placement, for `--dry-run` and logs.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The strategy applied.
    pub strategy: Strategy,
    /// Each candidate with its score (lower is better; `None` where the strategy does not
    /// score).
    pub candidates: Vec<(NodeId, Option<f64>)>,
    /// One sentence.
    pub reason: String,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.strategy, self.reason)
    }
}

/// Chooses a node for one actor. `pending` holds the nodes already chosen earlier in the same
/// batch; they count as if the view already showed them (for `repulsion` one more actor of the
/// hint, for `resource` a tie-breaker, for `roundrobin` the position in the turn). To place a
/// whole batch, [`place_batch`] is linear in its size.
pub fn place<R: RngExt + ?Sized>(
    view: &ClusterView,
    request: &PlacementRequest,
    pending: &[NodeId],
    rng: &mut R,
) -> Result<Placement, PlacementError> {
    let mut batch = Batch::new(view, request)?;
    for p in pending {
        if let Ok(i) = view.nodes.binary_search_by(|n| n.id.cmp(p)) {
            batch.counts[i] += 1;
        }
    }
    batch.last = pending.last().cloned();
    let (i, explanation) = batch.choose(rng, true);
    Ok(Placement { node: view.nodes[i].id.clone(), explanation: explanation.expect("explained") })
}

/// Chooses the nodes for `count` actors, as `count` calls of [`place`] would, each seeing the
/// ones before, in time linear in `count` (times the number of nodes). Explanations are
/// written only when `explain` (a dry run): otherwise they are left empty.
pub fn place_batch<R: RngExt + ?Sized>(
    view: &ClusterView,
    request: &PlacementRequest,
    count: usize,
    rng: &mut R,
    explain: bool,
) -> Result<Vec<Placement>, PlacementError> {
    let mut batch = Batch::new(view, request)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let (i, explanation) = batch.choose(rng, explain);
        let node = view.nodes[i].id.clone();
        batch.counts[i] += 1;
        batch.last = Some(node.clone());
        let explanation = explanation.unwrap_or_else(|| Explanation {
            strategy: request.strategy,
            candidates: Vec::new(),
            reason: String::new(),
        });
        out.push(Placement { node, explanation });
    }
    Ok(out)
}

/// A batch being placed: how many of it each node got so far, and the last node chosen.
struct Batch<'a> {
    view: &'a ClusterView,
    request: &'a PlacementRequest,
    hint: &'a str,
    counts: Vec<usize>,
    last: Option<NodeId>,
}

impl<'a> Batch<'a> {
    fn new(view: &'a ClusterView, request: &'a PlacementRequest) -> Result<Self, PlacementError> {
        let strategy = request.strategy;
        let hint = match (strategy.needs_hint(), request.hint.as_deref()) {
            (true, None | Some("")) => return Err(PlacementError::MissingHint(strategy)),
            (_, h) => h.unwrap_or(""),
        };
        if view.nodes.is_empty() {
            return Err(PlacementError::NoNodes);
        }
        if strategy == Strategy::HostAffinity && !view.nodes.iter().any(|n| names_node(hint, &n.id))
        {
            return Err(PlacementError::UnknownNode {
                hint: hint.to_owned(),
                known: view.nodes.iter().map(|n| n.id.to_string()).collect::<Vec<_>>().join(", "),
            });
        }
        Ok(Self { view, request, hint, counts: vec![0; view.nodes.len()], last: None })
    }

    /// One choice: the node's index, and why when `explain`.
    fn choose<R: RngExt + ?Sized>(
        &self,
        rng: &mut R,
        explain: bool,
    ) -> (usize, Option<Explanation>) {
        let (view, hint) = (self.view, self.hint);
        let n = view.nodes.len();
        let with_hint = |i: usize| view.nodes[i].hint_matches + self.counts[i];
        // The choice, the candidates' scores (None: the strategy does not score) and why.
        let (i, scores, why): (usize, Option<Vec<f64>>, Why) = match self.request.strategy {
            Strategy::Random => (rng.random_range(0..n), None, Why::Random),
            Strategy::Resource => {
                // Load first; within equal load, fewer placements already made in this batch.
                let scores: Vec<(f64, usize)> = (0..n)
                    .map(|i| (view.nodes[i].cpu + view.nodes[i].memory, self.counts[i]))
                    .collect();
                let best = lowest(&scores, rng);
                (best, Some(scores.iter().map(|s| s.0).collect()), Why::LeastLoaded)
            }
            Strategy::Affinity => {
                let hosts: Vec<usize> = (0..n).filter(|&i| with_hint(i) > 0).collect();
                let scores = explain.then(|| (0..n).map(|i| with_hint(i) as f64).collect());
                if hosts.is_empty() {
                    (rng.random_range(0..n), scores, Why::NoHost)
                } else {
                    (hosts[rng.random_range(0..hosts.len())], scores, Why::Hosts(hosts.len()))
                }
            }
            Strategy::HostAffinity => (
                view.nodes.iter().position(|n| names_node(hint, &n.id)).expect("checked in new"),
                None,
                Why::Named,
            ),
            Strategy::Repulsion => {
                let scores: Vec<(f64, usize)> = (0..n).map(|i| (with_hint(i) as f64, 0)).collect();
                let best = lowest(&scores, rng);
                (best, Some(scores.iter().map(|s| s.0).collect()), Why::Fewest(scores[best].0))
            }
            Strategy::Roundrobin => {
                // The turn continues after the last node chosen, in id order.
                let next = match self.last.as_ref().or(self.request.previous.as_ref()) {
                    Some(last) => view.nodes.iter().position(|n| n.id > *last).unwrap_or(0),
                    None => rng.random_range(0..n),
                };
                (next, None, Why::Turn)
            }
        };
        let explanation = explain.then(|| Explanation {
            strategy: self.request.strategy,
            candidates: (0..n)
                .map(|c| (view.nodes[c].id.clone(), scores.as_ref().map(|s| s[c])))
                .collect(),
            reason: why.say(&view.nodes[i], i, n, hint),
        });
        (i, explanation)
    }
}

/// Why a node was chosen, rendered only for explanations.
enum Why {
    Random,
    LeastLoaded,
    NoHost,
    Hosts(usize),
    Named,
    Fewest(f64),
    Turn,
}

impl Why {
    fn say(&self, node: &NodeLoad, i: usize, n: usize, hint: &str) -> String {
        match self {
            Why::Random => format!("picked at random among {n}"),
            Why::LeastLoaded => format!(
                "least loaded (cpu {:.0}%, memory {:.0}%)",
                node.cpu * 100.0,
                node.memory * 100.0
            ),
            Why::NoHost => format!("no node hosts {hint:?}, picked at random"),
            Why::Hosts(h) => format!("hosts {hint:?} ({h} of {n} nodes do)"),
            Why::Named => format!("named by the hint {hint:?}"),
            Why::Fewest(c) => format!("fewest actors of {hint:?} ({c})"),
            Why::Turn => format!("turn {} of {n}", i + 1),
        }
    }
}

/// The index of the lowest `(score, tie-breaker)`; exact ties are broken at random. A score
/// that is not a number counts as the worst, so no input leaves nothing to choose.
fn lowest<R: RngExt + ?Sized>(scores: &[(f64, usize)], rng: &mut R) -> usize {
    let key = |s: (f64, usize)| (if s.0.is_nan() { f64::INFINITY } else { s.0 }, s.1);
    let min = scores.iter().copied().map(key).fold((f64::INFINITY, usize::MAX), |a, b| {
        if b.0 < a.0 || (b.0 == a.0 && b.1 < a.1) { b } else { a }
    });
    let tied: Vec<usize> = (0..scores.len()).filter(|&i| key(scores[i]) == min).collect();
    tied[rng.random_range(0..tied.len())]
}

/// Whether a `host_affinity` hint names `node`: its full id, its endpoint, or the host part of
/// its endpoint.
fn names_node(hint: &str, node: &NodeId) -> bool {
    let endpoint = node.endpoint().as_str();
    hint == node.to_string() || hint == endpoint || host_of(endpoint) == hint
}

/// The host part of `host:port` (or `[v6]:port`).
fn host_of(endpoint: &str) -> &str {
    let host = endpoint.rsplit_once(':').map_or(endpoint, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Counts of placements per node, for tests and `--dry-run` summaries.
pub fn tally(nodes: &[NodeId]) -> BTreeMap<NodeId, usize> {
    let mut t = BTreeMap::new();
    for n in nodes {
        *t.entry(n.clone()).or_insert(0) += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::Strategy;
    use super::*;
    use crate::rng::seeded;
    use proptest::prelude::*;

    fn id(i: usize) -> NodeId {
        format!("10.0.0.{i}:4999#1").parse().unwrap()
    }

    fn view(n: usize) -> ClusterView {
        ClusterView::new((0..n).map(|i| NodeLoad::idle(id(i))).collect())
    }

    fn batch(view: &ClusterView, req: &PlacementRequest, count: usize, seed: u64) -> Vec<NodeId> {
        let mut rng = seeded(seed);
        let mut pending = Vec::new();
        for _ in 0..count {
            pending.push(place(view, req, &pending, &mut rng).unwrap().node);
        }
        pending
    }

    #[test]
    fn repulsion_spreads_a_burst_evenly_without_a_fresh_view() {
        let req = PlacementRequest::new(Strategy::Repulsion, Some("svc/pongers"));
        for seed in 0..20 {
            let t = tally(&batch(&view(3), &req, 30, seed));
            assert_eq!(t.values().copied().collect::<Vec<_>>(), vec![10, 10, 10], "seed {seed}");
        }
    }

    #[test]
    fn repulsion_fills_the_emptiest_first() {
        let mut v = view(3);
        v.nodes[0].hint_matches = 4;
        v.nodes[1].hint_matches = 1;
        let req = PlacementRequest::new(Strategy::Repulsion, Some("x"));
        let t = tally(&batch(&v, &req, 5, 1));
        // 4/1/0 plus 5 → 4/3/3.
        assert_eq!(t.get(&id(0)), None);
        assert_eq!((t[&id(1)], t[&id(2)]), (2, 3));
    }

    #[test]
    fn resource_picks_the_least_loaded() {
        let mut v = view(3);
        v.nodes[0].cpu = 0.9;
        v.nodes[1].cpu = 0.1;
        v.nodes[1].memory = 0.1;
        v.nodes[2].memory = 0.5;
        let p = place(&v, &PlacementRequest::new(Strategy::Resource, None), &[], &mut seeded(1))
            .unwrap();
        assert_eq!(p.node, id(1));
        assert!(p.explanation.reason.contains("least loaded"), "{}", p.explanation);
        assert_eq!(p.explanation.candidates.len(), 3);
    }

    #[test]
    fn affinity_joins_the_hint_or_falls_back_to_random() {
        let mut v = view(3);
        v.nodes[2].hint_matches = 1;
        let req = PlacementRequest::new(Strategy::Affinity, Some("pingers"));
        for seed in 0..10 {
            assert_eq!(place(&v, &req, &[], &mut seeded(seed)).unwrap().node, id(2));
        }
        let p = place(&view(3), &req, &[], &mut seeded(1)).unwrap();
        assert!(p.explanation.reason.contains("no node hosts"));
    }

    #[test]
    fn host_affinity_takes_id_endpoint_or_host_and_refuses_unknown_nodes() {
        let v = view(3);
        for hint in ["10.0.0.1", "10.0.0.1:4999", "10.0.0.1:4999#1"] {
            let req = PlacementRequest::new(Strategy::HostAffinity, Some(hint));
            assert_eq!(place(&v, &req, &[], &mut seeded(1)).unwrap().node, id(1), "{hint}");
        }
        let req = PlacementRequest::new(Strategy::HostAffinity, Some("10.9.9.9"));
        let err = place(&v, &req, &[], &mut seeded(1)).unwrap_err();
        assert!(matches!(err, PlacementError::UnknownNode { .. }));
        assert!(err.to_string().contains("10.0.0.0:4999#1"), "{err}");
        assert_eq!(host_of("[::1]:4999"), "::1");
    }

    #[test]
    fn roundrobin_takes_turns() {
        let t = batch(&view(3), &PlacementRequest::new(Strategy::Roundrobin, None), 7, 3);
        for w in t.windows(2) {
            assert_ne!(w[0], w[1]);
        }
        assert_eq!(tally(&t).values().copied().max(), Some(3));
        let mut req = PlacementRequest::new(Strategy::Roundrobin, None);
        req.previous = Some(id(2));
        assert_eq!(place(&view(3), &req, &[], &mut seeded(1)).unwrap().node, id(0), "wraps around");
    }

    #[test]
    fn bad_requests_are_clear_errors() {
        let err = "closest".parse::<Strategy>().unwrap_err();
        assert!(err.to_string().contains("host_affinity"), "{err}");
        let req = PlacementRequest::new(Strategy::Repulsion, None);
        assert_eq!(
            place(&view(2), &req, &[], &mut seeded(1)),
            Err(PlacementError::MissingHint(Strategy::Repulsion))
        );
        let req = PlacementRequest::new(Strategy::Random, None);
        assert_eq!(place(&view(0), &req, &[], &mut seeded(1)), Err(PlacementError::NoNodes));
        for s in Strategy::ALL {
            assert_eq!(s.name().parse::<Strategy>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.name()));
        }
    }

    #[test]
    fn a_batch_places_as_one_call_per_actor_would_in_linear_time() {
        let mut v = view(5);
        v.nodes[2].hint_matches = 3;
        v.nodes[1].cpu = 0.5;
        for strategy in [
            Strategy::Random,
            Strategy::Resource,
            Strategy::Affinity,
            Strategy::Repulsion,
            Strategy::Roundrobin,
        ] {
            let req = PlacementRequest::new(strategy, Some("h"));
            let one_by_one = batch(&v, &req, 40, 9);
            let at_once: Vec<NodeId> = place_batch(&v, &req, 40, &mut seeded(9), false)
                .unwrap()
                .into_iter()
                .map(|p| p.node)
                .collect();
            assert_eq!(one_by_one, at_once, "{strategy}");
            let explained = place_batch(&v, &req, 2, &mut seeded(9), true).unwrap();
            assert!(!explained[0].explanation.reason.is_empty(), "{strategy}");
        }
        // 100 000 by repulsion: spread evenly (this took minutes when each placement
        // counted the whole batch before it).
        let req = PlacementRequest::new(Strategy::Repulsion, Some("h"));
        let placed = place_batch(&view(3), &req, 100_000, &mut seeded(1), false).unwrap();
        let nodes: Vec<NodeId> = placed.into_iter().map(|p| p.node).collect();
        let t = tally(&nodes);
        assert!(t.values().all(|&c| (33_333..=33_334).contains(&c)), "{t:?}");
    }

    #[test]
    fn loads_that_are_not_numbers_neither_panic_nor_win() {
        let mut nodes: Vec<NodeLoad> = (0..3).map(|i| NodeLoad::idle(id(i))).collect();
        nodes[0].cpu = f64::NAN;
        nodes[1].memory = f64::INFINITY;
        nodes[2].cpu = 0.7;
        let v = ClusterView::new(nodes);
        assert_eq!((v.nodes[0].cpu, v.nodes[1].memory), (1.0, 1.0));
        let req = PlacementRequest::new(Strategy::Resource, None);
        assert_eq!(place(&v, &req, &[], &mut seeded(1)).unwrap().node, id(2));
        // Even when every score is NaN, something is chosen.
        let scores = [(f64::NAN, 0), (f64::NAN, 0)];
        assert!(lowest(&scores, &mut seeded(1)) < 2);
    }

    proptest! {
        #[test]
        fn repulsion_never_leaves_a_gap_over_one(n in 1usize..8, count in 0usize..60, seed: u64) {
            let req = PlacementRequest::new(Strategy::Repulsion, Some("c"));
            let t = tally(&batch(&view(n), &req, count, seed));
            let counts: Vec<usize> = (0..n).map(|i| t.get(&id(i)).copied().unwrap_or(0)).collect();
            prop_assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1);
        }

        #[test]
        fn random_only_picks_live_nodes(n in 1usize..8, seed: u64) {
            let v = view(n);
            let p = place(&v, &PlacementRequest::new(Strategy::Random, None), &[], &mut seeded(seed)).unwrap();
            prop_assert!(v.nodes.iter().any(|x| x.id == p.node));
        }
    }
}
