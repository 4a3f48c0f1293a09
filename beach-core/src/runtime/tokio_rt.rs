//! The tokio adapter.

use std::time::{Duration, Instant, SystemTime};

use super::{BoxFuture, Runtime};

/// Runs the engine on the ambient tokio runtime. Time follows tokio's clock, so a runtime
/// started with paused time (`start_paused`) gives virtual time.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioRuntime;

impl Runtime for TokioRuntime {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        tokio::spawn(task);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }

    fn fill_random(&self, buf: &mut [u8]) {
        super::os_random(buf);
    }
}
