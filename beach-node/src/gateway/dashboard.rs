//! The dashboard: `GET /` serves one page (HTML, CSS, script and charts in one embedded file,
//! nothing from the network) that follows `GET /v1/events`, a server-sent event stream of
//! snapshots of the whole cluster every [`PUSH`]. The request-rate history of the last
//! [`KEPT`] is sampled every [`SAMPLE`] in memory, so the chart is full when a page opens;
//! the full snapshots are only built while a page is open.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::Query;
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use beach_core::model::Realm;
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::auth::Need;
use super::error::ApiError;
use super::{Gateway, State};

/// How often an open page gets a snapshot.
const PUSH: Duration = Duration::from_secs(2);
/// How often the rate history is sampled.
const SAMPLE: Duration = Duration::from_secs(10);
/// How much history is kept.
const KEPT: Duration = Duration::from_secs(15 * 60);
/// How many recent events are kept.
const EVENTS: usize = 50;

const PAGE: &str = include_str!("dashboard.html");

/// One point of the rate history.
#[derive(Debug, Clone, Copy)]
struct Point {
    at: u64,
    rate: f64,
    errors: f64,
}

/// The rate history and the recent membership events and errors.
#[derive(Debug, Default)]
pub(crate) struct History {
    inner: Mutex<HistoryInner>,
}

#[derive(Debug, Default)]
struct HistoryInner {
    points: VecDeque<Point>,
    events: VecDeque<Json>,
    /// Totals at the last sample: (received, errors, when).
    last: Option<(u64, u64, u64)>,
    /// Each node's state at the last sample.
    states: BTreeMap<String, String>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl History {
    fn record(&self, received: u64, errors: u64, states: BTreeMap<String, String>) {
        let at = now_secs();
        let mut h = self.inner.lock().expect("history lock");
        if let Some((r0, e0, t0)) = h.last
            && at > t0
        {
            let dt = (at - t0) as f64;
            // A counter that went down (a node left with its actors) counts from zero.
            let rate = received.saturating_sub(r0) as f64 / dt;
            let err = errors.saturating_sub(e0) as f64 / dt;
            h.points.push_back(Point { at, rate, errors: err });
            while h.points.front().is_some_and(|p| at - p.at > KEPT.as_secs()) {
                h.points.pop_front();
            }
            if err > 0.0 {
                h.event(at, "error", format!("{err:.1} errors/s over the last {dt:.0}s"));
            }
        }
        h.last = Some((received, errors, at));
        let old = std::mem::replace(&mut h.states, states);
        let new = h.states.clone();
        if !old.is_empty() {
            for (node, state) in &new {
                match old.get(node) {
                    None => h.event(at, "member", format!("{node} joined ({state})")),
                    Some(s) if s != state => h.event(at, "member", format!("{node} is {state}")),
                    _ => {}
                }
            }
            for node in old.keys().filter(|n| !new.contains_key(*n)) {
                h.event(at, "member", format!("{node} left"));
            }
        }
    }

    fn json(&self) -> (Json, Json) {
        let h = self.inner.lock().expect("history lock");
        let points: Vec<Json> = h
            .points
            .iter()
            .map(|p| json!({ "at": p.at, "rate": p.rate, "errors": p.errors }))
            .collect();
        (Json::Array(points), Json::Array(h.events.iter().rev().cloned().collect()))
    }
}

impl HistoryInner {
    fn event(&mut self, at: u64, kind: &str, text: String) {
        self.events.push_back(json!({ "at": at, "kind": kind, "text": text }));
        while self.events.len() > EVENTS {
            self.events.pop_front();
        }
    }
}

/// Samples the cluster's request totals and members every [`SAMPLE`] while the node runs.
pub(crate) fn start_sampling(g: &Arc<Gateway>) {
    let weak = Arc::downgrade(g);
    tokio::spawn(async move {
        loop {
            let Some(g) = weak.upgrade() else { return };
            if g.node.is_stopped() {
                return;
            }
            if let (Ok(load), Ok(nodes)) = (g.client.load_info().await, g.client.nodes().await) {
                let received = load.iter().map(|l| l.received).sum();
                let errors = load.iter().map(|l| l.errors.values().sum::<u64>()).sum();
                let states = nodes
                    .iter()
                    .map(|n| (n.id.endpoint().to_string(), n.state.to_string()))
                    .collect();
                g.dashboard.record(received, errors, states);
            }
            drop(g);
            tokio::time::sleep(SAMPLE).await;
        }
    });
}

/// The page.
pub(crate) async fn page(
    axum::extract::State(g): State,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    g.access.check(&with_token(headers, q.access_token.as_deref()), Need::Read)?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(PAGE)))
}

/// Which realm the page shows.
#[derive(Debug, Deserialize)]
pub(crate) struct EventsQuery {
    realm: Option<String>,
    /// The bearer token, for a browser that cannot send headers with an event stream.
    access_token: Option<String>,
}

/// `headers` with `token` (from the query string) as its bearer token.
fn with_token(mut headers: HeaderMap, token: Option<&str>) -> HeaderMap {
    if let Some(value) = token.and_then(|t| format!("Bearer {t}").parse().ok()) {
        headers.insert(header::AUTHORIZATION, value);
    }
    headers
}

/// The snapshots, as server-sent events (`snapshot`), one every [`PUSH`].
pub(crate) async fn events(
    axum::extract::State(g): State,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    g.access.check(&with_token(headers, q.access_token.as_deref()), Need::Read)?;
    let realm = q.realm.unwrap_or_else(|| "global".to_owned());
    let realm = Realm::new(&realm).map_err(|e| ApiError::bad(format!("realm {realm:?}: {e}")))?;
    let stream = futures::stream::unfold(
        (g, realm, BTreeMap::<String, u64>::new(), None::<std::time::Instant>),
        |(g, realm, prev, last)| async move {
            if let Some(at) = last {
                tokio::time::sleep(PUSH.saturating_sub(at.elapsed())).await;
            }
            let now = std::time::Instant::now();
            let dt = last.map(|l| now.duration_since(l).as_secs_f64());
            let (data, received) = snapshot(&g, &realm, &prev, dt).await;
            let event = Event::default().event("snapshot").data(data.to_string());
            Some((Ok(event), (g, realm, received, Some(now))))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The cluster now: nodes, the realm's categories (actors, rate, latency, errors), the rate
/// history and recent events. `prev` holds each actor's received count at the last snapshot,
/// `dt` the seconds since; returns the snapshot and the counts now.
async fn snapshot(
    g: &Gateway,
    realm: &Realm,
    prev: &BTreeMap<String, u64>,
    dt: Option<f64>,
) -> (Json, BTreeMap<String, u64>) {
    let nodes = g.client.nodes().await.unwrap_or_default();
    let health = g.client.cluster_health().await.unwrap_or_default();
    let load = g.client.load_info().await.unwrap_or_default();
    let dir = g.client.with_realm(realm.clone()).directory("").await.unwrap_or_default();
    let health: BTreeMap<String, (f64, f64)> =
        health.iter().map(|h| (h.node.endpoint().to_string(), (h.cpu, h.memory))).collect();
    let nodes: Vec<Json> = nodes
        .iter()
        .map(|n| {
            let address = n.id.endpoint().to_string();
            let (cpu, memory) = health.get(&address).copied().unwrap_or_default();
            json!({ "address": address, "state": n.state.as_str(), "actors": n.actors, "cpu": cpu, "memory": memory })
        })
        .collect();
    let by_id: BTreeMap<String, &beach_core::client::ActorLoad> =
        load.iter().map(|l| (l.id.to_string(), l)).collect();
    let received: BTreeMap<String, u64> =
        load.iter().map(|l| (l.id.to_string(), l.received)).collect();
    let categories: Vec<Json> = dir
        .iter()
        .map(|(category, ids)| {
            let (mut rate, mut errors, mut p50, mut p99, mut total) =
                (0.0, 0u64, 0.0f64, 0.0f64, 0u64);
            for id in ids {
                let id = id.to_string();
                let Some(l) = by_id.get(&id) else { continue };
                total += l.received;
                errors += l.errors.values().sum::<u64>();
                p50 = p50.max(l.p50_ms);
                p99 = p99.max(l.p99_ms);
                if let (Some(dt), Some(before)) = (dt, prev.get(&id))
                    && dt > 0.0
                {
                    rate += l.received.saturating_sub(*before) as f64 / dt;
                }
            }
            json!({ "category": category.to_string(), "actors": ids.len(), "rate": rate,
                    "received": total, "errors": errors, "p50_ms": p50, "p99_ms": p99 })
        })
        .collect();
    let realms: Vec<String> =
        g.node.with_directory(|d| d.realms()).iter().map(ToString::to_string).collect();
    let (history, events) = g.dashboard.json();
    let (ready, _) = super::reads::readiness(g);
    let data = json!({
        "node": g.node.id().endpoint().to_string(),
        "cluster": g.config.cluster_name,
        "ready": ready,
        "realm": realm.to_string(),
        "realms": realms,
        "nodes": nodes,
        "categories": categories,
        "history": history,
        "events": events,
        "at": now_secs(),
    });
    (data, received)
}
