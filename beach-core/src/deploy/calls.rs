//! The deployment calls a client makes of a node (`beach deploy ...`), and their answers.

use serde::{Deserialize, Serialize};

use super::spec::DeploymentSpec;
use super::store::Change;
use crate::model::Realm;

/// A deployment call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeployOp {
    /// Applies each spec (a later apply of a name wins); with `dry_run`, only says what would
    /// change.
    Apply {
        /// The specs.
        specs: Vec<DeploymentSpec>,
        /// Only compare.
        dry_run: bool,
    },
    /// Deletes a deployment and stops its replicas.
    Delete {
        /// Its name.
        name: String,
    },
    /// Replaces a deployment's replicas, honouring its rollout limits.
    Restart {
        /// Its name.
        name: String,
    },
    /// The status of the named deployments, or of all when `names` is empty.
    Status {
        /// The names.
        names: Vec<String>,
    },
    /// Drains (or undrains) a node, named by endpoint or node id: nothing new is placed on
    /// it, and its deployment replicas are replaced elsewhere, then stop.
    Drain {
        /// The node.
        node: String,
        /// `false` to put it back in service.
        drained: bool,
    },
    /// Records and cordons changed on the sending node, to keep and confirm (only nodes send
    /// it, to each other).
    Take(super::store::DeploySync),
    /// The last error each deployment's reconciler on the receiving node met (what a node
    /// asks every node for, to answer [`DeployOp::Status`]).
    Errors,
}

impl DeployOp {
    /// Whether the call changes the cluster (and so needs the admin token).
    pub fn changes(&self) -> bool {
        match self {
            DeployOp::Apply { dry_run, .. } => !dry_run,
            DeployOp::Delete { .. }
            | DeployOp::Restart { .. }
            | DeployOp::Drain { .. }
            | DeployOp::Take(_) => true,
            DeployOp::Status { .. } | DeployOp::Errors => false,
        }
    }
}

/// The answer to a [`DeployOp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeployAnswer {
    /// What an apply, delete or restart did (or would do), per deployment.
    Changed(Vec<(String, Change)>),
    /// The deployments' status, by name.
    Status(Vec<DeployStatus>),
    /// [`DeployOp::Take`] is done.
    Taken,
    /// A drain or undrain: the node's endpoint, and whether it changed anything.
    Drained {
        /// The node's endpoint.
        endpoint: crate::model::Endpoint,
        /// Whether the node was not already so.
        changed: bool,
    },
    /// The last error per deployment, with when it happened (milliseconds since the Unix
    /// epoch by the node's clock; only to order errors from several nodes).
    Errors(Vec<(String, u64, String)>),
}

/// Where a deployment stands: `beach deploy status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployStatus {
    /// Its name.
    pub name: String,
    /// Its realm.
    pub realm: Realm,
    /// The replicas wanted.
    pub desired: u32,
    /// The replicas running.
    pub running: u32,
    /// The replicas running for the current template.
    pub updated: u32,
    /// The spec's version (bumped by every apply that changed it, and by restarts).
    pub version: u64,
    /// Exactly the desired replicas run, all updated.
    pub complete: bool,
    /// The last error its reconciler met while it is not complete (an `init` that failed, no
    /// node offering the type, ...).
    pub last_error: Option<String>,
    /// What holds now, as words a script can test: `available` (at least the desired count
    /// less `max_unavailable` run), `progressing` (replicas start or stop), `rolling` (some run
    /// an older template), `failing` (the last start failed), `drained` (some run on a drained
    /// node, to be replaced).
    pub conditions: Vec<String>,
    /// The code directory file that owns it, if one does.
    pub file: Option<String>,
    /// The spec.
    pub spec: DeploymentSpec,
}
