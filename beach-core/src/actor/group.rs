//! Group handles: one actor of each sub-category one level below a root.

use std::collections::BTreeMap;

use serde::Serialize;

use super::handle::Target;
use super::{Handle, RequestError};
use crate::model::ActorId;
use crate::value::Payload;

/// A group handle: the sub-categories one level below a root (`svc/` → `svc/a/`, `svc/b/`). A
/// request goes to one actor of each sub-category and returns one result per sub-category.
#[derive(Debug, Clone)]
pub struct Group {
    root: Handle,
}

impl Group {
    pub(crate) fn new(root: Handle) -> Self {
        Self { root }
    }

    /// The root handle, for settings.
    pub fn root(&self) -> &Handle {
        &self.root
    }

    /// A copy with settings changed on the root handle (timeout, retries, ident, mode).
    pub fn configure(&self, f: impl FnOnce(&Handle) -> Handle) -> Group {
        Group { root: f(&self.root) }
    }

    /// The current sub-categories, sorted.
    pub fn subcategories(&self) -> Vec<String> {
        self.root.port.subcategories(&self.root.realm, &self.root.category()).into_keys().collect()
    }

    /// Sends the request to one actor of each sub-category, concurrently; one result per
    /// sub-category, sorted by sub-category.
    pub async fn request<T: Serialize + ?Sized>(
        &self,
        kind: &str,
        data: &T,
    ) -> Result<Vec<(String, Result<Payload, RequestError>)>, RequestError> {
        let data = Payload::encode(data)?;
        let calls = self.subcategories().into_iter().map(|sub| {
            let handle = Handle { target: Target::Category(sub.clone()), ..self.root.clone() };
            let data = data.clone();
            async move {
                let r = handle.request_payload(kind, data).await;
                (sub, r)
            }
        });
        Ok(futures::future::join_all(calls).await)
    }

    /// Shoots to one actor of each sub-category (see [`Handle::shoot`]); returns how many
    /// sub-categories it reached, and fails when none. Failures count on the root handle.
    pub fn shoot<T: Serialize + ?Sized>(
        &self,
        kind: &str,
        data: &T,
    ) -> Result<usize, RequestError> {
        let data = Payload::encode(data)?;
        let mut sent = 0;
        let mut last = None;
        for sub in self.subcategories() {
            let handle = Handle { target: Target::Category(sub), ..self.root.clone() };
            match handle.shoot_payload(kind, data.clone()) {
                Ok(()) => sent += 1,
                Err(e) => {
                    self.root
                        .shared
                        .shoot_failures
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    last = Some(e);
                }
            }
        }
        match (sent, last) {
            (0, Some(e)) => Err(e),
            (0, None) => Err(RequestError::NoActors { category: self.root.category() }),
            (n, _) => Ok(n),
        }
    }

    /// Requests in flight from this node or client, per actor of every sub-category.
    pub fn pending(&self) -> BTreeMap<ActorId, u64> {
        self.root.pending()
    }
}
