//! The strategies a lab compares: beach's own, and any a user writes in Rust.
//!
//! A built-in placement goes through a real spawn request (the entry node places the batch as
//! in production), a built-in routing mode through a real handle. A custom [`Placer`] chooses
//! nodes from the same [`ClusterView`] the built-ins see, and its actors are spawned on those
//! nodes; a custom [`Router`] chooses the member for each request, and the lab retries on
//! another member by the same rule as beach's handles (DESIGN §5).

use std::fmt;
use std::sync::Arc;

use beach_core::model::{ActorId, NodeId};
use beach_core::placement::{ClusterView, Strategy};
use beach_core::rng::NodeRng;
use beach_core::routing::Mode;

/// A placement function of the user's: which node each actor of a batch goes to.
///
/// ```
/// use beach_core::model::NodeId;
/// use beach_core::placement::ClusterView;
/// use beach_core::rng::NodeRng;
/// use beach_transport_mem::lab::Placer;
///
/// /// Every actor on the node with the fewest actors of the category, counting the batch.
/// struct Fewest;
/// impl Placer for Fewest {
///     fn name(&self) -> String { "fewest".into() }
///     fn place(&self, view: &ClusterView, count: usize, _rng: &mut NodeRng) -> Vec<NodeId> {
///         let mut counts: Vec<usize> = view.nodes.iter().map(|n| n.hint_matches).collect();
///         (0..count)
///             .map(|_| {
///                 let i = (0..counts.len()).min_by_key(|&i| counts[i]).unwrap();
///                 counts[i] += 1;
///                 view.nodes[i].id.clone()
///             })
///             .collect()
///     }
/// }
/// ```
pub trait Placer: Send + Sync + 'static {
    /// Its name in reports.
    fn name(&self) -> String;
    /// A node for each of `count` actors. `view` lists the live nodes with their CPU and
    /// memory use and how many actors of the workload's category each hosts. Fewer nodes than
    /// `count` count as spawns that failed; a node not in the view fails its spawn.
    fn place(&self, view: &ClusterView, count: usize, rng: &mut NodeRng) -> Vec<NodeId>;
}

/// A routing function of the user's: which member serves a request.
///
/// ```
/// use beach_core::model::ActorId;
/// use beach_core::rng::NodeRng;
/// use beach_transport_mem::lab::Router;
///
/// /// Key hash modulo the number of members: sticky, but a membership change moves most keys.
/// struct Modulo;
/// impl Router for Modulo {
///     fn name(&self) -> String { "modulo".into() }
///     fn pick(&self, members: &[ActorId], key: u32, tried: &[ActorId], _rng: &mut NodeRng) -> ActorId {
///         let fresh: Vec<&ActorId> = members.iter().filter(|m| !tried.contains(m)).collect();
///         let pool = if fresh.is_empty() { members.iter().collect() } else { fresh };
///         pool[key as usize % pool.len()].clone()
///     }
/// }
/// ```
pub trait Router: Send + Sync + 'static {
    /// Its name in reports.
    fn name(&self) -> String;
    /// The member that serves a request for `key`, from `members` (never empty; sorted);
    /// `tried` holds the members whose attempts failed already.
    fn pick(&self, members: &[ActorId], key: u32, tried: &[ActorId], rng: &mut NodeRng) -> ActorId;
}

/// A placement the lab compares.
#[derive(Clone)]
pub enum Placement {
    /// One of beach's spawn strategies, through a real spawn request.
    Builtin(Strategy),
    /// The user's.
    Custom(Arc<dyn Placer>),
}

/// A routing the lab compares.
#[derive(Clone)]
pub enum Routing {
    /// One of beach's routing modes, through a real handle.
    Builtin(Mode),
    /// The user's.
    Custom(Arc<dyn Router>),
}

impl Placement {
    /// Its name in reports.
    pub fn name(&self) -> String {
        match self {
            Placement::Builtin(s) => s.name().to_owned(),
            Placement::Custom(p) => p.name(),
        }
    }
}

impl Routing {
    /// Its name in reports.
    pub fn name(&self) -> String {
        match self {
            Routing::Builtin(m) => m.name().to_owned(),
            Routing::Custom(r) => r.name(),
        }
    }
}

impl fmt::Debug for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl fmt::Debug for Routing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}
