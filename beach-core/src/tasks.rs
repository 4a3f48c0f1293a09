//! A set of background tasks that can all be stopped at once, and that forgets each task when
//! it ends: a node or client runs a task per connection, admin call and timer, so a set that
//! only grew would leak a little memory on every call.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::{AbortHandle, abortable};

use crate::runtime::Runtime;

#[derive(Default)]
struct State {
    tasks: BTreeMap<u64, AbortHandle>,
    next: u64,
    closed: bool,
}

/// Running tasks, keyed so that each removes itself when it ends.
#[derive(Default)]
pub(crate) struct TaskSet {
    state: Mutex<State>,
}

impl std::fmt::Debug for TaskSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskSet").field("running", &self.len()).finish()
    }
}

impl TaskSet {
    /// Runs `task` on `runtime` until it ends or the set is closed; nothing once closed. A
    /// panic in it is fatal ([`Runtime::fatal`]).
    pub(crate) fn spawn(
        self: &Arc<Self>,
        runtime: &Arc<dyn Runtime>,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        // Combinators, not `async move { task.await }` wrappers: an async block keeps the
        // future it awaits beside the upvar it was moved from, so each layer doubled the
        // task's size (a connection's task took 8.6 KB instead of 2.2 KB, which a simulated
        // cluster of a thousand nodes pays a million times).
        let rt = runtime.clone();
        let task = std::panic::AssertUnwindSafe(task).catch_unwind().map(move |done| {
            if let Err(panic) = done {
                rt.fatal(&crate::actor::panic_message(&*panic));
            }
        });
        let (task, handle) = abortable(task);
        let key = {
            let mut s = self.state.lock().expect("tasks lock");
            if s.closed {
                return;
            }
            s.next += 1;
            let key = s.next;
            s.tasks.insert(key, handle);
            key
        };
        let me = Arc::downgrade(self);
        runtime.spawn(Box::pin(task.map(move |_| {
            if let Some(me) = me.upgrade() {
                me.state.lock().expect("tasks lock").tasks.remove(&key);
            }
        })));
    }

    /// Stops every task and refuses new ones.
    pub(crate) fn close(&self) {
        let tasks = {
            let mut s = self.state.lock().expect("tasks lock");
            s.closed = true;
            std::mem::take(&mut s.tasks)
        };
        for t in tasks.into_values() {
            t.abort();
        }
    }

    /// How many tasks are running.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().expect("tasks lock").tasks.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant, SystemTime};

    use super::*;
    use crate::runtime::BoxFuture;

    #[derive(Debug)]
    struct Tokio;

    impl Runtime for Tokio {
        fn spawn(&self, task: BoxFuture<'static, ()>) {
            tokio::spawn(task);
        }
        fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
            Box::pin(tokio::time::sleep(d))
        }
        fn now(&self) -> Instant {
            Instant::now()
        }
        fn system_time(&self) -> SystemTime {
            SystemTime::now()
        }
        fn fill_random(&self, buf: &mut [u8]) {
            buf.fill(4);
        }
        fn fatal(&self, message: &str) {
            FATAL.lock().unwrap().push(message.to_owned());
        }
    }

    static FATAL: Mutex<Vec<String>> = Mutex::new(Vec::new());

    #[tokio::test]
    async fn a_panic_in_an_engine_task_is_fatal() {
        let set: Arc<TaskSet> = Arc::default();
        let rt: Arc<dyn Runtime> = Arc::new(Tokio);
        set.spawn(&rt, async { panic!("state half-changed") });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(*FATAL.lock().unwrap(), vec!["state half-changed".to_owned()]);
    }

    #[tokio::test]
    async fn finished_tasks_are_forgotten_and_close_stops_the_rest() {
        let set: Arc<TaskSet> = Arc::default();
        let rt: Arc<dyn Runtime> = Arc::new(Tokio);
        for _ in 0..1000 {
            set.spawn(&rt, async {});
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        set.spawn(&rt, async move {
            let _ = rx.await;
        });
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(set.len(), 1, "only the waiting task is left");
        set.close();
        assert_eq!(set.len(), 0);
        tokio::task::yield_now().await;
        assert!(tx.is_closed(), "the waiting task was stopped");
        set.spawn(&rt, async {});
        assert_eq!(set.len(), 0, "a closed set starts nothing");
    }
}
