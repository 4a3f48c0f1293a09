//! The HTTP gateway against real `beach-node` processes: every endpoint and status, the
//! tokens, py-beach's bridge form, the metrics (parsed by a Prometheus text parser), the
//! dashboard's page and event stream, and what the gateway refuses.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Cluster, eventually};
use serde_json::{Value as Json, json};

const JOIN: Duration = Duration::from_secs(20);
const TOKEN: &str = "admin-secret";

struct Http {
    client: reqwest::Client,
}

impl Http {
    fn new() -> Self {
        Http { client: reqwest::Client::builder().no_proxy().build().unwrap() }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, String) {
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }

    /// A JSON POST; the status and the body as JSON (or the text as a JSON string).
    async fn post(&self, url: &str, body: Json, token: Option<&str>) -> (u16, Json) {
        let mut req = self.client.post(url).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let (status, text) = self.send(req).await;
        (status, serde_json::from_str(&text).unwrap_or(Json::String(text)))
    }

    async fn get(&self, url: &str) -> (u16, Json) {
        let (status, text) = self.send(self.client.get(url)).await;
        (status, serde_json::from_str(&text).unwrap_or(Json::String(text)))
    }
}

async fn ready(http: &Http, base: &str) {
    assert!(
        eventually(JOIN, || async {
            http.client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200)
        })
        .await,
        "{base} never became ready"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_reads_and_admin_calls_through_any_nodes_gateway() {
    let extra = format!("admin_token: {TOKEN}\nmax_frame_size: 256KiB\n");
    let (cluster, urls) = Cluster::start_http("gw-api", 2, &extra);
    let http = Http::new();
    cluster.wait_joined(JOIN).await;
    for u in &urls {
        ready(&http, u).await;
    }
    let (a, b) = (&urls[0], &urls[1]);
    assert_eq!(http.get(&format!("{a}/healthz")).await.0, 200);

    // Writes need the admin token: none is 401, a wrong one 403.
    let spawn = json!({"realm":"global","type":"Pong","categories":["pongers"],"count":2,"strategy":"repulsion","hint":"pongers"});
    assert_eq!(http.post(&format!("{a}/v1/spawn"), spawn.clone(), None).await.0, 401);
    assert_eq!(http.post(&format!("{a}/v1/spawn"), spawn.clone(), Some("nope")).await.0, 403);
    let (status, body) = http.post(&format!("{a}/v1/spawn"), spawn, Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["actors"].as_array().unwrap().len(), 2, "{body}");
    let dry = json!({"type":"Pong","categories":["x"],"dry_run":true});
    let (status, body) = http.post(&format!("{a}/v1/spawn"), dry, Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["placement"][0]["reason"].is_string(), "{body}");
    let sleeper = json!({"type":"Sleeper","categories":["sleepers"]});
    assert_eq!(http.post(&format!("{a}/v1/spawn"), sleeper, Some(TOKEN)).await.0, 200);
    let (status, body) = http
        .post(&format!("{a}/v1/spawn"), json!({"type":"Nope","categories":["n"]}), Some(TOKEN))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("unknown actor type"), "{body}");

    // Requests through the other node's gateway: the whole cluster is reachable from any.
    let ping = json!({"realm":"global","category":"pongers","kind":"ping","data":{"n":1},"timeout":"5s","retries":1,"mode":"random"});
    let (status, body) = http.post(&format!("{b}/v1/request"), ping, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true);
    assert!(body["data"]["time"].is_number(), "{body}");
    let (status, body) = http
        .post(&format!("{a}/v1/request"), json!({"category":"nobody","kind":"ping"}), None)
        .await;
    assert_eq!((status, body["error"].as_str().unwrap()), (404, "no actor in category \"nobody\""));
    let (status, body) = http
        .post(&format!("{a}/v1/request"), json!({"category":"pongers","kind":"nope"}), None)
        .await;
    assert_eq!((status, &body["error"]), (502, &json!("request type not supported by actor")));
    let slow = json!({"category":"sleepers","kind":"sleep","timeout":"200ms"});
    let (status, body) = http.post(&format!("{a}/v1/request"), slow, None).await;
    assert_eq!((status, &body["error"]), (504, &json!("timeout")));
    let affinity = json!({"category":"pongers","kind":"ping","mode":"affinity"});
    let (status, body) = http.post(&format!("{a}/v1/request"), affinity, None).await;
    assert_eq!(status, 400, "affinity without a key: {body}");

    // Bad input names what is wrong.
    let (status, text) = http
        .send(
            http.client
                .post(format!("{a}/v1/request"))
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(status, 400, "{text}");
    for (body, field) in [
        (json!({"kind":"ping"}), "category"),
        (json!({"category":"pongers","kind":"ping","colour":1}), "colour"),
        (json!({"category":"pongers","kind":"ping","timeout":"soon"}), "timeout"),
        (json!({"category":"pongers","kind":"ping","timeout":-1}), "timeout"),
        (json!({"category":"pongers","kind":"ping","mode":"psychic"}), "mode"),
        (json!({"category":"pongers","kind":"ping","realm":"no such realm!"}), "realm"),
    ] {
        let (status, answer) = http.post(&format!("{a}/v1/request"), body.clone(), None).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert!(answer["error"].as_str().unwrap().contains(field), "{body} -> {answer}");
    }
    // Just past the limit (256 KiB): a larger body may still be in flight when the 413 comes,
    // and the client then sees the connection reset instead of the answer.
    let big = "x".repeat(260 * 1024);
    let big = json!({"category":"pongers","kind":"ping","data":big});
    assert_eq!(http.post(&format!("{a}/v1/request"), big, None).await.0, 413);
    assert_eq!(http.get(&format!("{a}/v1/nothing")).await.0, 404);

    // Every actor at once: one JSON line per actor, as each answers.
    let all = http
        .client
        .post(format!("{a}/v1/request"))
        .json(&json!({"category":"pongers","kind":"ping","all":true}))
        .send()
        .await
        .unwrap();
    assert_eq!(all.headers()["content-type"], "application/x-ndjson");
    let text = all.text().await.unwrap();
    let lines: Vec<Json> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines.iter().all(|l| l["ok"] == true && l["id"].is_string()), "{text}");

    let (status, body) = http
        .post(&format!("{a}/v1/shoot"), json!({"category":"pongers","kind":"ping"}), None)
        .await;
    assert_eq!((status, body), (200, json!({"ok": true})));
    let (status, body) = http
        .post(&format!("{a}/v1/broadcast"), json!({"category":"pongers","kind":"ping"}), None)
        .await;
    assert_eq!((status, body), (200, json!({"sent": 2})));

    // One actor of each sub-category.
    for sub in ["grp/a", "grp/b"] {
        let spawn = json!({"type":"Echo","categories":[sub]});
        assert_eq!(http.post(&format!("{a}/v1/spawn"), spawn, Some(TOKEN)).await.0, 200);
    }
    // Node b learns of them by the directory's sync: poll until it does.
    let group = json!({"category":"grp","kind":"x","data":5});
    let both = eventually(JOIN, || async {
        let (status, body) = http.post(&format!("{b}/v1/group"), group.clone(), None).await;
        status == 200
            && body["replies"].as_array().is_some_and(|r| {
                r.len() == 2 && r.iter().all(|r| r["ok"] == true && r["data"] == 5)
            })
    })
    .await;
    assert!(both, "the group request did not reach both sub-categories");

    // Reads, the CLI's documents.
    let (status, nodes) = http.get(&format!("{a}/v1/nodes")).await;
    assert_eq!(status, 200);
    assert_eq!(nodes["nodes"].as_array().unwrap().len(), 2, "{nodes}");
    let (_, dir) = http.get(&format!("{b}/v1/directory?realm=global&category=pong")).await;
    let pongers = dir["categories"]["pongers"].as_array().unwrap().clone();
    assert_eq!(pongers.len(), 2, "{dir}");
    assert_eq!(http.get(&format!("{a}/v1/directory?colour=red")).await.0, 400);
    let (_, types) = http.get(&format!("{a}/v1/types?realm=global")).await;
    assert!(types["types"].as_array().unwrap().iter().any(|t| t["type"] == "Pong"), "{types}");
    let (_, load) = http.get(&format!("{a}/v1/load")).await;
    assert!(load["actors"].as_array().unwrap().iter().any(|l| l["received"].as_u64() > Some(0)));
    let (_, health) = http.get(&format!("{a}/v1/health")).await;
    assert_eq!(health["nodes"].as_array().unwrap().len(), 2, "{health}");
    let (_, meta) = http.get(&format!("{a}/v1/metadata")).await;
    assert!(meta["nodes"][0]["actors"].is_array(), "{meta}");

    // Categories and stopping.
    let id = pongers[0].as_str().unwrap();
    let cat = json!({"id": id, "category": "extra"});
    assert_eq!(http.post(&format!("{a}/v1/categorize"), cat.clone(), None).await.0, 401);
    assert_eq!(http.post(&format!("{a}/v1/categorize"), cat.clone(), Some(TOKEN)).await.0, 200);
    let (_, dir) = http.get(&format!("{a}/v1/directory?category=extra")).await;
    assert_eq!(dir["categories"]["extra"], json!([id]), "{dir}");
    assert_eq!(http.post(&format!("{a}/v1/uncategorize"), cat, Some(TOKEN)).await.0, 200);
    let (status, body) = http.post(&format!("{a}/v1/stop"), json!({"ids":[id]}), Some(TOKEN)).await;
    assert_eq!((status, &body["stopped"]), (200, &json!([id])), "{body}");
    assert_eq!(http.post(&format!("{a}/v1/stop"), json!({}), Some(TOKEN)).await.0, 400);
    let (status, body) =
        http.post(&format!("{a}/v1/stop"), json!({"ids":["x"]}), Some(TOKEN)).await;
    assert_eq!(status, 400, "{body}");
    let (status, text) =
        http.send(http.client.post(format!("{a}/v1/flush")).bearer_auth(TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    let (status, body) = http
        .post(&format!("{a}/v1/request"), json!({"category":"pongers","kind":"ping"}), None)
        .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_beach_bridge_form() {
    let (cluster, urls) = Cluster::start_http("gw-bridge", 1, "");
    let http = Http::new();
    cluster.wait_joined(JOIN).await;
    ready(&http, &urls[0]).await;
    let a = &urls[0];
    let client = cluster.client_of(0).await;
    client.add_actor(client.actor("Echo", ["svc/echo/1.0"]).count(2)).await.unwrap();
    client.add_actor(client.actor("Sleeper", ["svc/sleep"])).await.unwrap();
    client.add_actor(client.actor("Pong", ["svc/pong"])).await.unwrap();

    // Non-underscore fields are the data, from the query string or a form body.
    let (status, text) =
        http.send(http.client.post(format!("{a}/bridge/svc/echo?_action=say&word=hi&n=1"))).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(serde_json::from_str::<Json>(&text).unwrap(), json!({"word":"hi","n":"1"}));
    let form = http
        .client
        .post(format!("{a}/bridge/svc/echo"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("_action=say&_timeout=5&_n_retries=1&word=form");
    let (status, text) = http.send(form).await;
    assert_eq!(
        (status, serde_json::from_str::<Json>(&text).unwrap()),
        (200, json!({"word":"form"}))
    );
    // _json_data carries typed data; headers carry the options.
    let typed = http
        .client
        .post(format!("{a}/bridge/svc/echo"))
        .header("Beach-Action", "say")
        .header("Beach-Timeout", "5")
        .body("_json_data=%7B%22n%22%3A5%7D")
        .header("content-type", "application/x-www-form-urlencoded");
    let (status, text) = http.send(typed).await;
    assert_eq!((status, serde_json::from_str::<Json>(&text).unwrap()), (200, json!({"n":5})));
    let (status, text) = http
        .send(http.client.post(format!("{a}/bridge/svc/echo?_action=say&_from_all=1&x=1")))
        .await;
    assert_eq!(
        (status, serde_json::from_str::<Json>(&text).unwrap()),
        (200, json!([{"x":"1"},{"x":"1"}]))
    );
    let (status, text) =
        http.send(http.client.post(format!("{a}/bridge/svc/echo?_action=say&_key=k1&x=1"))).await;
    assert_eq!(status, 200, "{text}");
    // py-beach's statuses: 408 on a timeout, 400 {error, data} on the actor's error.
    let (status, text) = http
        .send(http.client.post(format!("{a}/bridge/svc/sleep?_action=sleep&_timeout=0.2")))
        .await;
    assert_eq!(status, 408, "{text}");
    let (status, text) =
        http.send(http.client.post(format!("{a}/bridge/svc/pong?_action=nope"))).await;
    assert_eq!(status, 400, "{text}");
    let body: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], "request type not supported by actor", "{body}");
    assert!(body.get("data").is_some(), "{body}");
    let (status, text) = http.send(http.client.post(format!("{a}/bridge/svc/echo?word=1"))).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("_action"), "{text}");
    let (status, _) = http.send(http.client.post(format!("{a}/bridge/nobody?_action=x"))).await;
    assert_eq!(status, 404);
}

/// One sample's value, by metric name and labels.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.samples.iter().find_map(|s| {
        let matches = s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v));
        matches.then_some(match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
    })
}

async fn scrape(http: &Http, base: &str) -> prometheus_parse::Scrape {
    let (status, text) = http.send(http.client.get(format!("{base}/metrics"))).await;
    assert_eq!(status, 200, "{text}");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_each_node_serves_and_routes_with_bounded_labels() {
    let (cluster, urls) = Cluster::start_http("gw-metrics", 2, "");
    let http = Http::new();
    cluster.wait_joined(JOIN).await;
    ready(&http, &urls[0]).await;
    let client = cluster.client_of(0).await;
    client.add_actor(client.actor("Pong", ["svc/pongers"]).count(2)).await.unwrap();
    for i in 0..5 {
        let (status, _) = http
            .post(
                &format!("{}/v1/request", urls[0]),
                json!({"category":"svc/pongers","kind":"ping","data":{"i":i}}),
                None,
            )
            .await;
        assert_eq!(status, 200);
    }
    // Callers cannot grow the label sets: unknown categories and kinds are `other`.
    for i in 0..150 {
        let body = json!({"category": format!("junk/{i}"), "kind": format!("k{i}")});
        http.post(&format!("{}/v1/request", urls[0]), body, None).await;
        let body = json!({"category": "svc/pongers", "kind": format!("k{i}")});
        http.post(&format!("{}/v1/request", urls[0]), body, None).await;
    }
    let m = scrape(&http, &urls[0]).await;
    let routed =
        [("realm", "global"), ("category", "svc/pongers"), ("kind", "ping"), ("outcome", "ok")];
    assert_eq!(sample(&m, "beach_requests_total", &routed), Some(5.0));
    let junk = [("category", "other"), ("kind", "other"), ("outcome", "no_actors")];
    assert_eq!(sample(&m, "beach_requests_total", &junk), Some(150.0));
    let unsupported = [("category", "svc/pongers"), ("kind", "other"), ("outcome", "unsupported")];
    assert_eq!(sample(&m, "beach_requests_total", &unsupported), Some(150.0));
    assert!(
        sample(&m, "beach_request_duration_seconds_count", &[("category", "svc/pongers")])
            .is_some()
    );
    let values: std::collections::BTreeSet<&str> =
        m.samples.iter().filter_map(|s| s.labels.get("category")).collect();
    assert!(values.len() <= 3, "categories as labels: {values:?}");
    assert!(
        m.samples.iter().all(|s| !s.labels.values().any(|v| v.contains('@'))),
        "an actor id as a label"
    );
    assert_eq!(sample(&m, "beach_members", &[("state", "alive")]), Some(2.0));
    assert_eq!(sample(&m, "beach_directory_actors", &[("realm", "global")]), Some(2.0));
    assert!(sample(&m, "process_resident_memory_bytes", &[]).unwrap() > 1e6);
    assert!(sample(&m, "process_cpu_seconds_total", &[]).is_some());
    assert!(sample(&m, "beach_frames_received_total", &[]).unwrap() > 0.0);
    let frames_out = sample(&m, "beach_frames_sent_total", &[]).unwrap();
    // Every frame has at least its 4-byte length prefix.
    assert!(sample(&m, "beach_sent_bytes_total", &[]).unwrap() >= 4.0 * frames_out);
    assert!(sample(&m, "beach_received_bytes_total", &[]).unwrap() > 0.0);
    assert!(sample(&m, "beach_connections", &[]).unwrap() >= 1.0);

    // Each node shows what it served: the two Pongs live on one node or both.
    let mut served = 0.0;
    let mut spawns = 0.0;
    for u in &urls {
        let m = scrape(&http, u).await;
        let ok = [("realm", "global"), ("type", "Pong"), ("outcome", "ok")];
        served += sample(&m, "beach_actor_requests_total", &ok).unwrap_or(0.0);
        spawns += sample(&m, "beach_spawns_total", &[]).unwrap();
        let actors = sample(&m, "beach_actors", &[("type", "Pong")]).unwrap_or(0.0);
        assert!(actors <= 2.0);
    }
    assert_eq!(served, 5.0);
    assert_eq!(spawns, 2.0);
    // Pong counts its pings with its own counter, summed by type and name.
    let mut pings = 0.0;
    for u in &urls {
        let m = scrape(&http, u).await;
        pings += sample(&m, "beach_actor_counter", &[("type", "Pong"), ("name", "pings")])
            .unwrap_or(0.0);
    }
    assert_eq!(pings, 5.0);

    // An actor serving one request at a time: one running, the rest queued.
    client.add_actor(client.actor("Sleeper", ["svc/slow"]).concurrency(1)).await.unwrap();
    for _ in 0..3 {
        client.handle("svc/slow").shoot("sleep", &()).unwrap();
    }
    let queued = eventually(Duration::from_secs(10), || async {
        let mut q = (0.0, 0.0);
        for u in &urls {
            let m = scrape(&http, u).await;
            q.0 += sample(&m, "beach_actor_queued", &[("type", "Sleeper")]).unwrap_or(0.0);
            q.1 += sample(&m, "beach_actor_in_flight", &[("type", "Sleeper")]).unwrap_or(0.0);
        }
        q == (2.0, 1.0)
    })
    .await;
    assert!(queued, "not 2 queued and 1 running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_its_event_stream() {
    let (cluster, urls) = Cluster::start_http("gw-dash", 1, "");
    let http = Http::new();
    cluster.wait_joined(JOIN).await;
    ready(&http, &urls[0]).await;
    let (status, page) = http.send(http.client.get(&urls[0])).await;
    assert_eq!(status, 200);
    assert!(page.contains("<html") && page.contains("EventSource"), "{page}");
    for remote in ["src=\"http", "href=\"http", "url(http", "from \"http", "fetch(\"http"] {
        assert!(!page.contains(remote), "the page loads from the network: {remote}");
    }
    let mut events =
        http.client.get(format!("{}/v1/events?realm=global", urls[0])).send().await.unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), events.chunk()).await.unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
    }
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let snapshot: Json = serde_json::from_str(data).unwrap();
    assert_eq!(snapshot["nodes"].as_array().unwrap().len(), 1, "{snapshot}");
    assert_eq!(snapshot["realm"], "global");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_guard_reads_when_set_and_the_openapi_document_describes_the_api() {
    let extra = format!("admin_token: {TOKEN}\nhttp_token: reader\nmetadata_needs_token: true\n");
    let (cluster, urls) = Cluster::start_http("gw-tokens", 1, &extra);
    let http = Http::new();
    cluster.wait_joined(JOIN).await;
    ready(&http, &urls[0]).await;
    let a = &urls[0];
    let nodes = format!("{a}/v1/nodes");
    assert_eq!(http.send(http.client.get(&nodes)).await.0, 401);
    assert_eq!(http.send(http.client.get(&nodes).bearer_auth("wrong")).await.0, 403);
    assert_eq!(http.send(http.client.get(&nodes).bearer_auth("reader")).await.0, 200);
    assert_eq!(http.send(http.client.get(&nodes).bearer_auth(TOKEN)).await.0, 200);
    let meta = format!("{a}/v1/metadata");
    assert_eq!(http.send(http.client.get(&meta).bearer_auth("reader")).await.0, 403);
    assert_eq!(http.send(http.client.get(&meta).bearer_auth(TOKEN)).await.0, 200);
    assert_eq!(http.send(http.client.get(format!("{a}/metrics"))).await.0, 401);
    assert_eq!(http.send(http.client.get(format!("{a}/?access_token=reader"))).await.0, 200);
    let spawn = json!({"type":"Pong","categories":["p"]});
    assert_eq!(http.post(&format!("{a}/v1/spawn"), spawn, Some("reader")).await.0, 403);
    // Probes stay open.
    assert_eq!(http.send(http.client.get(format!("{a}/healthz"))).await.0, 200);
    let (status, text) =
        http.send(http.client.get(format!("{a}/v1/openapi.json")).bearer_auth("reader")).await;
    assert_eq!(status, 200);
    let doc: Json = serde_json::from_str(&text).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
    let paths: BTreeMap<String, Json> = serde_json::from_value(doc["paths"].clone()).unwrap();
    assert!(paths.contains_key("/v1/request") && paths.contains_key("/v1/spawn"), "{paths:?}");
}

#[test]
fn a_gateway_beyond_loopback_without_tokens_is_refused_in_one_line() {
    let scratch = common::Scratch::new("gw-refuse");
    let port = common::free_ports(1)[0];
    let config = scratch.0.join("cluster.yaml");
    std::fs::write(&config, format!("cluster_name: t\nseed_nodes: [\"127.0.0.1:{port}\"]\n"))
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_beach-node"))
        .args(["--config", config.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .args(["--http", "0.0.0.0:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("refusing to serve HTTP"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.contains("without http_token and admin_token") && line.contains("insecure: true"),
        "{line}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_beach-node"))
        .args(["--config", config.to_str().unwrap(), "--http", "localhost"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--http"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_no_request_head_is_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (cluster, urls) = Cluster::start_http("gw-slow", 1, "");
    let http = Http::new();
    cluster.wait_joined(JOIN).await;
    ready(&http, &urls[0]).await;
    let addr = urls[0].trim_start_matches("http://");
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /v1/nodes HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut buf = [0u8; 512];
    // The gateway closes it after its header timeout (10 s): the read ends, with nothing or a 408.
    let read = tokio::time::timeout(Duration::from_secs(30), slow.read(&mut buf)).await;
    let n = read.expect("the slow client was not dropped").unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// A Python actor that prints while it serves.
const TALKER: &str = "from beach.actor import Actor\n\nclass Talker(Actor):\n    def init(self, parameters):\n        self.handle('hello', self.hello)\n\n    def hello(self, msg):\n        print('serving request %s' % msg.id)\n        return {'id': msg.id}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_travels_from_the_gateway_to_every_log_line_about_it() {
    let (cluster, urls) = Cluster::start_http("gw-trace", 2, "code_directory: ./code\n");
    let code = cluster.scratch.0.join("code").join("global");
    std::fs::create_dir_all(&code).unwrap();
    std::fs::write(code.join("Talker.py"), TALKER).unwrap();
    let http = Http::new();
    cluster.wait_joined(JOIN).await;
    ready(&http, &urls[0]).await;
    // Traced actors: each request they receive, and how it ends, is logged on their node.
    let spawn = json!({"type":"Talker","categories":["talk"],"trace":true});
    let (status, body) = http.post(&format!("{}/v1/spawn", urls[0]), spawn, None).await;
    assert_eq!(status, 200, "{body}");
    let spawn = json!({"type":"Pong","categories":["pong"],"trace":true});
    assert_eq!(http.post(&format!("{}/v1/spawn", urls[0]), spawn, None).await.0, 200);
    // Through the other node's gateway, with the caller's own id.
    for (category, kind, id) in [("talk", "hello", "424242"), ("pong", "ping", "515151")] {
        let r = http
            .client
            .post(format!("{}/v1/request", urls[1]))
            .header("X-Request-Id", id)
            .json(&json!({"category": category, "kind": kind}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-request-id"], id);
    }
    // Without one, the gateway picks an id and says which.
    let r = http
        .client
        .post(format!("{}/v1/request", urls[1]))
        .json(&json!({"category": "pong", "kind": "ping"}))
        .send()
        .await
        .unwrap();
    let picked: u64 = r.headers()["x-request-id"].to_str().unwrap().parse().unwrap();
    let logs = || cluster.nodes.iter().map(|n| n.log_text()).collect::<Vec<_>>().join("\n");
    let found = eventually(Duration::from_secs(10), || async {
        let all = logs();
        let line = |needle: &str| all.lines().any(|l| l.contains(needle));
        // The Python actor's own print carries the id, and so does the node's trace of it.
        line("req=424242] serving request 424242")
            && line("request{id=424242 kind=hello}")
            && all
                .lines()
                .any(|l| l.contains("request{id=515151 kind=ping}") && l.contains("received"))
            && all
                .lines()
                .any(|l| l.contains("request{id=515151 kind=ping}") && l.contains("answered"))
            && line(&format!("request{{id={picked} kind=ping}}"))
    })
    .await;
    assert!(found, "the ids are not in the logs:\n{}", logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_logs_at_its_own_level_whatever_its_nodes() {
    let (cluster, urls) = Cluster::start_http("gw-levels", 1, "");
    let http = Http::new();
    cluster.wait_joined(JOIN).await;
    ready(&http, &urls[0]).await;
    let spawn = |category: &str, level: Option<&str>| {
        let mut body = json!({"type": "Ping", "categories": [category]});
        if let Some(l) = level {
            body["log_level"] = json!(l);
        }
        body
    };
    assert_eq!(
        http.post(
            &format!("{}/v1/spawn", urls[0]),
            json!({"type":"Pong","categories":["pongers"]}),
            None
        )
        .await
        .0,
        200
    );
    let mut ids = Vec::new();
    for (category, level) in [("loud", Some("debug")), ("plain", None), ("quiet", Some("warn"))] {
        let (status, body) =
            http.post(&format!("{}/v1/spawn", urls[0]), spawn(category, level), None).await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["actors"][0]["id"].as_str().unwrap().to_owned());
    }
    let (status, body) =
        http.post(&format!("{}/v1/spawn", urls[0]), spawn("bad", Some("loud")), None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("log level \"loud\""), "{body}");
    // Ping logs `sending ping` at debug and `pong` at info, at once and every 5 s.
    let log = || cluster.nodes[0].log_text();
    let of = |id: &str, what: &str| {
        log().lines().any(|l| l.contains(&format!("id={id}")) && l.contains(what))
    };
    let seen = eventually(Duration::from_secs(15), || async {
        of(&ids[0], "sending ping") && of(&ids[0], "pong") && of(&ids[1], "pong")
    })
    .await;
    assert!(seen, "{}", log());
    assert!(!of(&ids[1], "sending ping"), "the node's level (info) applies to a plain actor");
    assert!(!of(&ids[2], "pong") && !of(&ids[2], "sending ping"), "a warn-level actor logged info");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_over_http() {
    let (cluster, urls) = Cluster::start_http("gw-deploy", 2, &format!("admin_token: {TOKEN}\n"));
    let http = Http::new();
    cluster.wait_joined(JOIN).await;
    ready(&http, &urls[0]).await;
    let (a, b) = (&urls[0], &urls[1]);
    let spec =
        json!({"name": "echoes", "type": "Echo", "categories": ["svc/echoes"], "replicas": 2});
    // A write needs the admin token.
    let (status, _) =
        http.post(&format!("{a}/v1/deployments"), json!({"deployments": [spec]}), None).await;
    assert_eq!(status, 401);
    let (status, body) = http
        .post(
            &format!("{a}/v1/deployments"),
            json!({"deployments": [spec], "dry_run": true}),
            Some(TOKEN),
        )
        .await;
    assert_eq!((status, &body["changes"][0]["change"]), (200, &json!("created")), "{body}");
    let (status, body) = http
        .post(&format!("{a}/v1/deployments"), json!({"deployments": [spec]}), Some(TOKEN))
        .await;
    assert_eq!(status, 200, "{body}");
    // Any node's gateway shows it, complete once its replicas run.
    let complete = eventually(JOIN, || async {
        let (status, body) = http.get(&format!("{b}/v1/deployments?names=echoes")).await;
        status == 200 && body["deployments"][0]["complete"] == json!(true)
    })
    .await;
    assert!(complete, "the deployment never completed");
    let (_, body) = http.get(&format!("{b}/v1/deployments")).await;
    assert_eq!(body["deployments"][0]["desired"], json!(2), "{body}");
    // Bad specs name the field; unknown names are 404.
    let bad =
        json!({"deployments": [{"name": "x", "type": "Echo", "categories": ["c"], "replica": 2}]});
    let (status, body) = http.post(&format!("{a}/v1/deployments"), bad, Some(TOKEN)).await;
    assert!(
        status == 400 && body["error"].as_str().unwrap().contains("replica"),
        "{status} {body}"
    );
    let (status, _) = http.get(&format!("{a}/v1/deployments?names=nothing")).await;
    assert_eq!(status, 404);
    // Drain a node, restart and delete the deployment.
    let node = cluster.nodes[1].endpoint().to_string();
    let (status, body) =
        http.post(&format!("{a}/v1/drain"), json!({"node": node}), Some(TOKEN)).await;
    assert_eq!((status, &body["changed"]), (200, &json!(true)), "{body}");
    let (status, body) = http.get(&format!("{a}/v1/nodes")).await;
    assert!(
        status == 200
            && body["nodes"].as_array().unwrap().iter().any(|n| n["drained"] == json!(true))
    );
    let (status, _) =
        http.post(&format!("{a}/v1/deployments/echoes/restart"), json!({}), Some(TOKEN)).await;
    assert_eq!(status, 200);
    let del = http.client.delete(format!("{a}/v1/deployments/echoes")).bearer_auth(TOKEN);
    let (status, text) = http.send(del).await;
    assert_eq!(status, 200, "{text}");
    let del = http.client.delete(format!("{a}/v1/deployments/echoes")).bearer_auth(TOKEN);
    assert_eq!(http.send(del).await.0, 404);
}
