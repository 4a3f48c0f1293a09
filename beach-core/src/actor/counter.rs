//! An actor's own counters and rates ([`Context::counter`], [`Context::rate`]), as py-beach's
//! `zInc`/`zSet`: shown with its statistics by `beach load`, `GET /v1/load` and the gateway's
//! `/metrics` (summed by actor type and name, never by actor id).

use std::sync::Arc;

use super::Context;
use super::stats::ActorStats;

/// A named number the actor keeps (`ctx.counter("cache_hits").inc()`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Counter {
    stats: Arc<ActorStats>,
    name: Arc<str>,
}

impl Counter {
    /// Adds one; the new value.
    pub fn inc(&self) -> f64 {
        self.add(1.0)
    }

    /// Adds `n` (which may be negative); the new value.
    pub fn add(&self, n: f64) -> f64 {
        self.stats.add_custom(&self.name, n)
    }

    /// Sets the value.
    pub fn set(&self, value: f64) {
        self.stats.set_custom(&self.name, value);
    }
}

/// A named rate the actor marks events on (`ctx.rate("rows_written").mark(120.0)`), shown
/// as events per second over the last whole second. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Rate {
    ctx: Context,
    name: Arc<str>,
}

impl Rate {
    /// Counts `n` events now.
    pub fn mark(&self, n: f64) {
        self.ctx.stats_arc().mark_rate(&self.name, self.ctx.now(), n);
    }
}

impl Context {
    /// The actor's own counter `name`, shown with its statistics. An actor keeps at most 64
    /// counters and rates; names past that are ignored.
    ///
    /// ```no_run
    /// # fn f(ctx: &beach_core::actor::Context) {
    /// let hits = ctx.counter("cache_hits");
    /// hits.inc();
    /// # }
    /// ```
    pub fn counter(&self, name: &str) -> Counter {
        Counter { stats: self.stats_arc().clone(), name: name.into() }
    }

    /// The actor's own rate `name`: events per second over the last whole second (virtual in
    /// simulations).
    pub fn rate(&self, name: &str) -> Rate {
        Rate { ctx: self.clone(), name: name.into() }
    }
}
