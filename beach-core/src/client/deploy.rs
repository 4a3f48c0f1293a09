//! Deployments from a client: apply, delete, restart and status (what `beach deploy` does),
//! and draining nodes (`beach drain`).

use super::{Beach, ClientError, unexpected};
use crate::deploy::{Change, DeployAnswer, DeployOp, DeployStatus, DeploymentSpec};
use crate::wire::{AdminAnswer, AdminOp};

impl Beach {
    /// Applies deployment specs (all or none: one bad spec refuses the call); what changed
    /// for each. With `dry_run`, only says what would change. The cluster then keeps each
    /// deployment's replicas running (see [`crate::deploy`]).
    ///
    /// ```no_run
    /// # async fn f(beach: beach_core::client::Beach) -> Result<(), Box<dyn std::error::Error>> {
    /// use beach_core::deploy::DeployFile;
    /// let file = DeployFile::parse(&std::fs::read_to_string("deploy.yaml")?)?;
    /// for (name, change) in beach.deploy_apply(file.deployments, false).await? {
    ///     println!("{name}: {}", change.as_str());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn deploy_apply(
        &self,
        specs: Vec<DeploymentSpec>,
        dry_run: bool,
    ) -> Result<Vec<(String, Change)>, ClientError> {
        self.deploy_change(DeployOp::Apply { specs, dry_run }).await
    }

    /// Deletes a deployment; its replicas stop.
    pub async fn deploy_delete(&self, name: &str) -> Result<(), ClientError> {
        self.deploy_change(DeployOp::Delete { name: name.to_owned() }).await.map(drop)
    }

    /// Replaces a deployment's replicas, honouring its rollout limits (for a type whose code
    /// changed in the code directory).
    pub async fn deploy_restart(&self, name: &str) -> Result<(), ClientError> {
        self.deploy_change(DeployOp::Restart { name: name.to_owned() }).await.map(drop)
    }

    /// The status of the named deployments, or of all when `names` is empty.
    pub async fn deploy_status(&self, names: &[&str]) -> Result<Vec<DeployStatus>, ClientError> {
        let names = names.iter().map(|n| (*n).to_owned()).collect();
        match self.admin(AdminOp::Deploy(DeployOp::Status { names })).await? {
            AdminAnswer::Deploy(DeployAnswer::Status(s)) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }

    /// Drains a node (named by address `host:port` or id) for maintenance, or puts it back
    /// in service (`drained: false`): nothing new is placed on a drained node, and its
    /// deployment replicas are started elsewhere, then stop. Whether it changed anything.
    pub async fn drain(&self, node: &str, drained: bool) -> Result<bool, ClientError> {
        let op = DeployOp::Drain { node: node.to_owned(), drained };
        match self.admin(AdminOp::Deploy(op)).await? {
            AdminAnswer::Deploy(DeployAnswer::Drained { changed, .. }) => Ok(changed),
            other => Err(unexpected(&other)),
        }
    }

    async fn deploy_change(&self, op: DeployOp) -> Result<Vec<(String, Change)>, ClientError> {
        match self.admin(AdminOp::Deploy(op)).await? {
            AdminAnswer::Deploy(DeployAnswer::Changed(c)) => Ok(c),
            other => Err(unexpected(&other)),
        }
    }
}
