//! Local actors' lifecycle: spawning them here (init, directory entry) and stopping them
//! (leaving the directory, draining, deinit).

use super::NodeInner;
use super::cell::{ActorCell, DRAIN_GRACE};
use super::types::Resolved;
use crate::actor::{ActorStats, Context, ContextParts};
use crate::model::ActorId;
use crate::wire::{ActorRecord, SpawnSpec};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

impl NodeInner {
    /// Spawns `spec.count` actors here. Returns after every `init` succeeded; if one fails,
    /// the ones already started by this call are stopped and its error is returned.
    pub(crate) async fn spawn_local(&self, spec: &SpawnSpec) -> Result<Vec<ActorRecord>, String> {
        let resolved = self.check_spawnable(spec)?;
        let factory = match &resolved {
            Resolved::Registry(_) => {
                if spec.isolated && self.isolation.is_none() {
                    return Err(
                        "this node cannot run isolated actors in their own process (use beach-node)"
                            .to_owned(),
                    );
                }
                self.registry.factory(spec.actor_type.as_str()).cloned()
            }
            Resolved::Source(_) => None,
        };
        let entry = super::admin::entry_of(spec);
        let shared_spec = Arc::new(spec.clone());
        let mut records: Vec<ActorRecord> = Vec::new();
        for _ in 0..spec.count.max(1) {
            let id = {
                let mut st = self.lock();
                let seq = st.next_actor_seq;
                st.next_actor_seq += 1;
                self.id.actor_id(seq)
            };
            let stats = Arc::new(ActorStats::default());
            let ctx = Context::new(ContextParts {
                id: id.clone(),
                realm: spec.realm.clone(),
                actor_type: spec.actor_type.clone(),
                params: spec.parameters.clone(),
                resources: spec.resources.clone(),
                ident: spec.ident.clone(),
                port: self.port.clone(),
                stats: stats.clone(),
                log_level: spec.log_level.clone(),
            });
            let started = match (&resolved, &factory, &self.isolation) {
                (Resolved::Source(offered), _, _) => {
                    let source = self.type_source.as_ref().expect("resolved from the source");
                    source.spawn(offered, spec, &ctx).await
                }
                (_, _, Some(isolation)) if spec.isolated => {
                    let links = super::ChildLinks::new(self.me.clone());
                    isolation.spawn(spec, &ctx, &links).await
                }
                (_, Some(factory), _) => factory(ctx.clone()).await,
                (_, None, _) => Err(crate::actor::InitError::new("unknown actor type")),
            };
            let actor = match started {
                Ok(a) => a,
                Err(e) => {
                    ctx.stop();
                    super::counters::add(&self.life.spawn_failures, 1);
                    let started: Vec<ActorId> = records.iter().map(|r| r.id.clone()).collect();
                    self.stop_local(&started, false).await;
                    self.observe(format!("spawn of {} failed: {e}", spec.actor_type));
                    return Err(e.0);
                }
            };
            let cell = Arc::new(ActorCell {
                id: id.clone(),
                realm: spec.realm.clone(),
                spec: shared_spec.clone(),
                actor,
                ctx,
                stats,
                limit: spec.n_concurrent.map(|n| Arc::new(Semaphore::new(n.max(1) as usize))),
                admitted: AtomicUsize::new(0),
            });
            let mut st = self.lock();
            if self.stopped.load(Ordering::Acquire) {
                cell.ctx.stop();
                return Err("node is stopping".to_owned());
            }
            st.actors.insert(id.clone(), cell);
            super::counters::add(&self.life.spawns, 1);
            st.directory.insert(id.clone(), entry.clone()).expect("own actor");
            records.push(ActorRecord {
                id: id.clone(),
                entry: entry.clone(),
                version: st.directory.own().version,
            });
            self.observe(format!("spawned {id} {} in {:?}", spec.actor_type, spec.categories));
        }
        let mut st = self.lock();
        self.push_delta(&mut st);
        Ok(records)
    }

    /// The checks a node makes before spawning here: a type it offers in the realm (the realm
    /// allow-list included), and a spec of a sound shape. Returns how the type runs here.
    pub(crate) fn check_spawnable(&self, spec: &SpawnSpec) -> Result<Resolved, String> {
        spec.check_shape()?;
        if !self.config.allows(&spec.realm, &spec.actor_type) {
            return Err(format!(
                "realm {} does not offer actor type {}",
                spec.realm, spec.actor_type
            ));
        }
        self.resolve_type(&spec.realm, &spec.actor_type).ok_or_else(|| {
            let known: Vec<String> = self
                .offered_types(Some(&spec.realm), None)
                .into_iter()
                .map(|t| t.actor_type.to_string())
                .collect();
            format!(
                "unknown actor type {:?} in realm {} on node {} (known: {})",
                spec.actor_type.as_str(),
                spec.realm,
                self.id,
                known.join(", ")
            )
        })
    }

    /// Stops hosted actors: they leave the directory at once; then (in the background, or
    /// before returning when `wait`) each drains within [`DRAIN_GRACE`], its tasks stop and
    /// `deinit` runs. Ids not hosted here are skipped.
    pub(crate) async fn stop_local(&self, ids: &[ActorId], wait: bool) -> Vec<ActorRecord> {
        let mut records = Vec::new();
        let mut cells = Vec::new();
        {
            let mut st = self.lock();
            for id in ids {
                if let Some(cell) = st.actors.remove(id) {
                    let entry =
                        st.directory.remove(id).expect("hosted actors are in the own partition");
                    records.push(ActorRecord {
                        id: id.clone(),
                        entry,
                        version: st.directory.own().version,
                    });
                    cells.push(cell);
                }
            }
            self.push_delta(&mut st);
        }
        super::counters::add(&self.life.stops, records.len() as u64);
        for r in &records {
            self.observe(format!("stopped {}", r.id));
        }
        let rt = self.runtime.clone();
        let teardown = async move {
            let stops = cells.into_iter().map(|cell| {
                let rt = rt.clone();
                async move {
                    if cell.spec.drainable {
                        cell.actor.drain(&cell.ctx).await;
                    }
                    let give_up = rt.now() + DRAIN_GRACE;
                    while cell.admitted.load(Ordering::Acquire) > 0 && rt.now() < give_up {
                        rt.sleep(Duration::from_millis(10)).await;
                    }
                    cell.ctx.stop();
                    cell.actor.deinit(&cell.ctx).await;
                }
            });
            futures::future::join_all(stops).await;
        };
        if wait {
            teardown.await;
        } else {
            self.spawn_task(teardown);
        }
        records
    }
}
