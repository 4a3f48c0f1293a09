use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::TestActor;
use crate::ErrorCode;
use crate::actor::{Actor, Context, InitError, Message, Request, Response};

#[derive(Debug, Serialize, Deserialize)]
struct Ticks;
impl Message for Ticks {
    const KIND: &'static str = "ticks";
    type Reply = u64;
}

crate::messages! {
    enum TickerRequest { Ticks(Ticks) }
}

/// Every `every` parameter seconds, tells `sink` a tick; `ticks` answers how many so far;
/// `boom` panics; `quit` stops it.
struct Ticker {
    ticks: std::sync::Arc<AtomicU64>,
}

#[async_trait]
impl Actor for Ticker {
    async fn init(ctx: &Context) -> Result<Self, InitError> {
        let every: u64 = match ctx.param("every") {
            Some(Ok(s)) => s,
            _ => return Err(InitError::new("parameter `every` is missing")),
        };
        let ticks = std::sync::Arc::new(AtomicU64::new(0));
        let counted = ticks.clone();
        let sink = ctx.handle("sink");
        ctx.schedule(Duration::from_secs(every), move |_ctx| {
            let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
            let _ = sink.shoot("tick", &n);
            async {}
        });
        Ok(Ticker { ticks })
    }

    async fn handle(&self, ctx: &Context, request: Request) -> Response {
        match request.kind() {
            "boom" => panic!("kaboom"),
            "quit" => {
                ctx.stop_self();
                Response::empty()
            }
            _ => match request.decode::<TickerRequest>() {
                Ok(TickerRequest::Ticks(_)) => Ticks::reply(&self.ticks.load(Ordering::SeqCst)),
                Err(answer) => answer,
            },
        }
    }
}

#[tokio::test]
async fn schedules_run_as_the_test_moves_the_clock_and_what_they_send_is_recorded() {
    let ticker = TestActor::builder()
        .param("every", &10u64)
        .stub("sink", |_| Response::empty())
        .start::<Ticker>()
        .await
        .unwrap();
    // A schedule runs at once, then every 10 virtual seconds.
    assert_eq!(ticker.ask(Ticks).await.unwrap(), 1);
    ticker.advance(Duration::from_secs(9)).await;
    assert_eq!(ticker.ask(Ticks).await.unwrap(), 1);
    ticker.advance(Duration::from_secs(31)).await;
    assert_eq!(ticker.ask(Ticks).await.unwrap(), 5);
    let sent = ticker.sent();
    assert_eq!(sent.len(), 5);
    assert!(sent.iter().all(|c| c.category == "sink" && c.kind == "tick" && c.one_way));
    assert_eq!(sent[4].data.decode::<u64>().unwrap(), 5);
    assert_eq!(ticker.stats().replied_count(), 3);
    ticker.stop().await;
}

#[tokio::test]
async fn panics_unknown_kinds_init_errors_and_stop_self_behave_as_on_a_node() {
    let err = TestActor::builder().start::<Ticker>().await.unwrap_err();
    assert_eq!(err.to_string(), "parameter `every` is missing");
    let ticker = TestActor::builder().param("every", &1u64).start::<Ticker>().await.unwrap();
    let err = ticker.request("boom", &()).await.unwrap_err();
    assert!(err.is(ErrorCode::Exception), "{err:?}");
    assert!(ticker.request("what", &()).await.unwrap_err().is(ErrorCode::Unsupported));
    assert_eq!(ticker.stats().errors().values().sum::<u64>(), 2);
    assert!(!ticker.stopped_itself());
    ticker.request("quit", &()).await.unwrap();
    assert!(ticker.stopped_itself());
    // No stub for `sink`: the schedule's messages go nowhere, and nothing is recorded.
    ticker.advance(Duration::from_secs(3)).await;
    assert!(ticker.sent().is_empty());
}

#[tokio::test]
async fn a_request_to_a_category_without_a_stub_finds_no_actor() {
    struct Asker;
    #[async_trait]
    impl Actor for Asker {
        async fn init(_: &Context) -> Result<Self, InitError> {
            Ok(Asker)
        }
        async fn handle(&self, ctx: &Context, _: Request) -> Response {
            match ctx.handle("svc/missing").request("x", &()).await {
                Ok(_) => Response::empty(),
                Err(e) => Response::error(e.code().map_or("other", |c| c.as_str())),
            }
        }
    }
    let asker = TestActor::builder().start::<Asker>().await.unwrap();
    let err = asker.request("go", &()).await.unwrap_err();
    assert_eq!(err.to_string(), ErrorCode::NoActors.as_str());
}
