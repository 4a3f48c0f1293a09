//! The strategy lab: what spawn strategies and routing modes *do* on a simulated cluster.
//!
//! A [`Scenario`] (YAML, the file `beach sim` reads) describes nodes (count, cores, memory,
//! link latency and loss), a workload (actors, a request stream with keys, payloads and
//! service times) and events (crash, restart, partition, join waves, slow nodes, scale-out). The lab runs
//! it once per placement and routing compared, each time on a fresh cluster of real beach
//! nodes in virtual time from the same seed, and reports per variant: actors per node and
//! CPU balance, latency percentiles, errors and retries, the share of requests that met a
//! slow or failing node, how keys stay with actors and how many move needlessly across an
//! event, and how soon requests succeed and directories agree again after each event.
//!
//! Strategies written in Rust join the built-in ones through [`Lab::placer`] and
//! [`Lab::router`]:
//!
//! ```
//! use beach_core::model::ActorId;
//! use beach_core::rng::NodeRng;
//! use beach_transport_mem::lab::{Lab, Router, Scenario};
//!
//! struct First;
//! impl Router for First {
//!     fn name(&self) -> String { "first".into() }
//!     fn pick(&self, members: &[ActorId], _key: u32, _tried: &[ActorId], _rng: &mut NodeRng) -> ActorId {
//!         members[0].clone()
//!     }
//! }
//!
//! let scenario = Scenario::parse(
//!     "duration: 3s\nnodes: {count: 3}\nworkload: {actors: 6, spawn_batch: 6, rate: 50}\ncompare: {routing: [random]}",
//! ).unwrap();
//! let report = Lab::new(scenario).router(First).run().unwrap();
//! let first = report.variants.iter().find(|v| v.routing == "first").unwrap();
//! assert_eq!(first.affinity.stickiness, 1.0, "one actor serves everything");
//! assert_eq!(report.variants.len(), 2);
//! ```

mod html;
mod report;
mod run;
mod scenario;
mod strategy;
mod work;

use std::sync::Arc;

pub use report::{
    Affinity, EventInfo, KeyMoves, Recovery, Report, Requests, Series, Spread, Variant,
};
pub use scenario::{
    Compare, Event, KeyDistribution, LinkOverride, NodeOverride, Nodes, Partition, Scenario,
    ScenarioError, Slow, Workload,
};
pub use strategy::{Placement, Placer, Router, Routing};

/// A lab: a scenario and the strategies to compare on it.
#[derive(Debug, Clone)]
pub struct Lab {
    scenario: Scenario,
    placements: Vec<Placement>,
    routings: Vec<Routing>,
}

/// Why a lab could not report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabError {
    /// The scenario does not check out.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A variant's run could not go on.
    #[error("{variant}: {why}")]
    Run {
        /// The variant.
        variant: String,
        /// Why.
        why: String,
    },
}

impl Lab {
    /// A lab comparing the scenario's built-in placements and routing modes.
    pub fn new(scenario: Scenario) -> Self {
        let placements =
            scenario.compare.placement.iter().copied().map(Placement::Builtin).collect();
        let routings = scenario.compare.routing.iter().copied().map(Routing::Builtin).collect();
        Self { scenario, placements, routings }
    }

    /// Runs from `seed` instead of the scenario's.
    pub fn seed(mut self, seed: u64) -> Self {
        self.scenario.seed = seed;
        self
    }

    /// Compares a placement of the user's too.
    pub fn placer(mut self, placer: impl Placer) -> Self {
        self.placements.push(Placement::Custom(Arc::new(placer)));
        self
    }

    /// Compares a routing of the user's too.
    pub fn router(mut self, router: impl Router) -> Self {
        self.routings.push(Routing::Custom(Arc::new(router)));
        self
    }

    /// The scenario.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The variants a run compares: every placement with every routing.
    pub fn variants(&self) -> Vec<(Placement, Routing)> {
        self.placements
            .iter()
            .flat_map(|p| self.routings.iter().map(move |r| (p.clone(), r.clone())))
            .collect()
    }

    /// Runs every variant and reports.
    ///
    /// # Panics
    /// Inside an async runtime (the simulations block the calling thread): call it from a
    /// plain thread, or `spawn_blocking`.
    pub fn run(&self) -> Result<Report, LabError> {
        self.run_with(|_| {})
    }

    /// [`Lab::run`], calling `progress` with each variant's name before it runs.
    pub fn run_with(&self, mut progress: impl FnMut(&str)) -> Result<Report, LabError> {
        self.scenario.check()?;
        let mut report = Report {
            scenario: self.scenario.name.clone(),
            seed: self.scenario.seed,
            duration_s: self.scenario.duration.as_secs_f64(),
            nodes: self.scenario.nodes.count,
            events: Vec::new(),
            variants: Vec::new(),
        };
        for (placement, routing) in self.variants() {
            let name = format!("{} / {}", placement.name(), routing.name());
            progress(&name);
            let data = run::run(&self.scenario, &placement, &routing, self.scenario.seed)
                .map_err(|why| LabError::Run { variant: name, why })?;
            if report.events.is_empty() {
                report.events = data
                    .events
                    .iter()
                    .map(|e| EventInfo { at_s: e.at.as_secs_f64(), label: e.label.clone() })
                    .collect();
            }
            report.variants.push(Variant::of(
                placement.name(),
                routing.name(),
                &data,
                self.scenario.duration,
            ));
        }
        Ok(report)
    }
}
