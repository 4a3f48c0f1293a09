//! The node's background loops: membership timers and directory anti-entropy.

use std::sync::Weak;
use std::time::Duration;

use rand::RngExt;

use super::NodeInner;
use crate::runtime::sleep_until;
use crate::wire::Envelope;

/// How long the membership loop sleeps when no timer is set.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// Fires membership timers when they are due, waking early when a packet set new ones.
pub(super) async fn membership_loop(node: Weak<NodeInner>) {
    loop {
        let Some(n) = node.upgrade() else { return };
        let rt = n.runtime.clone();
        // Created before reading the next deadline, so a wake-up in between is not lost.
        let woken = n.membership_wake.notified();
        let sleep = match n.lock().membership.poll_timeout() {
            Some(at) => sleep_until(&*rt, at),
            None => rt.sleep(IDLE_WAIT),
        };
        futures::pin_mut!(woken);
        futures::future::select(woken, sleep).await;
        let now = rt.now();
        let mut st = n.lock();
        st.membership.handle_timeout(now);
        n.flush_membership(&mut st);
    }
}

/// Every sync period: log changes in who is suspected, push any pending delta, and send the
/// directory digest to one random member (see the anti-entropy in `NodeInner::dispatch`).
pub(super) async fn anti_entropy_loop(node: Weak<NodeInner>) {
    loop {
        let Some(interval) = node.upgrade().map(|n| n.config.sync_interval) else { return };
        let rt = match node.upgrade() {
            Some(n) => n.runtime.clone(),
            None => return,
        };
        rt.sleep(interval).await;
        let Some(n) = node.upgrade() else { return };
        let mut st = n.lock();
        n.log_suspects(&mut st);
        n.push_delta(&mut st);
        let members: Vec<_> = st.membership.members().cloned().collect();
        if !members.is_empty() {
            let peer = members[st.rng.random_range(0..members.len())].clone();
            let digest = st.directory.digest();
            n.links.send(peer.endpoint(), Envelope::Digest(digest));
        }
    }
}
