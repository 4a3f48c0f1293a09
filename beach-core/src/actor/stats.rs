//! Built-in per-actor statistics: counts, errors by kind, in-flight, latency.

use crate::ErrorCode;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Sub-buckets per power of two: latencies are kept within about 19% of their value.
const SUB: u32 = 4;
const BUCKETS: usize = 64 * SUB as usize;

/// A log-scale latency histogram in microseconds: constant memory, percentiles within one
/// bucket (about 19%).
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
    sum_us: u128,
}

impl Default for LatencyHistogram {
    /// Empty, and allocating nothing until the first latency is recorded: an idle actor should
    /// not pay 2 KiB for counters it never uses.
    fn default() -> Self {
        Self { counts: Vec::new(), total: 0, sum_us: 0 }
    }
}

impl LatencyHistogram {
    /// Values below 8µs have a bucket each; above, each power of two has `SUB` buckets.
    fn bucket(us: u64) -> usize {
        if us < 8 {
            return us as usize;
        }
        let log = 63 - us.leading_zeros();
        let frac = (us >> (log - 2)) & 0b11;
        8 + ((log - 3) * SUB) as usize + frac as usize
    }

    fn upper_bound(bucket: usize) -> u64 {
        if bucket < 8 {
            return bucket as u64;
        }
        let log = (bucket - 8) as u32 / SUB + 3;
        let frac = (bucket - 8) as u64 % u64::from(SUB);
        let step = 1u64 << (log - 2);
        (1u64 << log).saturating_add(frac * step).saturating_add(step - 1)
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        self.counts[Self::bucket(us)] += 1;
        self.total += 1;
        self.sum_us += u128::from(us);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The mean, or zero when empty.
    pub fn mean(&self) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros((self.sum_us / u128::from(self.total)) as u64)
    }

    /// The `q` quantile (0.0 to 1.0), as the upper bound of its bucket; zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_micros(Self::upper_bound(i));
            }
        }
        Duration::from_micros(Self::upper_bound(BUCKETS - 1))
    }
}

/// Events per second over the last whole second, counted in one-second buckets of a
/// monotonic clock: cheap to mark (no allocation, no clock of its own).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RateMeter {
    /// The instant the buckets count from, set by the first mark.
    origin: Option<Instant>,
    /// The bucket being filled, in whole seconds since `origin`.
    second: u64,
    this: f64,
    /// The count of the bucket before `second`.
    last: f64,
}

impl RateMeter {
    fn bucket(&mut self, now: Instant) -> u64 {
        let origin = *self.origin.get_or_insert(now);
        now.saturating_duration_since(origin).as_secs()
    }

    /// Counts `n` events at `now`.
    pub(crate) fn mark(&mut self, now: Instant, n: f64) {
        let second = self.bucket(now);
        if second != self.second {
            self.last = if second == self.second + 1 { self.this } else { 0.0 };
            self.this = 0.0;
            self.second = second;
        }
        self.this += n;
    }

    /// Events per second in the last whole second before `now`.
    pub(crate) fn per_second(&self, now: Instant) -> f64 {
        let Some(origin) = self.origin else { return 0.0 };
        let second = now.saturating_duration_since(origin).as_secs();
        match second.checked_sub(self.second) {
            Some(0) => self.last,
            Some(1) => self.this,
            _ => 0.0,
        }
    }
}

/// The counters of one actor, updated as it serves.
#[derive(Debug, Default)]
pub struct ActorStats {
    received: AtomicU64,
    replied: AtomicU64,
    queue_full: AtomicU64,
    dropped: AtomicU64,
    in_flight: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    /// Service times, and requests answered per second (one lock for both).
    latency: Mutex<(LatencyHistogram, RateMeter)>,
    /// The actor's own counters, by name (py-beach's `zSet`/`zInc`, `Context::counter`).
    custom: Mutex<BTreeMap<String, f64>>,
    /// The actor's own rates, by name (`Context::rate`).
    rates: Mutex<BTreeMap<String, RateMeter>>,
}

/// The most counters of its own an actor keeps: names past it are ignored.
const MAX_CUSTOM: usize = 64;

/// The most error kinds counted apart, per actor.
const MAX_ERROR_KINDS: usize = 32;
/// The longest error kind kept, in bytes.
const MAX_ERROR_KIND_LEN: usize = 64;
/// Where errors past [`MAX_ERROR_KINDS`] kinds are counted.
const OTHER_ERRORS: &str = "other";

impl ActorStats {
    pub(crate) fn received(&self) {
        self.received.fetch_add(1, Relaxed);
    }

    pub(crate) fn started(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    pub(crate) fn finished(&self, now: Instant, latency: Duration, error: Option<&str>) {
        self.in_flight.fetch_sub(1, Relaxed);
        self.replied.fetch_add(1, Relaxed);
        {
            let mut l = self.latency.lock().expect("stats lock");
            l.0.record(latency);
            l.1.mark(now, 1.0);
        }
        if let Some(e) = error {
            self.error(e);
        }
    }

    pub(crate) fn error(&self, kind: &str) {
        // Group by the message's first words so that messages with details do not explode
        // the map (`exception: index out of range` counts as `exception`), and past
        // MAX_ERROR_KINDS kinds count the rest as `other`: an actor's own messages may be
        // anything, and a map keyed by them must not grow without bound.
        let kind = kind.split(':').next().unwrap_or(kind);
        let kind = &kind[..kind.floor_char_boundary(MAX_ERROR_KIND_LEN)];
        let mut errors = self.errors.lock().expect("stats lock");
        let key = if errors.contains_key(kind) || errors.len() < MAX_ERROR_KINDS {
            kind
        } else {
            OTHER_ERRORS
        };
        *errors.entry(key.to_owned()).or_insert(0) += 1;
    }

    pub(crate) fn queue_full(&self) {
        self.queue_full.fetch_add(1, Relaxed);
        self.error(ErrorCode::QueueFull.as_str());
    }

    pub(crate) fn dropped(&self) {
        self.dropped.fetch_add(1, Relaxed);
    }

    /// Requests received.
    pub fn received_count(&self) -> u64 {
        self.received.load(Relaxed)
    }

    /// Requests answered (successes and errors).
    pub fn replied_count(&self) -> u64 {
        self.replied.load(Relaxed)
    }

    /// Requests refused with `queue full`.
    pub fn queue_full_count(&self) -> u64 {
        self.queue_full.load(Relaxed)
    }

    /// Requests dropped unanswered because their deadline had passed.
    pub fn dropped_count(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Requests being served now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Relaxed)
    }

    /// Sets the actor's own counter `name` (py-beach's `zSet`), shown by `beach load`. An
    /// actor keeps at most 64 names (counters and rates) of at most 64 bytes; others are
    /// ignored.
    pub fn set_custom(&self, name: &str, value: f64) {
        self.update_custom(name, |v| *v = value);
    }

    /// Adds `delta` to the actor's own counter `name` (py-beach's `zInc`); its new value.
    pub fn add_custom(&self, name: &str, delta: f64) -> f64 {
        self.update_custom(name, |v| *v += delta)
    }

    fn update_custom(&self, name: &str, f: impl FnOnce(&mut f64)) -> f64 {
        let name = &name[..name.floor_char_boundary(MAX_ERROR_KIND_LEN)];
        let mut custom = self.custom.lock().expect("stats lock");
        let room = custom.len() + self.rates.lock().expect("stats lock").len() < MAX_CUSTOM;
        match custom.get_mut(name) {
            Some(v) => {
                f(v);
                *v
            }
            None if room => {
                let v = custom.entry(name.to_owned()).or_insert(0.0);
                f(v);
                *v
            }
            None => 0.0,
        }
    }

    /// Counts `n` events of the actor's own rate `name` at `now` (see `Context::rate`).
    pub fn mark_rate(&self, name: &str, now: Instant, n: f64) {
        let name = &name[..name.floor_char_boundary(MAX_ERROR_KIND_LEN)];
        let custom = self.custom.lock().expect("stats lock");
        let mut rates = self.rates.lock().expect("stats lock");
        if let Some(r) = rates.get_mut(name) {
            r.mark(now, n);
        } else if custom.len() + rates.len() < MAX_CUSTOM && !custom.contains_key(name) {
            rates.entry(name.to_owned()).or_default().mark(now, n);
        }
    }

    /// The actor's own counters, and its rates as events per second at `now`.
    pub fn custom(&self, now: Instant) -> BTreeMap<String, f64> {
        let mut all = self.custom.lock().expect("stats lock").clone();
        for (name, r) in self.rates.lock().expect("stats lock").iter() {
            all.insert(name.clone(), r.per_second(now));
        }
        all
    }

    /// Requests answered per second, over the last whole second before `now`.
    pub fn per_second(&self, now: Instant) -> f64 {
        self.latency.lock().expect("stats lock").1.per_second(now)
    }

    /// Error replies by kind.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors.lock().expect("stats lock").clone()
    }

    /// A copy of the latency histogram.
    pub fn latency(&self) -> LatencyHistogram {
        self.latency.lock().expect("stats lock").0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_counts_the_last_whole_second() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut r = RateMeter::default();
        assert_eq!(r.per_second(at(0)), 0.0);
        r.mark(at(0), 1.0);
        r.mark(at(500), 2.0);
        assert_eq!(r.per_second(at(900)), 0.0, "the first second is not whole yet");
        assert_eq!(r.per_second(at(1100)), 3.0);
        r.mark(at(1200), 5.0);
        assert_eq!(r.per_second(at(1900)), 3.0);
        assert_eq!(r.per_second(at(2000)), 5.0);
        assert_eq!(r.per_second(at(3500)), 0.0, "nothing in the second before");
        r.mark(at(4100), 1.0);
        assert_eq!(r.per_second(at(4200)), 0.0, "a gap resets the last second");
    }

    #[test]
    fn own_counters_add_set_and_stay_bounded() {
        let s = ActorStats::default();
        let now = Instant::now();
        assert_eq!(s.add_custom("hits", 1.0), 1.0);
        assert_eq!(s.add_custom("hits", 2.5), 3.5);
        s.set_custom("size", 7.0);
        s.mark_rate("rows", now, 4.0);
        s.mark_rate("hits", now, 1.0); // a counter's name is not a rate too
        for i in 0..100 {
            s.add_custom(&format!("c{i}"), 1.0);
        }
        let all = s.custom(now + Duration::from_secs(1));
        assert_eq!(all.len(), MAX_CUSTOM);
        assert_eq!((all["hits"], all["size"], all["rows"]), (3.5, 7.0, 4.0));
        assert_eq!(s.add_custom("c99", 1.0), 0.0, "past the bound, ignored");
    }

    #[test]
    fn quantiles_land_within_a_bucket() {
        let mut h = LatencyHistogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).as_micros() as f64;
        let p99 = h.quantile(0.99).as_micros() as f64;
        assert!((500.0..=500.0 * 1.25).contains(&p50), "{p50}");
        assert!((990.0..=990.0 * 1.25).contains(&p99), "{p99}");
        assert_eq!(h.mean(), Duration::from_micros(500));
        assert_eq!(LatencyHistogram::default().quantile(0.5), Duration::ZERO);
        for us in [0u64, 1, 2, 3, 7, 8, 9, 15, 16, 100, 1 << 40, u64::MAX] {
            let b = LatencyHistogram::bucket(us);
            assert!(b < BUCKETS);
            assert!(LatencyHistogram::upper_bound(b) >= us, "{us} in bucket {b}");
            assert!(
                b < 8 || LatencyHistogram::upper_bound(b - 1) < us,
                "{us} belongs lower than {b}"
            );
        }
    }

    #[test]
    fn error_kinds_are_bounded() {
        let s = ActorStats::default();
        for i in 0..1000 {
            s.error(&format!("message number {i}: details"));
        }
        s.error(&"x".repeat(10_000));
        let e = s.errors();
        assert_eq!(e.len(), MAX_ERROR_KINDS + 1, "{e:?}");
        assert_eq!(e[OTHER_ERRORS], 1000 - MAX_ERROR_KINDS as u64 + 1);
        assert!(e.keys().all(|k| k.len() <= MAX_ERROR_KIND_LEN));
    }
}
