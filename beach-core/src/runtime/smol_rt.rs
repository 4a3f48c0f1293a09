//! The smol adapter.

use std::time::{Duration, Instant, SystemTime};

use super::{BoxFuture, Runtime};

/// Runs the engine on smol's global executor and timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolRuntime;

impl Runtime for SmolRuntime {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        smol::spawn(task).detach();
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            smol::Timer::after(duration).await;
        })
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }

    fn fill_random(&self, buf: &mut [u8]) {
        super::os_random(buf);
    }
}
