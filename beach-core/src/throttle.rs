//! Rate-limited log lines: a line that can repeat at the rate an attacker or a failing
//! system call chooses (refused connections, accept errors, protocol breaks) is written at
//! most once per interval, with the count of those left out since.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use beach_core::throttle::Throttle;
//!
//! let t = Throttle::new(Duration::from_secs(1));
//! let now = Instant::now();
//! assert_eq!(t.check(now), Some(0)); // the first is written
//! assert_eq!(t.check(now), None); // then left out...
//! assert_eq!(t.check(now), None);
//! assert_eq!(t.check(now + Duration::from_secs(1)), Some(2)); // ...and counted
//! ```

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One rate-limited log line.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttle {
    /// At most one line per `every`.
    pub const fn new(every: Duration) -> Self {
        Self { every, state: Mutex::new((None, 0)) }
    }

    /// Whether to write the line now: `Some(n)` with the number of lines left out since the
    /// last one written, or `None` to leave this one out.
    pub fn check(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match s.0 {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                s.1 += 1;
                None
            }
            _ => {
                let skipped = s.1;
                *s = (Some(now), 0);
                Some(skipped)
            }
        }
    }
}
