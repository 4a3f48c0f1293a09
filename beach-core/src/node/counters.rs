//! What a node has done since it started, for metrics: actors spawned and stopped, and its
//! connections and frames. Relaxed atomic increments, off any lock; [`Node::counters`] reads a
//! snapshot, [`Node::hosted`] each hosted actor's statistics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Node;
use crate::actor::RouteObserver;
use crate::client::ActorLoad;
use crate::model::{ActorType, Realm};

/// Counters a node keeps of its actors' lives.
#[derive(Debug, Default)]
pub(crate) struct LifeCounters {
    pub(crate) spawns: AtomicU64,
    pub(crate) spawn_failures: AtomicU64,
    pub(crate) stops: AtomicU64,
    pub(crate) restarts: AtomicU64,
}

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// What a node has done since it started (see [`Node::counters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeCounters {
    /// Actors started here.
    pub spawns: u64,
    /// Spawns here whose `init` failed.
    pub spawn_failures: u64,
    /// Actors stopped here.
    pub stops: u64,
    /// Deployment replicas this node (as their deployment's reconciler) started again after
    /// replicas were lost: a crash, a stop by hand, a memory watermark.
    pub restarts: u64,
    /// Connections open now (to nodes and from clients).
    pub connections_open: u64,
    /// Connections established since the start.
    pub connections_opened: u64,
    /// Connections to other nodes closed by the close handshake: quiet for `link_idle`, or
    /// the second of two that a pair of nodes dialled at once.
    pub connections_reaped: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Frames sent.
    pub frames_out: u64,
    /// Bytes received from the network (0 on a transport that moves none, in memory).
    pub bytes_in: u64,
    /// Bytes sent to the network.
    pub bytes_out: u64,
    /// Frames not sent because they did not fit (too large, not encodable): their requests
    /// failed at once.
    pub frames_refused: u64,
    /// Connections closed because the other side broke the protocol (a bad frame, a message
    /// it may not send).
    pub connections_broken: u64,
}

/// One actor hosted here and its statistics (see [`Node::hosted`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HostedActor {
    /// Its realm.
    pub realm: Realm,
    /// Its type.
    pub actor_type: ActorType,
    /// Its requests, errors, latency and own counters.
    pub load: ActorLoad,
    /// Requests admitted and waiting for a turn (under a concurrency limit), not yet running.
    pub queued: u64,
}

impl Node {
    /// What this node has done since it started: spawns, stops, connections, frames, bytes.
    pub fn counters(&self) -> NodeCounters {
        let (life, links) = (&self.inner.life, self.inner.links.counters());
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NodeCounters {
            spawns: get(&life.spawns),
            spawn_failures: get(&life.spawn_failures),
            stops: get(&life.stops),
            restarts: get(&life.restarts),
            connections_open: get(&links.open),
            connections_reaped: get(&links.reaped),
            connections_opened: get(&links.opened),
            frames_in: get(&links.frames_in),
            frames_out: get(&links.frames_out),
            bytes_in: get(&links.bytes_in),
            bytes_out: get(&links.bytes_out),
            frames_refused: get(&links.frames_refused),
            connections_broken: get(&links.broken),
        }
    }

    /// The actors hosted here, each with its statistics, without asking the cluster.
    pub fn hosted(&self) -> Vec<HostedActor> {
        let cells: Vec<_> = self.inner.lock().actors.values().cloned().collect();
        let now = self.inner.runtime.now();
        cells
            .iter()
            .map(|c| HostedActor {
                realm: c.realm.clone(),
                actor_type: c.spec.actor_type.clone(),
                queued: (c.admitted.load(std::sync::atomic::Ordering::Relaxed) as u64)
                    .saturating_sub(c.stats.in_flight()),
                load: c.load(now).into(),
            })
            .collect()
    }
}

impl Node {
    /// Has `observer` hear of every request this node's handles route (its actors', the
    /// embedding program's, the HTTP gateway's) when it ends: what a node's metrics count.
    /// One observer per node: `false`, and nothing changed, when one is set already.
    pub fn observe_routes(&self, observer: Arc<dyn RouteObserver>) -> bool {
        self.inner.port.routes.set(observer).is_ok()
    }
}
