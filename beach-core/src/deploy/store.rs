//! The replicated set of deployments every node holds: one [`DeployRecord`] per name, the
//! later of two copies winning by a logical clock (never the wall clock), deletions kept as
//! tombstones so an old copy cannot bring a deployment back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::spec::DeploymentSpec;
use crate::model::{Endpoint, NodeId};

/// One deployment as the cluster knows it, at one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployRecord {
    /// The deployment's name.
    pub name: String,
    /// The logical clock: every apply, restart or delete of the name takes the highest
    /// version its node knows plus one. Of two copies the higher `(version, origin)` wins.
    pub version: u64,
    /// The version at which the replicas' template (type, params, categories, ...) last
    /// changed: a replica started for an older one is rolled over.
    pub template: u64,
    /// The node the change went in through; breaks ties between concurrent changes.
    pub origin: NodeId,
    /// The spec, or `None` once deleted (a tombstone).
    pub spec: Option<DeploymentSpec>,
    /// Who owns the deployment: `None` for the CLI and the APIs, or the code directory file
    /// that declares it (then only that file changes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl DeployRecord {
    /// Whether this copy wins over `other` (a later change of the same name).
    pub fn newer_than(&self, other: &DeployRecord) -> bool {
        (self.version, &self.origin) > (other.version, &other.origin)
    }
}

/// Whether a node is drained (cordoned for maintenance: nothing new is placed on it and its
/// deployment replicas are replaced elsewhere), by its endpoint, so a restart of the node
/// keeps it drained. Versioned like a [`DeployRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cordon {
    /// The node's endpoint.
    pub endpoint: Endpoint,
    /// The logical clock, as a record's.
    pub version: u64,
    /// The node the change went in through.
    pub origin: NodeId,
    /// Drained (`true`) or back in service.
    pub drained: bool,
}

/// What nodes send each other to keep their deployments in sync: whole records and cordons
/// (the later copy of each wins).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploySync {
    /// Deployment records.
    pub records: Vec<DeployRecord>,
    /// Drained nodes (and nodes undrained since).
    #[serde(default)]
    pub cordons: Vec<Cordon>,
}

impl DeploySync {
    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.cordons.is_empty()
    }
}

/// What an apply did to one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A new deployment.
    Created,
    /// Its replicas' template changed: they roll over.
    Rolled,
    /// Only its count, placement or rollout changed.
    Scaled,
    /// Nothing changed.
    Unchanged,
    /// Deleted.
    Deleted,
    /// Its replicas are replaced (a restart).
    Restarted,
}

impl Change {
    /// The word the CLI prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Rolled => "rolled over",
            Change::Scaled => "scaled",
            Change::Unchanged => "unchanged",
            Change::Deleted => "deleted",
            Change::Restarted => "restarted",
        }
    }
}

/// The deployments a node knows, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deployments {
    records: BTreeMap<String, DeployRecord>,
    cordons: BTreeMap<Endpoint, Cordon>,
}

impl Deployments {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every record, tombstones included, by name.
    pub fn records(&self) -> impl Iterator<Item = &DeployRecord> {
        self.records.values()
    }

    /// The live deployments (not deleted), by name.
    pub fn live(&self) -> impl Iterator<Item = (&DeployRecord, &DeploymentSpec)> {
        self.records.values().filter_map(|r| r.spec.as_ref().map(|s| (r, s)))
    }

    /// The record of `name`, tombstone or not.
    pub fn get(&self, name: &str) -> Option<&DeployRecord> {
        self.records.get(name)
    }

    /// Everything, to send to a peer.
    pub fn sync(&self) -> DeploySync {
        DeploySync {
            records: self.records.values().cloned().collect(),
            cordons: self.cordons.values().cloned().collect(),
        }
    }

    /// Takes the newer copies of `sync`; whether anything changed.
    pub fn merge_sync(&mut self, sync: DeploySync) -> bool {
        let mut changed = false;
        for r in sync.records {
            changed |= self.merge(r);
        }
        for c in sync.cordons {
            let newer = self
                .cordons
                .get(&c.endpoint)
                .is_none_or(|held| (c.version, &c.origin) > (held.version, &held.origin));
            if newer {
                self.cordons.insert(c.endpoint.clone(), c);
                changed = true;
            }
        }
        changed
    }

    /// Whether `node` is drained.
    pub fn is_drained(&self, node: &NodeId) -> bool {
        self.cordons.get(node.endpoint()).is_some_and(|c| c.drained)
    }

    /// Drains (or undrains) the node at `endpoint` through `origin`; the cordon to spread, or
    /// `None` when it already was so.
    pub fn set_drained(
        &mut self,
        endpoint: &Endpoint,
        drained: bool,
        origin: &NodeId,
    ) -> Option<Cordon> {
        let held = self.cordons.get(endpoint);
        if held.map_or(!drained, |c| c.drained == drained) {
            return None;
        }
        let cordon = Cordon {
            endpoint: endpoint.clone(),
            version: held.map_or(0, |c| c.version) + 1,
            origin: origin.clone(),
            drained,
        };
        self.cordons.insert(endpoint.clone(), cordon.clone());
        Some(cordon)
    }

    /// Takes `record` if it is newer than the copy held; whether it was.
    pub fn merge(&mut self, record: DeployRecord) -> bool {
        match self.records.get(&record.name) {
            Some(held) if !record.newer_than(held) => false,
            _ => {
                self.records.insert(record.name.clone(), record);
                true
            }
        }
    }

    /// What applying `spec` through `origin` would do, without doing it.
    pub fn change_of(&self, spec: &DeploymentSpec) -> Change {
        match self.records.get(&spec.name).and_then(|r| r.spec.as_ref()) {
            None => Change::Created,
            Some(held) if held.template_differs(spec) => Change::Rolled,
            Some(held) if held == spec => Change::Unchanged,
            Some(_) => Change::Scaled,
        }
    }

    /// Applies `spec` (checked) through `origin`, owned by `file` (`None`: the CLI or an API);
    /// the new record, to spread, or `None` when nothing changed.
    pub fn apply(
        &mut self,
        spec: DeploymentSpec,
        origin: &NodeId,
        file: Option<String>,
    ) -> (Change, Option<DeployRecord>) {
        let change = self.change_of(&spec);
        let held = self.records.get(&spec.name);
        if change == Change::Unchanged && held.is_some_and(|r| r.file == file) {
            return (change, None);
        }
        let version = held.map_or(0, |r| r.version) + 1;
        let template = match (change, held) {
            (Change::Created | Change::Rolled, _) | (_, None) => version,
            (_, Some(r)) => r.template,
        };
        let record = DeployRecord {
            name: spec.name.clone(),
            version,
            template,
            origin: origin.clone(),
            spec: Some(spec),
            file,
        };
        self.records.insert(record.name.clone(), record.clone());
        (change, Some(record))
    }

    /// Deletes `name` through `origin`; the tombstone to spread, or `None` when there is no
    /// such live deployment.
    pub fn delete(&mut self, name: &str, origin: &NodeId) -> Option<DeployRecord> {
        let held = self.records.get(name).filter(|r| r.spec.is_some())?;
        let record = DeployRecord {
            name: name.to_owned(),
            version: held.version + 1,
            template: held.template,
            origin: origin.clone(),
            spec: None,
            file: held.file.clone(),
        };
        self.records.insert(name.to_owned(), record.clone());
        Some(record)
    }

    /// Rolls `name`'s replicas over without changing its spec (for a type whose code
    /// changed); the record to spread, or `None` when there is no such live deployment.
    pub fn restart(&mut self, name: &str, origin: &NodeId) -> Option<DeployRecord> {
        let held = self.records.get(name).filter(|r| r.spec.is_some())?;
        let version = held.version + 1;
        let record =
            DeployRecord { version, template: version, origin: origin.clone(), ..held.clone() };
        self.records.insert(name.to_owned(), record.clone());
        Some(record)
    }
}
