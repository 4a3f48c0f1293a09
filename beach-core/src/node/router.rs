//! The envelope router: what a node does with each envelope that arrives (requests to its
//! actors, membership packets, directory sync, admin calls, clients' view requests).

use super::cell::ReplyTo;
use super::{MAX_MEMBERSHIP_PACKET, NodeInner};
use crate::ErrorCode;
use crate::actor::{CallError, Port};
use crate::link::{Dispatch, Outbox, Remote};
use crate::model::NodeId;
use crate::wire::{self, Envelope, Peer, RemoteError};
use std::sync::atomic::Ordering;

impl Dispatch for NodeInner {
    fn dispatch(&self, envelope: Envelope, reply: &Outbox, from: &Remote) -> Result<(), String> {
        if self.stopped.load(Ordering::Acquire) {
            return Ok(());
        }
        // The role table (`auth::may_send`) already refused what `from` may not send.
        match envelope {
            // An isolated actor's process reaches other nodes' actors through its node.
            Envelope::Request(req) if from.relay && req.to.node() != &self.id => {
                self.relay(req, reply.clone());
            }
            Envelope::OneWay(req) if from.relay && req.to.node() != &self.id => {
                self.port.tell(req);
            }
            Envelope::Request(req) => self.serve(req, ReplyTo::Link(reply.clone())),
            Envelope::OneWay(req) => self.serve(req, ReplyTo::Nobody),
            Envelope::Admin(call) => {
                let me = self.arc();
                let role = from.role;
                let reply = reply.clone();
                self.spawn_task(async move {
                    let result = me.handle_admin(call.op, call.token, role).await;
                    let _ =
                        reply.send(Envelope::AdminReply(wire::AdminReply { id: call.id, result }));
                });
            }
            Envelope::Membership(data) => {
                if data.len() > MAX_MEMBERSHIP_PACKET {
                    return Err(format!(
                        "a membership packet of {} bytes (at most {MAX_MEMBERSHIP_PACKET})",
                        data.len()
                    ));
                }
                let now = self.runtime.now();
                let mut st = self.lock();
                st.membership.set_clock(self.runtime.system_time());
                if let Err(e) = st.membership.handle_packet(now, &data) {
                    tracing::trace!(error = %e, "membership packet ignored");
                }
                self.flush_membership(&mut st);
                self.wake_membership();
            }
            // Anti-entropy: digests (versions) travel between any nodes, partitions (content)
            // only from their owners. A node answers a digest with its own partition when the
            // peer's is older, with its digest when it holds newer partitions of others, and
            // asks the owners of what the peer holds newer for it directly. So no node can
            // rewrite another's partition: a forged version only costs a fetch from its owner.
            Envelope::Digest(digest) => {
                let (own, mine, fetch) = {
                    let mut st = self.lock();
                    self.introduce(&mut st, digest.versions.keys());
                    let (own, others_newer) = st.directory.own_answer(&digest);
                    let mine = others_newer.then(|| st.directory.digest());
                    (own, mine, st.directory.stale_owners(&digest))
                };
                if own.is_some() || mine.is_some() {
                    let partitions = own.into_iter().collect();
                    let _ = reply.send(Envelope::Partitions { partitions, digest: mine });
                }
                self.fetch_from_owners(fetch);
            }
            Envelope::Partitions { partitions, digest } => {
                if let Some(p) = partitions.iter().find(|p| from.node.as_ref() != Some(&p.owner)) {
                    return Err(format!("{}'s partition from another node", p.owner));
                }
                let (back, fetch) = {
                    let mut st = self.lock();
                    let owners = partitions.iter().map(|p| &p.owner);
                    self.introduce(
                        &mut st,
                        owners.chain(digest.iter().flat_map(|d| d.versions.keys())),
                    );
                    for p in partitions {
                        st.directory.install(p);
                    }
                    match digest {
                        Some(d) => (st.directory.own_answer(&d).0, st.directory.stale_owners(&d)),
                        None => (None, Vec::new()),
                    }
                };
                if let Some(own) = back {
                    let _ =
                        reply.send(Envelope::Partitions { partitions: vec![own], digest: None });
                }
                self.fetch_from_owners(fetch);
            }
            Envelope::Delta(delta) => {
                // The fast path carries a change to the sender's own partition, from the
                // sender itself; anything else is a forgery.
                if from.node.as_ref() != Some(&delta.owner) {
                    return Err(format!(
                        "a delta of {}'s partition from another node",
                        delta.owner
                    ));
                }
                let mut st = self.lock();
                if st.directory.apply_delta(&delta) == crate::directory::DeltaOutcome::Gap {
                    // A delta was missed: ask the owner for its whole partition.
                    let digest = st.directory.digest_for(&delta.owner);
                    self.links.send(delta.owner.endpoint(), Envelope::Digest(digest));
                }
            }
            Envelope::Deployments(records) => self.merge_deployments(records),
            Envelope::ViewRequest(digest) => {
                let st = self.lock();
                let mut alive: Vec<NodeId> = st.membership.members().cloned().collect();
                alive.push(self.id.clone());
                let answer = st.directory.handle_digest(&digest);
                let (partitions, more) = (answer.partitions, answer.truncated);
                let _ = reply.send(Envelope::View { alive, partitions, more });
            }
            Envelope::Handshake(_)
            | Envelope::Reply(_)
            | Envelope::AdminReply(_)
            | Envelope::Bye
            | Envelope::View { .. } => {
                return Err(format!(
                    "unexpected {} after the handshake",
                    crate::link::kind_of(&envelope)
                ));
            }
        }
        Ok(())
    }

    fn hello(&self) -> (String, Peer) {
        (self.config.cluster_name.clone(), Peer::Node(self.id.clone()))
    }
}

impl NodeInner {
    /// Carries a request from a relayed client (an isolated actor's process) to the node
    /// hosting its actor, and its answer back. The call's failures become the error replies
    /// that mean the same to the caller's retry policy: not sent is `unreachable`, lost on the
    /// way (it may have run) is `timeout`.
    fn relay(&self, req: wire::ActorCall, reply: Outbox) {
        let port = self.port.clone();
        self.spawn_task(async move {
            let (id, attempt) = (req.id, req.attempt);
            let result = port.call(req).await.map_err(|e| match e {
                CallError::Remote(r) => r,
                CallError::Unreachable(why) => RemoteError {
                    error: format!("{}: {why}", ErrorCode::Unreachable.as_str()),
                    data: None,
                },
                CallError::Lost(_) | CallError::Timeout => {
                    RemoteError { error: ErrorCode::Timeout.as_str().to_owned(), data: None }
                }
            });
            let _ = reply.send(Envelope::Reply(wire::Reply { id, attempt, result }));
        });
    }
}
