//! A realm's `deployments.yaml` in the code directory (the role of py-beach's Patrol file):
//! every node reads `<code_directory>/<realm>/deployments.yaml` every few seconds and, when it
//! changed on this node, applies it: its deployments are owned by the file, and removing one
//! from the file (or the file) deletes it. A file that does not parse is logged once per
//! content and changes nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use beach_core::deploy::DeployFile;
use beach_core::model::Realm;
use beach_core::node::Node;

use super::CodeDirectory;

/// The file's name in a realm's folder.
const FILE: &str = "deployments.yaml";

/// How often the files are read.
const SCAN: Duration = Duration::from_secs(2);

impl CodeDirectory {
    /// Applies each realm's `deployments.yaml` to `node` when it changes, until the node
    /// stops. The first look waits a few sync periods, so a node that just joined holds the
    /// cluster's deployments before it compares a file with them.
    pub fn watch_deployments(self: &Arc<Self>, node: Node, sync_interval: Duration) {
        let code = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(sync_interval * 3).await;
            let mut seen: BTreeMap<Realm, Option<String>> = BTreeMap::new();
            while !node.is_stopped() {
                code.apply_changed(&node, &mut seen).await;
                tokio::time::sleep(SCAN).await;
            }
        });
    }

    /// One look at every realm's file; `seen` holds each realm's content at the last look.
    async fn apply_changed(&self, node: &Node, seen: &mut BTreeMap<Realm, Option<String>>) {
        let mut realms = self.folder.realms();
        realms.extend(seen.keys().cloned());
        realms.sort();
        realms.dedup();
        for realm in realms {
            let path = self.folder.realm_dir(&realm).join(FILE);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => Some(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot read the deployments file");
                    continue;
                }
            };
            let first = !seen.contains_key(&realm);
            let before = seen.insert(realm.clone(), text.clone()).flatten();
            if (first && text.is_none()) || (!first && before == text) {
                continue;
            }
            let label = format!("{realm}/{FILE}");
            let specs = match text.as_deref().map(|t| DeployFile::parse_in(t, &realm)) {
                None => Vec::new(),
                Some(Ok(file)) => file.deployments,
                Some(Err(e)) => {
                    tracing::warn!(file = %path.display(), error = %e, "the deployments file is not valid; nothing applied");
                    continue;
                }
            };
            if let Err(e) = node.apply_deployment_file(&label, &realm, specs).await {
                tracing::warn!(file = %path.display(), error = %e, "the deployments file was not applied");
            }
        }
    }
}
