//! `GET /metrics` in the Prometheus text format. What this node served (its actors, by realm
//! and type) and routed (the requests of its gateway, its actors and its embedding program,
//! by realm, category, kind and outcome, with latency per category), its actors, spawns and stops, members, directory,
//! connections and frames, and the process's CPU and memory. Never a label per actor id, and
//! callers cannot grow the label sets: a category becomes a label only if the directory has
//! actors under it, a kind only if an actor handled it, and each label takes at most
//! [`MAX_VALUES`] values (the rest count as `other`). Every metric is listed in the README.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use beach_core::ErrorCode;
use beach_core::actor::{RequestError, RouteObserver, Routed};
use beach_core::node::Node;
use beach_core::value::Payload;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::State;
use super::auth::Need;
use super::error::ApiError;

/// How many values one label may take; past it, `other`.
pub(crate) const MAX_VALUES: usize = 100;
/// What a capped or unknown label value becomes.
const OTHER: &str = "other";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    realm: String,
    category: String,
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CategoryLabels {
    realm: String,
    category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct TypeLabels {
    realm: String,
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServedLabels {
    realm: String,
    r#type: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuantileLabels {
    realm: String,
    r#type: String,
    quantile: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CounterLabels {
    realm: String,
    r#type: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RealmLabels {
    realm: String,
}

/// A label's values so far: new ones are admitted up to [`MAX_VALUES`].
#[derive(Debug, Default)]
struct Bounded(Mutex<HashSet<String>>);

impl Bounded {
    /// `value` if it was admitted before, without asking anything.
    fn known(&self, value: &str) -> Option<String> {
        self.0.lock().expect("metrics lock").contains(value).then(|| value.to_owned())
    }

    fn admit(&self, value: &str) -> String {
        let mut seen = self.0.lock().expect("metrics lock");
        if seen.contains(value) {
            return value.to_owned();
        }
        if seen.len() < MAX_VALUES {
            seen.insert(value.to_owned());
            return value.to_owned();
        }
        OTHER.to_owned()
    }
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 52 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

/// The gateway's own series, kept between scrapes; the rest is read at each scrape.
#[derive(Debug)]
pub struct Metrics {
    routed: Family<RouteLabels, Counter>,
    routed_seconds: Family<CategoryLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    http_spawns: Counter,
    http_stops: Counter,
    realms: Bounded,
    categories: Bounded,
    kinds: Bounded,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Empty series.
    pub fn new() -> Metrics {
        Metrics {
            routed: Family::default(),
            routed_seconds: Family::new_with_constructor(latency_histogram),
            in_flight: Gauge::default(),
            http_spawns: Counter::default(),
            http_stops: Counter::default(),
            realms: Bounded::default(),
            categories: Bounded::default(),
            kinds: Bounded::default(),
        }
    }

    /// A request is under way through the gateway; the guard counts it until dropped.
    pub(crate) fn start(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// Counts actors spawned through the gateway.
    pub(crate) fn spawned(&self, n: usize) {
        self.http_spawns.inc_by(n as u64);
    }

    /// Counts actors stopped through the gateway.
    pub(crate) fn stopped(&self, n: usize) {
        self.http_stops.inc_by(n as u64);
    }
}

impl RouteObserver for Metrics {
    /// Counts a request this node routed, and its latency.
    fn routed(&self, r: &Routed<'_>) {
        let outcome = r.outcome;
        // A label value seen before is taken as it is. A new realm and category are admitted
        // only if the directory had actors under them (the request did not fail with "no actors" or as bad
        // input), a new kind only if an actor handled it (it answered, and not with "not
        // supported").
        let listed = !matches!(
            outcome,
            Err(RequestError::NoActors { .. }
                | RequestError::Routing(_)
                | RequestError::Payload(_))
        );
        let realm = match self.realms.known(r.realm.as_str()) {
            Some(r) => r,
            None if listed => self.realms.admit(r.realm.as_str()),
            None => OTHER.to_owned(),
        };
        let category = match self.categories.known(r.category) {
            Some(c) => c,
            None if listed && !r.category.is_empty() => self.categories.admit(r.category),
            None => OTHER.to_owned(),
        };
        let handled = match outcome {
            Ok(_) => true,
            Err(e @ RequestError::Remote { .. }) => !e.is(ErrorCode::Unsupported),
            Err(_) => false,
        };
        let kind = match self.kinds.known(r.kind) {
            Some(k) => k,
            None if handled => self.kinds.admit(r.kind),
            None => OTHER.to_owned(),
        };
        let outcome = outcome_label(outcome);
        self.routed_seconds
            .get_or_create(&CategoryLabels { realm: realm.clone(), category: category.clone() })
            .observe(r.took.as_secs_f64());
        self.routed.get_or_create(&RouteLabels { realm, category, kind, outcome }).inc();
    }
}

/// Counts a request in flight until dropped.
#[derive(Debug)]
pub(crate) struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A request's outcome as a label: `ok`, a fixed error (`timeout`, `no_actors`, ...), or
/// `error` for an actor's own.
fn outcome_label(outcome: &Result<Payload, RequestError>) -> String {
    match outcome {
        Ok(_) => "ok".to_owned(),
        Err(RequestError::Routing(_) | RequestError::Payload(_)) => "bad_request".to_owned(),
        Err(e) => error_label(e.code()),
    }
}

fn error_label(code: Option<ErrorCode>) -> String {
    match code {
        Some(ErrorCode::Unsupported) => "unsupported".to_owned(),
        Some(c) => c.as_str().replace(' ', "_"),
        None => "error".to_owned(),
    }
}

/// Serves the metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format")))]
pub(crate) async fn scrape(
    axum::extract::State(g): State,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    g.access.check(&headers, Need::Read)?;
    let mut registry = Registry::default();
    let m = &g.metrics;
    registry.register(
        "beach_requests",
        "Requests this node routed (its gateway's, its actors', its embedding program's), by realm, category, kind and outcome",
        m.routed.clone(),
    );
    registry.register(
        "beach_request_duration_seconds",
        "Latency of the requests this node routed, retries included, by realm and category",
        m.routed_seconds.clone(),
    );
    registry.register(
        "beach_gateway_in_flight",
        "Requests through the gateway waiting for their reply",
        m.in_flight.clone(),
    );
    registry.register(
        "beach_gateway_spawns",
        "Actors spawned through the gateway",
        m.http_spawns.clone(),
    );
    registry.register(
        "beach_gateway_stops",
        "Actors stopped through the gateway",
        m.http_stops.clone(),
    );
    served(&mut registry, &g.node);
    node_state(&mut registry, &g.node, &g.client).await;
    process(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .map_err(|e| ApiError::bad(format!("encoding metrics: {e}")))?;
    Ok((
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        text,
    ))
}

/// What this node's actors served, summed per realm and type.
fn served(registry: &mut Registry, node: &Node) {
    let actors = Family::<TypeLabels, Gauge>::default();
    let in_flight = Family::<TypeLabels, Gauge>::default();
    let queued = Family::<TypeLabels, Gauge>::default();
    let requests = Family::<ServedLabels, Counter>::default();
    let queue_full = Family::<TypeLabels, Counter>::default();
    let dropped = Family::<TypeLabels, Counter>::default();
    let latency = Family::<QuantileLabels, Gauge<f64, AtomicU64>>::default();
    let custom = Family::<CounterLabels, Gauge<f64, AtomicU64>>::default();
    let mut names: HashSet<String> = HashSet::new();
    // Per type: requests received and the sum of mean service times weighted by them.
    let mut means: BTreeMap<TypeLabels, (u64, f64)> = BTreeMap::new();
    for a in node.hosted() {
        let t = TypeLabels { realm: a.realm.to_string(), r#type: a.actor_type.to_string() };
        let l = &a.load;
        actors.get_or_create(&t).inc();
        in_flight.get_or_create(&t).inc_by(i64::try_from(l.in_flight).unwrap_or(i64::MAX));
        queued.get_or_create(&t).inc_by(i64::try_from(a.queued).unwrap_or(i64::MAX));
        queue_full.get_or_create(&t).inc_by(l.queue_full);
        dropped.get_or_create(&t).inc_by(l.dropped);
        let mut failed = 0;
        for (error, n) in &l.errors {
            failed += n;
            let outcome = error_label(ErrorCode::of_message(error));
            let labels = ServedLabels { realm: t.realm.clone(), r#type: t.r#type.clone(), outcome };
            requests.get_or_create(&labels).inc_by(*n);
        }
        let ok =
            ServedLabels { realm: t.realm.clone(), r#type: t.r#type.clone(), outcome: "ok".into() };
        requests.get_or_create(&ok).inc_by(l.replied.saturating_sub(failed));
        for (q, ms) in [("0.5", l.p50_ms), ("0.99", l.p99_ms)] {
            let labels = QuantileLabels {
                realm: t.realm.clone(),
                r#type: t.r#type.clone(),
                quantile: q.into(),
            };
            let g = latency.get_or_create(&labels);
            if ms / 1000.0 > g.get() {
                g.set(ms / 1000.0);
            }
        }
        let m = means.entry(t.clone()).or_default();
        m.0 += l.received;
        m.1 += l.mean_ms / 1000.0 * l.received as f64;
        for (name, value) in &l.custom {
            if names.len() >= MAX_VALUES && !names.contains(name) {
                continue;
            }
            names.insert(name.clone());
            let labels = CounterLabels {
                realm: t.realm.clone(),
                r#type: t.r#type.clone(),
                name: name.clone(),
            };
            custom.get_or_create(&labels).inc_by(*value);
        }
    }
    let mean = Family::<TypeLabels, Gauge<f64, AtomicU64>>::default();
    for (t, (n, sum)) in means {
        if n > 0 {
            mean.get_or_create(&t).set(sum / n as f64);
        }
    }
    registry.register("beach_actors", "Actors hosted on this node, by realm and type", actors);
    registry.register(
        "beach_actor_in_flight",
        "Requests this node's actors are serving now",
        in_flight,
    );
    registry.register(
        "beach_actor_queued",
        "Requests admitted to this node's actors and waiting for a turn (concurrency limits)",
        queued,
    );
    registry.register(
        "beach_actor_requests",
        "Requests this node's actors answered, by realm, type and outcome (ok, a fixed error, or error for the actor's own)",
        requests,
    );
    registry.register("beach_actor_queue_full", "Requests refused with `queue full`", queue_full);
    registry.register(
        "beach_actor_dropped",
        "Requests dropped because their caller had given up",
        dropped,
    );
    registry.register(
        "beach_actor_service_seconds",
        "Service time of this node's actors: the worst actor's quantile, by realm and type",
        latency,
    );
    registry.register(
        "beach_actor_service_mean_seconds",
        "Mean service time, by realm and type",
        mean,
    );
    registry.register(
        "beach_actor_counter",
        "Actors' own counters (ctx.counter, zInc/zSet), summed by realm, type and name",
        custom,
    );
}

/// Spawns and stops, members, the directory, connections and frames.
async fn node_state(registry: &mut Registry, node: &Node, client: &beach_core::client::Beach) {
    let c = node.counters();
    let counters: [(&str, &str, u64); 11] = [
        ("beach_spawns", "Actors started on this node", c.spawns),
        (
            "beach_restarts",
            "Deployment replicas this node started again after replicas were lost",
            c.restarts,
        ),
        ("beach_spawn_failures", "Spawns on this node whose init failed", c.spawn_failures),
        ("beach_stops", "Actors stopped on this node", c.stops),
        ("beach_connections_opened", "Connections established by this node", c.connections_opened),
        (
            "beach_connections_reaped",
            "Connections to other nodes closed by the close handshake (quiet, or doubled)",
            c.connections_reaped,
        ),
        ("beach_frames_received", "Frames this node received", c.frames_in),
        ("beach_frames_sent", "Frames this node sent", c.frames_out),
        ("beach_received_bytes", "Bytes this node read from its connections", c.bytes_in),
        ("beach_sent_bytes", "Bytes this node wrote to its connections", c.bytes_out),
        (
            "beach_frames_refused",
            "Frames not sent because they did not fit (their requests failed)",
            c.frames_refused,
        ),
    ];
    for (name, help, value) in counters {
        registry.register(name, help, ConstCounter::new(value));
    }
    registry.register(
        "beach_connections_broken",
        "Connections closed because the other side broke the protocol",
        ConstCounter::new(c.connections_broken),
    );
    registry.register(
        "beach_connections",
        "Connections open now",
        ConstGauge::new(i64::try_from(c.connections_open).unwrap_or(i64::MAX)),
    );
    let members = Family::<StateLabels, Gauge>::default();
    if let Ok(nodes) = client.nodes().await {
        for n in nodes {
            members.get_or_create(&StateLabels { state: n.state.to_string() }).inc();
        }
    }
    registry.register(
        "beach_members",
        "Members of the cluster as this node sees them, by state",
        members,
    );
    let directory = Family::<RealmLabels, Gauge>::default();
    node.with_directory(|d| {
        for p in d.partitions() {
            for e in p.entries.values() {
                directory.get_or_create(&RealmLabels { realm: e.realm.to_string() }).inc();
            }
        }
    });
    registry.register(
        "beach_directory_actors",
        "Actors in this node's directory, by realm",
        directory,
    );
}

/// The process's CPU time and resident memory, from /proc.
fn process(registry: &mut Registry) {
    if let Some(seconds) = crate::health::process_cpu_seconds() {
        registry.register(
            "process_cpu_seconds",
            "CPU time of the node process",
            ConstCounter::new(seconds),
        );
    }
    if let Some(bytes) = crate::health::process_rss_bytes() {
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of the node process",
            ConstGauge::new(i64::try_from(bytes).unwrap_or(i64::MAX)),
        );
    }
}
