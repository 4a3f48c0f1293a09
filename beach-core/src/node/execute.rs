//! An admin operation carried out on this node alone: its part of a cluster-wide operation
//! (`admin.rs` orchestrates, sending each node its part and gathering the answers).

use super::NodeInner;
use crate::ErrorCode;
use crate::model::{ActorId, NodeId};
use crate::wire::{
    ActorMetadata, ActorRecord, AdminAnswer, AdminOp, NodeHealth, NodeInfo, NodeMetadata,
};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Arc;

impl NodeInner {
    /// Answers an admin call about this node only.
    pub(super) fn handle_on_node(
        self: &Arc<Self>,
        op: AdminOp,
    ) -> BoxFuture<'_, Result<AdminAnswer, String>> {
        Box::pin(async move {
            match op {
                AdminOp::Spawn(spec) => {
                    if spec.node.as_ref().is_some_and(|n| *n != self.id) {
                        return Err(ErrorCode::WrongDest.as_str().to_owned());
                    }
                    self.spawn_local(&spec).await.map(AdminAnswer::Spawned)
                }
                // Only sent directly, where the sender's role is checked.
                AdminOp::Deploy(crate::deploy::DeployOp::Take(_)) => {
                    Err("deployment records are not forwarded".to_owned())
                }
                AdminOp::Deploy(op) => self.handle_deploy(op, None).await,
                AdminOp::Stop { ids, .. } => {
                    let mine: Vec<ActorId> =
                        ids.into_iter().filter(|id| id.node() == &self.id).collect();
                    Ok(AdminAnswer::Stopped(self.stop_local(&mine, false).await))
                }
                AdminOp::Flush => {
                    let ids: Vec<ActorId> = self.lock().actors.keys().cloned().collect();
                    Ok(AdminAnswer::Flushed(self.stop_local(&ids, false).await.len() as u64))
                }
                AdminOp::AddCategory { id, category }
                | AdminOp::RemoveCategory { id, category }
                    if id.node() != &self.id || !self.lock().actors.contains_key(&id) =>
                {
                    let _ = category;
                    Err(format!(
                        "{}: no actor {id} on node {}",
                        ErrorCode::WrongDest.as_str(),
                        self.id
                    ))
                }
                AdminOp::AddCategory { id, category } => {
                    self.recategorize(&id, |d| d.add_category(&id, category))
                }
                AdminOp::RemoveCategory { id, category } => {
                    self.recategorize(&id, |d| d.remove_category(&id, &category))
                }
                AdminOp::Directory { realm, prefix, after } => {
                    let all = self.lock().directory.categories(&realm, &prefix);
                    Ok(directory_page(all, after.as_ref()))
                }
                AdminOp::Nodes => {
                    let st = self.lock();
                    let suspects = st.membership.suspects();
                    let info = |id: &NodeId| NodeInfo {
                        id: id.clone(),
                        state: if suspects.contains(id) { "suspect" } else { "alive" }.to_owned(),
                        actors: st.directory.partition(id).map_or(0, |p| p.entries.len() as u64),
                        drained: st.deploy.set.is_drained(id),
                    };
                    let mut nodes: Vec<NodeInfo> = st.membership.members().map(info).collect();
                    nodes.push(info(&self.id));
                    nodes.sort_by(|a, b| a.id.cmp(&b.id));
                    Ok(AdminAnswer::Nodes(nodes))
                }
                AdminOp::Types { realm, actor_type } => {
                    Ok(AdminAnswer::Types(self.offered_types(realm.as_ref(), actor_type.as_ref())))
                }
                AdminOp::Health => {
                    let (cpu, memory) = self.load();
                    Ok(AdminAnswer::Health(vec![NodeHealth { node: self.id.clone(), cpu, memory }]))
                }
                AdminOp::Load => {
                    let st = self.lock();
                    let now = self.runtime.now();
                    let loads = st.actors.values().map(|c| c.load(now)).collect();
                    Ok(AdminAnswer::Load(loads))
                }
                AdminOp::Metadata => {
                    let st = self.lock();
                    let actors = st
                        .actors
                        .values()
                        .map(|c| ActorMetadata {
                            id: c.id.clone(),
                            actor_type: c.spec.actor_type.clone(),
                            realm: c.realm.clone(),
                            categories: st
                                .directory
                                .entry(&c.id)
                                .map(|e| e.categories.iter().cloned().collect())
                                .unwrap_or_default(),
                            params: c.public_params(),
                            isolated: c.spec.isolated,
                            owner: c.spec.owner.clone(),
                            drainable: c.spec.drainable,
                        })
                        .collect();
                    Ok(AdminAnswer::Metadata(vec![NodeMetadata { node: self.id.clone(), actors }]))
                }
                AdminOp::OnNode(_) => Err("admin calls cannot be nested".to_owned()),
            }
        })
    }

    fn recategorize(
        &self,
        id: &ActorId,
        edit: impl FnOnce(
            &mut crate::directory::Directory,
        ) -> Result<bool, crate::directory::DirectoryError>,
    ) -> Result<AdminAnswer, String> {
        let mut st = self.lock();
        edit(&mut st.directory).map_err(|e| e.to_string())?;
        let entry = st.directory.entry(id).cloned().ok_or_else(|| format!("no actor {id}"))?;
        let version = st.directory.own().version;
        self.push_delta(&mut st);
        Ok(AdminAnswer::Recategorized(ActorRecord { id: id.clone(), entry, version }))
    }
}

/// The page of `all` that starts after `after`: at most [`crate::wire::DIRECTORY_PAGE`] ids, in
/// (category, id) order.
fn directory_page(
    all: BTreeMap<crate::model::Category, Vec<ActorId>>,
    after: Option<&(crate::model::Category, ActorId)>,
) -> AdminAnswer {
    let mut categories: BTreeMap<crate::model::Category, Vec<ActorId>> = BTreeMap::new();
    let mut taken = 0;
    for (category, mut ids) in all {
        if after.is_some_and(|(c, _)| category < *c) {
            continue;
        }
        // The cursor compares ids: they must come in order.
        ids.sort_unstable();
        for id in ids {
            if after.is_some_and(|(c, last)| category == *c && id <= *last) {
                continue;
            }
            if taken == crate::wire::DIRECTORY_PAGE {
                let next = categories
                    .iter()
                    .next_back()
                    .and_then(|(c, ids)| Some((c.clone(), ids.last()?.clone())));
                return AdminAnswer::Directory { categories, next };
            }
            categories.entry(category.clone()).or_default().push(id);
            taken += 1;
        }
    }
    AdminAnswer::Directory { categories, next: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Category;

    #[test]
    fn directory_pages_cover_everything_once_in_order() {
        let node: NodeId = "10.0.0.1:4999#1".parse().unwrap();
        let mut all: BTreeMap<Category, Vec<ActorId>> = BTreeMap::new();
        for (c, n) in [("a", 70_000u64), ("b", 3), ("c", 60_000)] {
            let ids = (0..n).map(|i| node.actor_id(i + 1)).collect::<Vec<_>>();
            all.insert(Category::new(c).unwrap(), ids);
        }
        let mut got: BTreeMap<Category, Vec<ActorId>> = BTreeMap::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let AdminAnswer::Directory { categories, next } =
                directory_page(all.clone(), after.as_ref())
            else {
                panic!()
            };
            pages += 1;
            assert!(
                categories.values().map(Vec::len).sum::<usize>() <= crate::wire::DIRECTORY_PAGE
            );
            for (c, ids) in categories {
                got.entry(c).or_default().extend(ids);
            }
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(got, all);
    }
}
