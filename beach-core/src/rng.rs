//! The seeded random source every node decision draws from.
//!
//! Nothing in beach uses a thread-local or OS random source for a decision: each node is handed
//! a [`NodeRng`] seeded from a number, so a simulation with the same seed makes the same
//! choices. ChaCha8 is used because its output for a seed is specified and portable.

use rand::SeedableRng;

/// The random number generator handed to each node.
pub type NodeRng = rand::rngs::ChaCha8Rng;

/// A generator seeded from `seed`.
pub fn seeded(seed: u64) -> NodeRng {
    NodeRng::seed_from_u64(seed)
}

/// A generator for one purpose (`stream`) of a node seeded with `seed`, so that separate users
/// of randomness on one node do not shift each other's draws.
pub fn derive(seed: u64, stream: u64) -> NodeRng {
    let mut rng = seeded(seed);
    rng.set_stream(stream);
    rng
}
