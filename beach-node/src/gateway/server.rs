//! Serving HTTP/1.1 connections: a client must send its request head within a few seconds or
//! is dropped (slow clients cannot hold connections open), and at most a bounded number of
//! connections are served at once. The loop ends when its node stops.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use beach_core::node::Node;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::{HEADER_WAIT, MAX_CONNECTIONS};

/// How often the loop looks whether its node stopped.
const STOP_CHECK: Duration = Duration::from_millis(500);

pub(super) async fn serve(listener: TcpListener, app: Router, node: Node) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let (stream, _) = tokio::select! {
            biased;
            _ = wait_stopped(&node) => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait a little rather than spin.
                    tracing::warn!("HTTP gateway cannot accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_WAIT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            let _ = conn.await;
        });
    }
}

async fn wait_stopped(node: &Node) {
    while !node.is_stopped() {
        tokio::time::sleep(STOP_CHECK).await;
    }
}
