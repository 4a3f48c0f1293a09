//! Membership packets as a peer could send them: decoded and applied by the SWIM driver,
//! then its timers run. Never a panic, and the member table stays bounded.
#![no_main]

use std::time::{Duration, Instant};

use beach_core::config::ClusterConfig;
use beach_core::membership::{Membership, MembershipConfig};
use beach_core::rng::seeded;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let me: beach_core::model::NodeId = "10.0.0.1:4999#1".parse().unwrap();
    let config = MembershipConfig::from_cluster(&ClusterConfig::default());
    let mut m = Membership::new(me, Vec::new(), &config, seeded(1)).unwrap();
    let now = Instant::now();
    m.start(now);
    for chunk in data.chunks(4096) {
        let _ = m.handle_packet(now, chunk);
    }
    m.handle_timeout(now + Duration::from_secs(60));
    while m.poll_transmit().is_some() {}
    while m.poll_event().is_some() {}
});
