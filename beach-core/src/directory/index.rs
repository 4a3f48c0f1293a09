//! The category index: realm → category → actors, kept in step with the partitions so prefix
//! queries are a range scan instead of a walk over every actor.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::Entry;
use crate::model::{ActorId, Category, Realm};

#[derive(Debug, Clone, Default)]
pub(super) struct CategoryIndex {
    realms: BTreeMap<Realm, BTreeMap<Category, BTreeSet<ActorId>>>,
}

impl CategoryIndex {
    pub(super) fn add(&mut self, id: &ActorId, entry: &Entry) {
        let cats = self.realms.entry(entry.realm.clone()).or_default();
        for c in entry.categories.iter() {
            cats.entry(c.clone()).or_default().insert(id.clone());
        }
    }

    pub(super) fn remove(&mut self, id: &ActorId, entry: &Entry) {
        let Some(cats) = self.realms.get_mut(&entry.realm) else { return };
        for c in entry.categories.iter() {
            if let Some(ids) = cats.get_mut(c) {
                ids.remove(id);
                if ids.is_empty() {
                    cats.remove(c);
                }
            }
        }
        if cats.is_empty() {
            self.realms.remove(&entry.realm);
        }
    }

    /// The realms with at least one actor, sorted.
    pub(super) fn realms(&self) -> Vec<Realm> {
        self.realms.keys().cloned().collect()
    }

    /// The categories of `realm` that start with `prefix`, in order.
    fn scan<'a>(
        &'a self,
        realm: &Realm,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a Category, &'a BTreeSet<ActorId>)> + 'a {
        self.realms
            .get(realm)
            .into_iter()
            .flat_map(move |cats| cats.range::<str, _>((Bound::Included(prefix), Bound::Unbounded)))
            .take_while(move |(c, _)| c.matches(prefix))
    }

    pub(super) fn lookup(&self, realm: &Realm, prefix: &str) -> Vec<ActorId> {
        let mut seen = BTreeSet::new();
        for (_, ids) in self.scan(realm, prefix) {
            seen.extend(ids.iter().cloned());
        }
        seen.into_iter().collect()
    }

    pub(super) fn categories(
        &self,
        realm: &Realm,
        prefix: &str,
    ) -> BTreeMap<Category, Vec<ActorId>> {
        self.scan(realm, prefix)
            .map(|(c, ids)| (c.clone(), ids.iter().cloned().collect()))
            .collect()
    }

    pub(super) fn subcategories(
        &self,
        realm: &Realm,
        root: &str,
    ) -> BTreeMap<String, Vec<ActorId>> {
        let mut groups: BTreeMap<String, BTreeSet<ActorId>> = BTreeMap::new();
        for (c, ids) in self.scan(realm, root) {
            if let Some(group) = subcategory(c.as_str(), root) {
                groups.entry(group.to_owned()).or_default().extend(ids.iter().cloned());
            }
        }
        groups.into_iter().map(|(g, ids)| (g, ids.into_iter().collect())).collect()
    }
}

/// The sub-category of `category` one level below `root`: `root` plus the next level up to and
/// including its `/`, or the whole category when there is no further `/`. `None` for the root
/// itself.
pub(crate) fn subcategory<'a>(category: &'a str, root: &str) -> Option<&'a str> {
    let rest = &category[root.len()..];
    // A root without its trailing slash (`svc`) still groups by the next level (`svc/a/`).
    let skip = usize::from(rest.starts_with('/'));
    if rest.len() <= skip {
        return None;
    }
    match rest[skip..].find('/') {
        Some(i) => Some(&category[..root.len() + skip + i + 1]),
        None => Some(category),
    }
}

#[cfg(test)]
mod tests {
    use super::subcategory;

    #[test]
    fn subcategories_are_one_level_below_the_root() {
        assert_eq!(subcategory("svc/a/1", "svc/"), Some("svc/a/"));
        assert_eq!(subcategory("svc/a/1", "svc"), Some("svc/a/"));
        assert_eq!(subcategory("svc/c", "svc/"), Some("svc/c"));
        assert_eq!(subcategory("svc/", "svc/"), None);
        assert_eq!(subcategory("svc/", "svc"), None);
        assert_eq!(subcategory("svcx/y", "svc"), Some("svcx/"));
        assert_eq!(subcategory("a/b/c", ""), Some("a/"));
    }
}
