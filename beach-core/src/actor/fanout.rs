//! Fanning out from a handle: one-way messages (`shoot`, `broadcast`) and asking every member
//! at once (`request_from_all`).

use serde::Serialize;

use super::{Handle, RequestError};
use crate::model::ActorId;
use crate::routing::RoutingError;
use crate::value::Payload;

impl Handle {
    /// Sends a request that expects no reply to one member (fire and forget). Fails only
    /// when no member matches or the data cannot be encoded.
    pub fn shoot<T: Serialize + ?Sized>(&self, kind: &str, data: &T) -> Result<(), RequestError> {
        let data = Payload::encode(data)?;
        let members = self.members();
        let target = {
            let mut rng = self.rng.lock().expect("handle rng");
            crate::routing::choose(
                self.options.mode,
                &members,
                self.options.key.as_deref(),
                self.port.local_node(),
                |n| self.port.is_connected(n),
                &[],
                &mut *rng,
            )
            .map_err(|e| match e {
                RoutingError::NoMembers => RequestError::NoActors { category: self.category() },
                e => e.into(),
            })?
            .clone()
        };
        let req = self.wire_request(
            self.port.next_request_id(),
            target,
            kind,
            data,
            self.timeout_or_default(),
            0,
        );
        self.port.tell(req);
        Ok(())
    }

    /// Sends a message that expects no reply to every current member; returns how many were
    /// sent.
    pub fn broadcast<T: Serialize + ?Sized>(
        &self,
        kind: &str,
        data: &T,
    ) -> Result<usize, RequestError> {
        let data = Payload::encode(data)?;
        let id = self.port.next_request_id();
        let timeout = self.timeout_or_default();
        let members = self.members();
        let sent = members
            .into_iter()
            .filter(|m| {
                self.port.tell(self.wire_request(id, m.clone(), kind, data.clone(), timeout, 0))
            })
            .count();
        Ok(sent)
    }

    /// Sends the request to every current member at once and collects one result each, in
    /// member order. No retries: each answer is that member's.
    pub async fn request_from_all<T: Serialize + ?Sized>(
        &self,
        kind: &str,
        data: &T,
    ) -> Result<Vec<(ActorId, Result<Payload, RequestError>)>, RequestError> {
        let data = Payload::encode(data)?;
        let timeout = self.timeout_or_default();
        let calls = self.members().into_iter().map(|m| {
            // One id per member: replies are matched by id.
            let req = self.wire_request(
                self.port.next_request_id(),
                m.clone(),
                kind,
                data.clone(),
                timeout,
                0,
            );
            async move { (m, self.port.call(req).await.map_err(RequestError::from)) }
        });
        Ok(futures::future::join_all(calls).await)
    }
}
