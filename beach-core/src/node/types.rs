//! Which actor types this node offers, and from where: its registry, and its type source
//! (a code directory), by the precedence [`crate::actor::TypeSource`] states.

use std::collections::BTreeSet;

use super::NodeInner;
use crate::actor::{OfferedType, Origin};
use crate::model::{ActorType, Realm};
use crate::wire::TypeOffer;

/// How this node would run a type: with its registry's factory, or the type source's program.
pub(crate) enum Resolved {
    /// The registry's type, compiled in.
    Registry(Origin),
    /// The type source's program, at this version.
    Source(OfferedType),
}

impl NodeInner {
    /// How `actor_type` in `realm` would run here, if this node offers it (the realm
    /// allow-list included). A clash between the registry and the type source is logged once
    /// per version.
    pub(crate) fn resolve_type(&self, realm: &Realm, actor_type: &ActorType) -> Option<Resolved> {
        if !self.config.allows(realm, actor_type) {
            return None;
        }
        let registered = self.registry.origin(actor_type.as_str());
        let found = self.type_source.as_ref().and_then(|s| s.find(realm, actor_type));
        match (registered, found) {
            (Some(Origin::Compiled), Some(found)) => {
                self.log_clash(realm, &found, "the compiled type wins");
                Some(Resolved::Registry(Origin::Compiled))
            }
            (Some(origin), Some(found)) => {
                self.log_clash(realm, &found, &format!("it replaces the {origin} type"));
                Some(Resolved::Source(found))
            }
            (None, Some(found)) => Some(Resolved::Source(found)),
            (Some(origin), None) => Some(Resolved::Registry(origin)),
            (None, None) => None,
        }
    }

    fn log_clash(&self, realm: &Realm, found: &OfferedType, outcome: &str) {
        let key = format!("{realm}/{}/{}", found.actor_type, found.sha256);
        if self.clashes_logged.lock().expect("clash log lock").insert(key) {
            tracing::info!(
                %realm,
                actor_type = %found.actor_type,
                sha256 = %found.sha256,
                "the code directory and the node's registry both offer this type: {outcome}"
            );
        }
    }

    /// The types this node offers, as `beach types` lists them: in `realm` (else in every realm
    /// it knows: the configured ones, or `global`, the code directory's and the directory's),
    /// only `only` when given.
    pub(crate) fn offered_types(
        &self,
        realm: Option<&Realm>,
        only: Option<&ActorType>,
    ) -> Vec<TypeOffer> {
        let realms: BTreeSet<Realm> = match realm {
            Some(r) => BTreeSet::from([r.clone()]),
            None if !self.config.realms.is_empty() => self.config.realms.keys().cloned().collect(),
            None => {
                let mut all: BTreeSet<Realm> =
                    self.type_source.iter().flat_map(|s| s.realms()).collect();
                all.insert(Realm::global());
                all.extend(self.lock().directory.realms());
                all
            }
        };
        let mut offers = Vec::new();
        for realm in realms {
            let mut names: BTreeSet<ActorType> = self.registry.types().cloned().collect();
            if let Some(source) = &self.type_source {
                names.extend(source.types(&realm).into_iter().map(|t| t.actor_type));
            }
            for name in names {
                if only.is_some_and(|o| *o != name) {
                    continue;
                }
                let (origin, sha256) = match self.resolve_type(&realm, &name) {
                    Some(Resolved::Registry(origin)) => (origin, None),
                    Some(Resolved::Source(t)) => (Origin::CodeDirectory, Some(t.sha256)),
                    None => continue,
                };
                offers.push(TypeOffer {
                    realm: realm.clone(),
                    actor_type: name,
                    origin,
                    sha256,
                    nodes: vec![self.id.clone()],
                });
            }
        }
        offers
    }
}

/// Several nodes' offers as one list: an entry per (realm, type, origin, version), with every
/// node that offers it.
pub(crate) fn merge_offers(all: impl IntoIterator<Item = TypeOffer>) -> Vec<TypeOffer> {
    let mut merged: std::collections::BTreeMap<_, TypeOffer> = std::collections::BTreeMap::new();
    for offer in all {
        let key =
            (offer.realm.clone(), offer.actor_type.clone(), offer.origin, offer.sha256.clone());
        match merged.get_mut(&key) {
            Some(m) => m.nodes.extend(offer.nodes),
            None => {
                merged.insert(key, offer);
            }
        }
    }
    merged
        .into_values()
        .map(|mut o| {
            o.nodes.sort();
            o.nodes.dedup();
            o
        })
        .collect()
}
