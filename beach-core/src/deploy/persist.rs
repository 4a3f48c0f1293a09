//! Keeping the deployments across a restart of the whole cluster: a node given a
//! [`DeployStore`] loads the set at start and saves it after every change. (Without one the
//! set lives in memory on every node, which survives the restart of any one node.)

use super::store::DeploySync;

/// Where a node keeps its deployments: `beach-node` writes a file in `state_dir`; a
/// simulation can keep them in memory to restart a whole simulated cluster.
pub trait DeployStore: Send + Sync + std::fmt::Debug {
    /// The deployments saved last, or `None` when nothing was saved yet. An error names what
    /// could not be read: the node refuses to start rather than forget deployments.
    fn load(&self) -> Result<Option<DeploySync>, String>;
    /// Saves the deployments, replacing what was saved (atomically: a crash mid-save leaves
    /// the previous copy).
    fn save(&self, sync: &DeploySync) -> Result<(), String>;
}
