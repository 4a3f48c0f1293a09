//! A runtime whose clock moves only when a test says so: [`super::TestActor::advance`] runs
//! the actor's timers and schedules in order, in no real time.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use tokio::sync::oneshot;

use crate::rng::NodeRng;
use crate::runtime::{BoxFuture, Runtime};

/// How many times the tasks are let run after each timer fires: enough for a handler or a
/// scheduled call to reach its next wait, on the current-thread runtime `#[tokio::test]` uses.
const SETTLE_YIELDS: usize = 64;

/// Virtual time over the tokio runtime the test runs on: tasks are tokio's, sleeps wait for
/// [`TestClock::advance`].
#[derive(Debug)]
pub(crate) struct TestClock {
    start: Instant,
    epoch: SystemTime,
    state: Mutex<State>,
    rng: Mutex<NodeRng>,
}

#[derive(Debug)]
struct State {
    now: Instant,
    next: u64,
    /// Sleepers by wake-up time, then by order of sleeping.
    timers: BTreeMap<(Instant, u64), oneshot::Sender<()>>,
}

impl TestClock {
    pub(crate) fn new(seed: u64) -> Self {
        let start = Instant::now();
        Self {
            start,
            // A fixed date, so that what an actor computes from the wall clock repeats.
            epoch: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            state: Mutex::new(State { now: start, next: 0, timers: BTreeMap::new() }),
            rng: Mutex::new(crate::rng::seeded(seed)),
        }
    }

    /// Moves the clock `by` forward, waking every sleeper due on the way in order, and lets
    /// the woken tasks run before the next.
    pub(crate) async fn advance(&self, by: Duration) {
        let target = self.now() + by;
        loop {
            settle().await;
            let due = {
                let mut st = self.state.lock().expect("clock lock");
                match st.timers.first_key_value() {
                    Some((&(at, _), _)) if at <= target => {
                        st.now = st.now.max(at);
                        st.timers.pop_first().map(|(_, wake)| wake)
                    }
                    _ => None,
                }
            };
            match due {
                Some(wake) => {
                    let _ = wake.send(());
                }
                None => break,
            }
        }
        self.state.lock().expect("clock lock").now = target;
        settle().await;
    }
}

/// Lets every task that can run, run, until each waits again (on the current-thread runtime).
pub(crate) async fn settle() {
    for _ in 0..SETTLE_YIELDS {
        tokio::task::yield_now().await;
    }
}

impl Runtime for TestClock {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        tokio::spawn(task);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        if duration.is_zero() {
            return Box::pin(async {});
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.state.lock().expect("clock lock");
            let key = (st.now + duration, st.next);
            st.next += 1;
            st.timers.insert(key, tx);
        }
        Box::pin(async move {
            // A clock dropped with sleepers left: they never wake, as time never comes.
            if rx.await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }

    fn now(&self) -> Instant {
        self.state.lock().expect("clock lock").now
    }

    fn system_time(&self) -> SystemTime {
        self.epoch + (self.now() - self.start)
    }

    fn fill_random(&self, buf: &mut [u8]) {
        self.rng.lock().expect("clock rng").fill_bytes(buf);
    }
}
