//! The runtime facade: the only way the core spawns tasks, waits and reads the clock.
//!
//! The node engine and the client never name an executor; they hold an `Arc<dyn Runtime>`.
//! Adapters: `TokioRuntime` (feature `rt-tokio`) and `SmolRuntime` (feature `rt-smol`); the
//! simulator brings its own, with virtual time. This is what lets the same engine run on real
//! sockets and in a deterministic simulation.
//!
//! ```
//! # #[cfg(feature = "rt-tokio")] {
//! use std::sync::Arc;
//! use beach_core::runtime::{Runtime, TokioRuntime};
//!
//! tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//!     let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime);
//!     let (tx, rx) = tokio::sync::oneshot::channel();
//!     rt.spawn(Box::pin(async move { tx.send(7).unwrap() }));
//!     assert_eq!(rx.await.unwrap(), 7);
//! });
//! # }
//! ```

#[cfg(feature = "rt-smol")]
mod smol_rt;
#[cfg(feature = "rt-tokio")]
mod tokio_rt;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

#[cfg(feature = "rt-smol")]
pub use smol_rt::SmolRuntime;
#[cfg(feature = "rt-tokio")]
pub use tokio_rt::TokioRuntime;

/// A boxed, sendable future: what crosses the object-safe runtime boundary.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Spawning, timers and clocks for the engine.
pub trait Runtime: Send + Sync + std::fmt::Debug + 'static {
    /// Runs `task` in the background. To stop a task early, make it abortable
    /// ([`futures::future::abortable`]); the runtime itself only runs it.
    fn spawn(&self, task: BoxFuture<'static, ()>);

    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;

    /// The monotonic clock (virtual in simulations).
    fn now(&self) -> Instant;

    /// The wall clock, for timestamps users see (virtual in simulations).
    fn system_time(&self) -> SystemTime;

    /// Fills `buf` with randomness that others must not guess (handshake nonces, ids): the
    /// operating system's in the tokio and smol adapters, the simulation seed's in the
    /// simulator (so that its traces stay deterministic). Never a node's placement RNG.
    fn fill_random(&self, buf: &mut [u8]);

    /// A task of the engine itself (not an actor's handler: those are caught and answered
    /// `exception`) panicked: the node's state may be half-changed, and a node that looks
    /// alive but serves nobody is worse than one that is gone. The default logs `message`
    /// and ends the process with exit code 70, so that its supervisor restarts it; the
    /// simulator panics instead, failing the test with its seed.
    fn fatal(&self, message: &str) {
        tracing::error!(%message, "a beach engine task panicked; stopping the process");
        eprintln!("beach: a beach engine task panicked: {message}; stopping the process");
        std::process::exit(70);
    }
}

/// The operating system's randomness, for the adapters. Without it nothing can be kept
/// secret, so its failure (which the OS documents as not happening once booted) is fatal.
#[cfg(any(feature = "rt-tokio", feature = "rt-smol"))]
fn os_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

/// A random `u64` from `runtime`'s randomness: the default seed of a node's or client's
/// choices (the operating system's, or the simulation seed's in a simulation).
pub fn random_u64(runtime: &dyn Runtime) -> u64 {
    let mut b = [0u8; 8];
    runtime.fill_random(&mut b);
    u64::from_le_bytes(b)
}

/// The runtime a builder was given, or tokio (with the `rt-tokio` feature); an error saying
/// how to choose one otherwise.
pub(crate) fn given_or_default(
    given: Option<std::sync::Arc<dyn Runtime>>,
) -> Result<std::sync::Arc<dyn Runtime>, String> {
    if let Some(rt) = given {
        return Ok(rt);
    }
    #[cfg(feature = "rt-tokio")]
    return Ok(std::sync::Arc::new(TokioRuntime));
    #[cfg(not(feature = "rt-tokio"))]
    return Err("no runtime: set one with .runtime(..) (or enable rt-tokio)".to_owned());
}

/// Waits until `deadline` on `rt`'s clock.
pub fn sleep_until(rt: &dyn Runtime, deadline: Instant) -> BoxFuture<'static, ()> {
    rt.sleep(deadline.saturating_duration_since(rt.now()))
}

/// Runs `future` until it completes or `duration` passes on `rt`'s clock; `None` on timeout.
pub async fn timeout<F: Future>(
    rt: &dyn Runtime,
    duration: Duration,
    future: F,
) -> Option<F::Output> {
    let sleep = rt.sleep(duration);
    futures::pin_mut!(future);
    match futures::future::select(future, sleep).await {
        futures::future::Either::Left((out, _)) => Some(out),
        futures::future::Either::Right(((), _)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both adapters, and the simulator's, are used as `dyn Runtime`: this must compile.
    #[test]
    fn runtime_is_object_safe() {
        fn takes(_: Option<&dyn Runtime>) {}
        takes(None);
    }

    /// What every adapter must do: run spawned tasks, sleep, and time out.
    #[cfg(any(feature = "rt-tokio", feature = "rt-smol"))]
    async fn exercise(rt: std::sync::Arc<dyn Runtime>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let inner = rt.clone();
        rt.spawn(Box::pin(async move {
            inner.sleep(Duration::from_millis(20)).await;
            let _ = tx.send(inner.now());
        }));
        let start = rt.now();
        let woke = rx.await.expect("the task ran");
        assert!(woke - start >= Duration::from_millis(20));
        let never = futures::future::pending::<()>();
        assert_eq!(timeout(&*rt, Duration::from_millis(10), never).await, None);
        assert_eq!(timeout(&*rt, Duration::from_secs(5), async { 3 }).await, Some(3));
        assert!(rt.system_time() > std::time::UNIX_EPOCH);
    }

    #[cfg(feature = "rt-tokio")]
    #[test]
    fn tokio_adapter_works() {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(exercise(std::sync::Arc::new(TokioRuntime)));
    }

    #[cfg(feature = "rt-smol")]
    #[test]
    fn smol_adapter_works() {
        smol::block_on(exercise(std::sync::Arc::new(SmolRuntime)));
    }
}
