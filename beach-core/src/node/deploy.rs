//! Deployments on a node: the replicated set of specs, the `beach deploy` calls, and the loop
//! that reconciles the deployments this node acts for (see [`crate::deploy`]).
//!
//! Every sync period the node sends its whole set to one random member (a change goes to
//! every member at once), then, for each deployment whose [`reconciler`] it is among the live
//! nodes, runs [`reconcile`] over the replicas its directory shows and starts and stops
//! replicas through the same admin calls as `beach spawn` and `beach stop`. A start that fails
//! (an `init` error, no node offering the type) is retried with exponential backoff, and the
//! error shows in `beach deploy status` until the deployment is complete.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rand::RngExt;

use super::NodeInner;
use crate::auth::Role;
use crate::deploy::{
    Change, DeployAnswer, DeployOp, DeployRecord, DeployStatus, DeploySync, DeploymentSpec,
    Deployments, Owner, Plan, Replica, counts, reconcile, reconciler,
};
use crate::directory::Directory;
use crate::model::NodeId;
use crate::wire::{AdminAnswer, AdminOp, Envelope, SpawnSpec};

/// The first wait after a failed start; doubled by each failure in a row.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between two tries of a failing start.
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// How long a change waits for another node to confirm it.
const REPLICATE_WAIT: Duration = Duration::from_secs(2);

/// What a call changed, per deployment.
type Changes = Vec<(String, Change)>;

/// A node's deployment state: the replicated set, and its own reconciling's failures.
#[derive(Default)]
pub(crate) struct DeployState {
    pub(crate) set: Deployments,
    failing: BTreeMap<String, Failing>,
    /// What was saved last to the node's [`crate::deploy::DeployStore`], if it has one.
    saved: Option<DeploySync>,
    /// The last save failed (logged once until one succeeds).
    save_failing: bool,
    /// Each deployment's (desired count, template) when this node last found it complete:
    /// starts at the same ones replace lost replicas (restarts).
    complete: BTreeMap<String, Shape>,
}

/// Starts of a deployment that failed in a row on this node.
struct Failing {
    count: u32,
    retry_at: Instant,
    /// The last error, and when (milliseconds since the Unix epoch by the node's clock: only
    /// to tell which of several nodes' errors is the latest).
    error: (u64, String),
}

impl NodeInner {
    /// Takes the later copy of each record and cordon from a peer; wakes the reconciler on a
    /// change.
    pub(crate) fn merge_deployments(&self, mut sync: DeploySync) {
        sync.records.retain(|r| match r.spec.as_ref().map(DeploymentSpec::check) {
            Some(Err(e)) => {
                tracing::warn!(deployment = %r.name, error = %e, "ignored a deployment record");
                false
            }
            _ => true,
        });
        if self.lock().deploy.set.merge_sync(sync) {
            self.deploy_wake.notify_one();
        }
    }

    /// Sends a change made here to every member and returns once one of them confirmed it
    /// (at once when this node has no members: a one-node cluster). So an acknowledged change
    /// outlives the loss of this node. When none confirms within [`REPLICATE_WAIT`], the
    /// change stays here, spreads by anti-entropy when the others are reachable, and the
    /// caller is told it is not confirmed.
    async fn replicate(self: &Arc<Self>, sync: DeploySync) -> Result<(), String> {
        use futures::StreamExt;
        self.deploy_wake.notify_one();
        if sync.is_empty() {
            return Ok(());
        }
        let members: Vec<NodeId> = self.lock().membership.members().cloned().collect();
        if members.is_empty() {
            return Ok(());
        }
        let token = self.forwarded_token(self.config.admin_token.clone());
        let mut calls: futures::stream::FuturesUnordered<_> = members
            .iter()
            .map(|m| {
                let op = AdminOp::Deploy(DeployOp::Take(sync.clone()));
                let call = self.links.admin(m.endpoint(), token.clone(), op, REPLICATE_WAIT);
                crate::runtime::timeout(&*self.runtime, REPLICATE_WAIT, call)
            })
            .collect();
        let mut last = String::from("no answer");
        while let Some(answer) = calls.next().await {
            match answer {
                Some(Ok(AdminAnswer::Deploy(DeployAnswer::Taken))) => return Ok(()),
                Some(Ok(other)) => last = format!("unexpected answer {other:?}"),
                Some(Err(e)) => last = e,
                None => last = "timeout".to_owned(),
            }
        }
        Err(format!(
            "not confirmed: none of the {} other nodes took the change within {REPLICATE_WAIT:?} ({last}); it is kept on this node and spreads when they are reachable",
            members.len()
        ))
    }

    /// Saves the set to the node's store when it changed since the last save.
    fn save_deployments(&self) {
        let Some(store) = &self.deploy_store else { return };
        let sync = {
            let st = self.lock();
            let sync = st.deploy.set.sync();
            if st.deploy.saved.as_ref() == Some(&sync) {
                return;
            }
            sync
        };
        let result = store.save(&sync);
        let mut st = self.lock();
        match result {
            Ok(()) => {
                st.deploy.saved = Some(sync);
                st.deploy.save_failing = false;
            }
            Err(e) => {
                if !st.deploy.save_failing {
                    tracing::error!(error = %e, "cannot save the deployments; retrying every sync period");
                }
                st.deploy.save_failing = true;
            }
        }
    }

    /// Sends the whole set to one random member (anti-entropy), if there is anything.
    fn gossip_deployments(&self) {
        let st = &mut *self.lock();
        let sync = st.deploy.set.sync();
        if sync.is_empty() {
            return;
        }
        let members: Vec<&NodeId> = st.membership.members().collect();
        if members.is_empty() {
            return;
        }
        let peer = members[st.rng.random_range(0..members.len())].clone();
        self.links.send(peer.endpoint(), Envelope::Deployments(sync));
    }

    /// Answers a deployment call.
    pub(super) async fn handle_deploy(
        self: &Arc<Self>,
        op: DeployOp,
        token: Option<String>,
    ) -> Result<AdminAnswer, String> {
        let answer = match op {
            DeployOp::Apply { specs, dry_run } => {
                let (changes, records) = self.apply(specs, dry_run)?;
                self.replicate(DeploySync { records, cordons: vec![] }).await?;
                DeployAnswer::Changed(changes)
            }
            DeployOp::Delete { name } => {
                let record = self.owned_by_api(&name, |set, me| set.delete(&name, me))?;
                self.replicate(DeploySync { records: vec![record], cordons: vec![] }).await?;
                DeployAnswer::Changed(vec![(name, Change::Deleted)])
            }
            DeployOp::Restart { name } => {
                let record = self.owned_by_api(&name, |set, me| set.restart(&name, me))?;
                self.replicate(DeploySync { records: vec![record], cordons: vec![] }).await?;
                DeployAnswer::Changed(vec![(name, Change::Restarted)])
            }
            DeployOp::Drain { node, drained } => {
                let endpoint = self.member_endpoint(&node)?;
                let cordon = self.lock().deploy.set.set_drained(&endpoint, drained, &self.id);
                let changed = cordon.is_some();
                if let Some(c) = cordon {
                    tracing::info!(node = %endpoint, drained, "drain changed");
                    self.replicate(DeploySync { records: vec![], cordons: vec![c] }).await?;
                }
                DeployAnswer::Drained { endpoint, changed }
            }
            DeployOp::Take(sync) => {
                self.merge_deployments(sync);
                DeployAnswer::Taken
            }
            DeployOp::Status { names } => DeployAnswer::Status(self.status(names, token).await?),
            DeployOp::Errors => {
                let st = self.lock();
                let errors = st.deploy.failing.iter();
                DeployAnswer::Errors(
                    errors.map(|(n, f)| (n.clone(), f.error.0, f.error.1.clone())).collect(),
                )
            }
        };
        Ok(AdminAnswer::Deploy(answer))
    }

    /// Checks and applies `specs` (all or none); what changed (or would), and the records of
    /// the names applied, to replicate.
    fn apply(
        &self,
        specs: Vec<DeploymentSpec>,
        dry_run: bool,
    ) -> Result<(Changes, Vec<DeployRecord>), String> {
        let mut names = std::collections::BTreeSet::new();
        for s in &specs {
            s.check()?;
            if !names.insert(s.name.as_str()) {
                return Err(format!("deployment {} is named twice", s.name));
            }
            if !self.config.allows(&s.realm, &s.actor_type) {
                return Err(format!(
                    "deployment {}: realm {} does not offer actor type {}",
                    s.name, s.realm, s.actor_type
                ));
            }
        }
        let mut st = self.lock();
        for s in &specs {
            if let Some(file) = st.deploy.set.get(&s.name).and_then(|r| r.file.as_ref()) {
                return Err(format!(
                    "deployment {} is owned by the code directory's {file}: change it there",
                    s.name
                ));
            }
        }
        let mut changes = Vec::new();
        let mut records = Vec::new();
        for s in specs {
            let name = s.name.clone();
            let change = if dry_run {
                st.deploy.set.change_of(&s)
            } else {
                let (change, _) = st.deploy.set.apply(s, &self.id, None);
                // Unchanged records go too: the caller learns that another node holds them.
                records.extend(st.deploy.set.get(&name).cloned());
                change
            };
            changes.push((name, change));
        }
        Ok((changes, records))
    }

    /// Applies the deployments a code directory file declares for `realm` (`file` names it,
    /// e.g. `global/deployments.yaml`): each becomes owned by the file (changed from then on
    /// only through it), and those the file owned but no longer names are deleted. A name
    /// that another file owns is skipped, with a warning. What changed.
    pub(crate) async fn apply_file(
        self: &Arc<Self>,
        file: &str,
        realm: &crate::model::Realm,
        specs: Vec<DeploymentSpec>,
    ) -> Result<Changes, String> {
        for s in &specs {
            s.check()?;
            if &s.realm != realm {
                return Err(format!(
                    "{file}: deployment {} is in realm {}, but this file declares realm {realm}'s",
                    s.name, s.realm
                ));
            }
        }
        let (changes, records) = {
            let mut st = self.lock();
            let mut changes = Vec::new();
            let mut records = Vec::new();
            let named: std::collections::BTreeSet<String> =
                specs.iter().map(|s| s.name.clone()).collect();
            for s in specs {
                let name = s.name.clone();
                match st.deploy.set.get(&name).and_then(|r| r.file.clone()) {
                    Some(other) if other != file => {
                        tracing::warn!(deployment = %name, file, owner = %other, "deployment skipped: another file owns it");
                        continue;
                    }
                    _ => {}
                }
                let (change, record) = st.deploy.set.apply(s, &self.id, Some(file.to_owned()));
                records.extend(record);
                changes.push((name, change));
            }
            let dropped: Vec<String> = st
                .deploy
                .set
                .live()
                .filter(|(r, _)| r.file.as_deref() == Some(file) && !named.contains(&r.name))
                .map(|(r, _)| r.name.clone())
                .collect();
            for name in dropped {
                records.extend(st.deploy.set.delete(&name, &self.id));
                changes.push((name, Change::Deleted));
            }
            (changes, records)
        };
        for (name, change) in &changes {
            if *change != Change::Unchanged {
                tracing::info!(deployment = %name, file, change = change.as_str(), "deployment file applied");
            }
        }
        if let Err(e) = self.replicate(DeploySync { records, cordons: vec![] }).await {
            tracing::warn!(file, error = %e, "deployment file applied here only for now");
        }
        Ok(changes)
    }

    /// The endpoint of the live node that `node` names (an endpoint, `host:port`, or a node
    /// id).
    fn member_endpoint(&self, node: &str) -> Result<crate::model::Endpoint, String> {
        let st = self.lock();
        let mut all: Vec<&NodeId> = st.membership.members().collect();
        all.push(&self.id);
        all.into_iter()
            .find(|n| n.to_string() == node || n.endpoint().as_str() == node)
            .map(|n| n.endpoint().clone())
            .ok_or_else(|| format!("no live node {node:?}: give its address (host:port) or id, as `beach nodes` lists them"))
    }

    /// Does `change` to the live deployment `name` unless a code directory file owns it.
    fn owned_by_api(
        &self,
        name: &str,
        change: impl FnOnce(&mut Deployments, &NodeId) -> Option<DeployRecord>,
    ) -> Result<DeployRecord, String> {
        let mut st = self.lock();
        if let Some(file) = st.deploy.set.get(name).and_then(|r| r.file.clone()) {
            return Err(format!(
                "deployment {name} is owned by the code directory's {file}: change it there"
            ));
        }
        change(&mut st.deploy.set, &self.id).ok_or_else(|| format!("no deployment {name}"))
    }

    /// The status of the named deployments (all when `names` is empty).
    async fn status(
        self: &Arc<Self>,
        names: Vec<String>,
        token: Option<String>,
    ) -> Result<Vec<DeployStatus>, String> {
        let (records, replicas) = {
            let st = self.lock();
            let live: Vec<DeployRecord> = st.deploy.set.live().map(|(r, _)| r.clone()).collect();
            (live, replicas_by_deployment(&st.directory))
        };
        let records: Vec<DeployRecord> = if names.is_empty() {
            records
        } else {
            names
                .iter()
                .map(|n| {
                    records
                        .iter()
                        .find(|r| &r.name == n)
                        .cloned()
                        .ok_or_else(|| format!("no deployment {n}"))
                })
                .collect::<Result<_, _>>()?
        };
        // The last error per deployment, from whichever node met it last.
        let mut errors: BTreeMap<String, (u64, String)> = BTreeMap::new();
        for answer in self.on_every_node(AdminOp::Deploy(DeployOp::Errors), token.clone()).await {
            if let Ok(AdminAnswer::Deploy(DeployAnswer::Errors(e))) = answer {
                for (name, at, error) in e {
                    if errors.get(&name).is_none_or(|(t, _)| *t < at) {
                        errors.insert(name, (at, error));
                    }
                }
            }
        }
        let mut out = Vec::new();
        for r in records {
            let spec = r.spec.clone().expect("live");
            let nodes = self.hosts(&spec, token.clone()).await;
            let reps = replicas.get(&r.name).map(Vec::as_slice).unwrap_or_default();
            let c = counts(&spec, r.template, reps, &nodes);
            let on_drained = {
                let st = self.lock();
                reps.iter().any(|x| st.deploy.set.is_drained(x.id.node()))
            };
            out.push(DeployStatus {
                name: r.name.clone(),
                realm: spec.realm.clone(),
                desired: c.desired,
                running: c.running,
                updated: c.updated,
                version: r.version,
                complete: c.complete(),
                last_error: (!c.complete()).then(|| errors.remove(&r.name).map(|e| e.1)).flatten(),
                conditions: if on_drained { vec!["drained".to_owned()] } else { Vec::new() },
                file: r.file.clone(),
                spec,
            });
        }
        for s in &mut out {
            let unavailable = s.spec.rollout.max_unavailable;
            let mut cond: Vec<&str> = Vec::new();
            if s.running + unavailable >= s.desired {
                cond.push("available");
            }
            if !s.complete {
                cond.push("progressing");
            }
            if s.updated < s.running.min(s.desired) {
                cond.push("rolling");
            }
            if s.last_error.is_some() {
                cond.push("failing");
            }
            let drained = std::mem::take(&mut s.conditions);
            s.conditions = cond.into_iter().map(str::to_owned).chain(drained).collect();
        }
        Ok(out)
    }

    /// The nodes that may host a replica of `spec`: the live ones, less those drained and
    /// those that said they do not offer its type (a node that did not answer keeps its
    /// replicas).
    async fn hosts(self: &Arc<Self>, spec: &DeploymentSpec, token: Option<String>) -> Vec<NodeId> {
        let offers = self.offers(&spec.realm, &spec.actor_type, token).await;
        let st = self.lock();
        offers
            .into_iter()
            .filter(|(n, o)| *o != Some(false) && !st.deploy.set.is_drained(n))
            .map(|(n, _)| n)
            .collect()
    }

    /// One round: for each deployment this node acts for, reconcile it.
    async fn reconcile_deployments(self: &Arc<Self>) {
        let (alive, mine, gone, replicas) = {
            let st = self.lock();
            if st.deploy.set.records().next().is_none() {
                // Nothing deployed: nothing to reconcile or to note.
                return;
            }
            let mut alive: Vec<NodeId> = st.membership.members().cloned().collect();
            // Until it holds every live member's partition (a node that just joined), this
            // node would count replicas short and start too many: it waits. Blank partitions
            // are not sent unasked (see `FIRST_VERSION`), so it asks for those it lacks.
            let unknown: Vec<(NodeId, u64)> = alive
                .iter()
                .filter(|m| st.directory.partition(m).is_none())
                .map(|m| (m.clone(), 0))
                .collect();
            if !unknown.is_empty() {
                drop(st);
                self.fetch_from_owners(unknown);
                return;
            }
            alive.push(self.id.clone());
            alive.sort();
            let acts = |r: &DeployRecord| reconciler(&r.name, &alive) == Some(&self.id);
            let mine: Vec<DeployRecord> =
                st.deploy.set.live().map(|(r, _)| r).filter(|r| acts(r)).cloned().collect();
            let gone: Vec<String> = st
                .deploy
                .set
                .records()
                .filter(|r| r.spec.is_none() && acts(r))
                .map(|r| r.name.clone())
                .collect();
            let undrained: Vec<NodeId> =
                alive.iter().filter(|n| !st.deploy.set.is_drained(n)).cloned().collect();
            let replicas = replicas_by_deployment(&st.directory);
            // Every node notes which deployments it saw complete, so that whichever node
            // acts for one next can tell replacing lost replicas (restarts) from growing.
            let seen: Vec<(String, Shape)> = st
                .deploy
                .set
                .live()
                .filter(|(r, spec)| {
                    let reps = replicas.get(&r.name).map(Vec::as_slice).unwrap_or_default();
                    counts(spec, r.template, reps, &undrained).complete()
                })
                .map(|(r, spec)| (r.name.clone(), shape(spec, r.template)))
                .collect();
            drop(st);
            self.lock().deploy.complete.extend(seen);
            (undrained, mine, gone, replicas)
        };
        let token = self.config.admin_token.clone();
        // A deleted deployment's replicas stop.
        let stop: Vec<_> = gone
            .iter()
            .flat_map(|n| replicas.get(n).into_iter().flatten().map(|r| r.id.clone()))
            .collect();
        if !stop.is_empty() {
            self.stop_replicas(stop, token.clone()).await;
        }
        for record in mine {
            let spec = record.spec.as_ref().expect("live");
            let reps = replicas.get(&record.name).map(Vec::as_slice).unwrap_or_default();
            // Most rounds find nothing to do: ask the nodes what they offer only otherwise.
            let now_ms = self.now_ms();
            if reconcile(spec, record.template, reps, &alive, now_ms).is_empty() {
                let mut st = self.lock();
                st.deploy.failing.remove(&record.name);
                st.deploy.complete.insert(record.name.clone(), shape(spec, record.template));
                continue;
            }
            let nodes = self.hosts(spec, token.clone()).await;
            let plan = reconcile(spec, record.template, reps, &nodes, now_ms);
            // Replicas missing from a deployment this node found complete at the same count
            // and template were lost: starting them is a restart.
            let c = counts(spec, record.template, reps, &nodes);
            let same = self.lock().deploy.complete.get(&record.name)
                == Some(&shape(spec, record.template));
            let restarts = if same { c.desired.saturating_sub(c.running) } else { 0 };
            self.carry_out(&record, spec, plan, restarts, token.clone()).await;
        }
    }

    /// Starts and stops what `plan` says for `record`'s deployment.
    async fn carry_out(
        self: &Arc<Self>,
        record: &DeployRecord,
        spec: &DeploymentSpec,
        plan: Plan,
        mut restarts: u32,
        token: Option<String>,
    ) {
        let now = self.runtime.now();
        let waiting =
            self.lock().deploy.failing.get(&record.name).is_some_and(|f| f.retry_at > now);
        let pressed = if waiting || plan.start.is_empty() {
            Vec::new()
        } else {
            self.above_watermark(token.clone()).await
        };
        if !waiting {
            for start in &plan.start {
                if start.node.as_ref().is_some_and(|n| pressed.contains(n)) {
                    continue;
                }
                let spawn = spawn_spec(
                    spec,
                    record.template,
                    start.count,
                    start.node.clone(),
                    self.now_ms(),
                    pressed.clone(),
                );
                let answer = self
                    .handle_admin(AdminOp::Spawn(Box::new(spawn)), token.clone(), Role::Node)
                    .await;
                let error = match answer {
                    Ok(AdminAnswer::Spawned(r)) => {
                        tracing::info!(deployment = %record.name, started = r.len(), "deployment replicas started");
                        None
                    }
                    Ok(AdminAnswer::Partial { errors, .. }) => Some(errors.join("; ")),
                    Ok(other) => Some(format!("unexpected answer {other:?}")),
                    Err(e) => Some(e),
                };
                match error {
                    None => {
                        self.lock().deploy.failing.remove(&record.name);
                        let n = restarts.min(start.count);
                        super::counters::add(&self.life.restarts, u64::from(n));
                        restarts -= n;
                    }
                    Some(e) => self.failed(&record.name, e),
                }
            }
        }
        if !plan.stop.is_empty() {
            tracing::info!(deployment = %record.name, stopping = plan.stop.len(), "deployment replicas stopping");
            self.stop_replicas(plan.stop, token).await;
        }
    }

    /// The live nodes whose memory use is above `high_mem_watermark` (none when it is not
    /// set): new replicas go elsewhere.
    async fn above_watermark(self: &Arc<Self>, token: Option<String>) -> Vec<NodeId> {
        let Some(mark) = self.config.high_mem_watermark else { return Vec::new() };
        let mut above = Vec::new();
        for answer in self.on_every_node(AdminOp::Health, token).await {
            if let Ok(AdminAnswer::Health(h)) = answer {
                above.extend(h.into_iter().filter(|h| h.memory > mark).map(|h| h.node));
            }
        }
        above
    }

    /// Above `high_mem_watermark`, stops this node's oldest drainable actor (it drains
    /// first); a deployment replaces its replica elsewhere. One per sync period, so memory
    /// has time to show the effect.
    fn shed_memory(&self) {
        let Some(mark) = self.config.high_mem_watermark else { return };
        let (_, memory) = self.load();
        if memory <= mark {
            return;
        }
        let oldest = {
            let st = self.lock();
            st.actors.iter().find(|(_, c)| c.spec.drainable).map(|(id, _)| id.clone())
        };
        let Some(id) = oldest else { return };
        tracing::warn!(actor = %id, memory, high_mem_watermark = mark, "memory above the watermark: draining the oldest drainable actor");
        let me = self.arc();
        self.spawn_task(async move {
            me.stop_local(&[id], false).await;
        });
    }

    /// The node's clock, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64 {
        let since = self.runtime.system_time().duration_since(std::time::UNIX_EPOCH);
        since.map_or(0, |d| d.as_millis() as u64)
    }

    /// Records a failed start: the next try waits twice as long as the last, up to
    /// [`BACKOFF_MAX`].
    fn failed(&self, name: &str, error: String) {
        let now = self.runtime.now();
        let at = self.now_ms();
        let mut st = self.lock();
        let count = st.deploy.failing.get(name).map_or(0, |f| f.count) + 1;
        let wait = BACKOFF_FIRST.saturating_mul(1 << (count - 1).min(16)).min(BACKOFF_MAX);
        tracing::warn!(deployment = %name, error = %error, retry_in = ?wait, "deployment replica did not start");
        st.deploy
            .failing
            .insert(name.to_owned(), Failing { count, retry_at: now + wait, error: (at, error) });
    }

    async fn stop_replicas(
        self: &Arc<Self>,
        ids: Vec<crate::model::ActorId>,
        token: Option<String>,
    ) {
        let op = AdminOp::Stop {
            realm: crate::model::Realm::global(),
            ids,
            categories: vec![],
            delay_ms: 0,
        };
        if let Err(e) = self.handle_admin(op, token, Role::Node).await {
            tracing::warn!(error = %e, "stopping deployment replicas failed");
        }
    }
}

/// What makes a deployment's desired replicas: `replicas`, `per_node` and the template.
type Shape = (Option<u32>, Option<u32>, u64);

/// A deployment's [`Shape`].
fn shape(spec: &DeploymentSpec, template: u64) -> Shape {
    (spec.replicas, spec.per_node, template)
}

/// Every deployment's replicas in `directory`, by deployment name.
fn replicas_by_deployment(directory: &Directory) -> BTreeMap<String, Vec<Replica>> {
    let mut out: BTreeMap<String, Vec<Replica>> = BTreeMap::new();
    for p in directory.partitions() {
        for (id, entry) in &p.entries {
            if let Some(o) = &entry.owner {
                out.entry(o.deployment.clone()).or_default().push(Replica {
                    id: id.clone(),
                    template: o.template,
                    born_ms: o.born_ms,
                });
            }
        }
    }
    out
}

/// The spawn of `count` replicas of `spec` at `template`, on `node` or placed by strategy,
/// started at `born_ms`.
fn spawn_spec(
    spec: &DeploymentSpec,
    template: u64,
    count: u32,
    node: Option<NodeId>,
    born_ms: u64,
    avoid: Vec<NodeId>,
) -> SpawnSpec {
    SpawnSpec {
        realm: spec.realm.clone(),
        actor_type: spec.actor_type.clone(),
        categories: spec.categories.clone(),
        strategy: spec.strategy,
        hint: spec.hint.clone(),
        node,
        parameters: spec.params.clone(),
        resources: BTreeMap::new(),
        isolated: spec.isolated,
        ident: None,
        trusted: Default::default(),
        n_concurrent: spec.concurrency,
        owner: Some(format!("deployment {}", spec.name)),
        drainable: true,
        count,
        dry_run: false,
        trace: false,
        log_level: None,
        deployment: Some(Owner { deployment: spec.name.clone(), template, born_ms }),
        avoid,
    }
}

/// Every sync period, or at once when woken by a change: spread the set, then reconcile.
pub(super) async fn deploy_loop(node: Weak<NodeInner>) {
    loop {
        let Some(n) = node.upgrade() else { return };
        let (rt, interval) = (n.runtime.clone(), n.config.sync_interval);
        let woken = n.deploy_wake.notified();
        futures::pin_mut!(woken);
        futures::future::select(woken, rt.sleep(interval)).await;
        n.save_deployments();
        n.shed_memory();
        n.gossip_deployments();
        n.reconcile_deployments().await;
    }
}
