//! Deployments: actors the cluster keeps running. A user declares a [`DeploymentSpec`]
//! (`replicas` in all or `per_node`); the spec is replicated to every node in a
//! [`Deployments`] set (a logical clock per name, the later apply winning); and on each sync
//! period the node that acts for a deployment (the [`reconciler`], chosen by rendezvous
//! hashing of its name over the live nodes, with no election) runs the pure [`reconcile`]
//! and starts or stops replicas. Replicas carry their deployment and template version in
//! their directory entry ([`Owner`]); actors spawned by hand carry none and are never
//! touched.

mod calls;
mod persist;
mod reconcile;
mod spec;
mod store;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use calls::{DeployAnswer, DeployOp, DeployStatus};
pub use persist::DeployStore;
pub use reconcile::{Counts, Plan, Replica, Start, counts, reconcile, reconciler};
pub use spec::{
    DeployFile, DeploymentSpec, MAX_DEPLOYMENT_NAME, MAX_REPLICAS, Replicas, Rollout, check_name,
};
pub use store::{Change, Cordon, DeployRecord, DeploySync, Deployments};

/// The deployment that started an actor, as its directory entry records it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Owner {
    /// The deployment's name.
    pub deployment: String,
    /// The template version the actor was started for.
    pub template: u64,
    /// When it was started, in milliseconds since the Unix epoch by its reconciler's clock
    /// (for `max_age`); 0 when unknown.
    #[serde(default)]
    pub born_ms: u64,
}
