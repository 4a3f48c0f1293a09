//! Running one command: connect, call the cluster, and produce both the JSON and the human
//! form of the answer.

use std::io::Write;

use beach_core::actor::RequestError;
use beach_core::auth::KeyFile;
use beach_core::client::{Beach, ClientBuilder, ClientError};
use beach_core::config::{ClusterConfig, DEFAULT_PORT, HostPort};
use beach_core::model::{ActorId, Endpoint, Realm};
use beach_core::placement::Strategy;
use beach_core::routing::Mode;
use beach_core::value::{Payload, Value};
use beach_transport_tcp::TcpTransport;
use serde_json::{Value as Json, json};

use crate::args::{Command, Global, RequestArgs, SpawnArgs};
use crate::output::table;

/// A command's result: JSON for `--json`, text for people.
#[derive(Debug)]
pub struct Output {
    /// What `--json` prints.
    pub json: Json,
    /// What is printed otherwise.
    pub human: String,
}

/// A failed command: exit code 1 when the cluster answered with an error (or timed out), 2 for
/// usage, configuration and connection errors. `json` is printed on stdout with `--json` when
/// the failure has a JSON form (a failed request).
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: u8,
    /// One line saying what is wrong and what to do.
    pub message: String,
    /// The JSON form of the failure, if it has one.
    pub json: Option<Json>,
}

impl Failure {
    /// A usage, configuration or connection error (exit code 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self { code: 2, message: message.into(), json: None }
    }

    /// An error the cluster answered (exit code 1).
    pub fn cluster(message: impl Into<String>) -> Self {
        Self { code: 1, message: message.into(), json: None }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::NoSeed { .. } | ClientError::Invalid(_) => Failure::usage(e.to_string()),
            ClientError::Cluster(m) => Failure::cluster(m),
            ClientError::Protocol(m) => Failure::cluster(format!("unexpected answer: {m}")),
            // What was done is part of the answer: scripts get it in the JSON as well.
            ClientError::Partial { ref done, ref errors } => {
                let mut f = Failure::cluster(e.to_string());
                let ids: Vec<String> = done.iter().map(ToString::to_string).collect();
                f.json = Some(json!({ "ok": false, "done": ids, "errors": errors }));
                f
            }
        }
    }
}

/// Connects as the global options say.
pub async fn connect(g: &Global) -> Result<Beach, Failure> {
    let config = match &g.config {
        Some(path) => ClusterConfig::from_file(path).map_err(|e| Failure::usage(e.to_string()))?,
        None => ClusterConfig::default(),
    };
    let seeds: Vec<Endpoint> = if !g.seeds.is_empty() {
        g.seeds
            .iter()
            .map(|s| {
                let hp = HostPort::parse(s, DEFAULT_PORT)
                    .map_err(|e| Failure::usage(format!("--seed {e}")))?;
                Endpoint::new(hp.to_string())
                    .map_err(|e| Failure::usage(format!("--seed {s:?}: {e}")))
            })
            .collect::<Result<_, _>>()?
    } else if !config.seed_nodes.is_empty() {
        config.seed_nodes.iter().filter_map(|s| Endpoint::new(s.to_string()).ok()).collect()
    } else {
        vec![Endpoint::new(format!("127.0.0.1:{DEFAULT_PORT}")).expect("valid")]
    };
    let realm = Realm::new(&g.realm).map_err(|e| Failure::usage(format!("--realm: {e}")))?;
    // The cluster secret itself or a client key file (read from the configuration's
    // `secret_file` when connecting): either way this tool is a client.
    let mut builder = ClientBuilder::new()
        .config(&config)
        .seeds(seeds.iter().map(ToString::to_string))
        .realm(realm.as_str())
        .name("beach-cli")
        .transport_with(TcpTransport::make);
    if let Some(token) = &g.admin_token {
        builder = builder.admin_token(token.clone());
    }
    if let Some(t) = g.timeout {
        builder = builder.request_timeout(t);
    }
    builder.connect().await.map_err(Failure::from)
}

/// Parses command-line DATA as JSON into a payload (`null` when absent).
fn data(text: Option<&str>) -> Result<Payload, Failure> {
    match text {
        None => Ok(Payload::null()),
        Some(t) => {
            let json: Json = serde_json::from_str(t)
                .map_err(|e| Failure::usage(format!("DATA is not JSON ({e}): {t}")))?;
            Payload::from_json(&json).map_err(|e| Failure::usage(e.to_string()))
        }
    }
}

fn payload_json(p: &Payload) -> Json {
    p.to_json().unwrap_or_else(|e| json!({ "undecodable": e.to_string() }))
}

fn actor_id(text: &str) -> Result<ActorId, Failure> {
    text.parse().map_err(|e| Failure::usage(format!("{e}")))
}

/// Runs a command against the cluster `client` is connected to.
pub async fn run(client: &Beach, command: Command, g: &Global) -> Result<Output, Failure> {
    match command {
        Command::Nodes => {
            let nodes = client.nodes().await?;
            let json = json!({ "nodes": nodes.iter().map(|n| json!({
                "id": n.id.to_string(),
                "address": n.id.endpoint().to_string(),
                "generation": n.id.generation(),
                "state": n.state.as_str(),
                "actors": n.actors,
            })).collect::<Vec<_>>() });
            let rows = nodes
                .iter()
                .map(|n| {
                    vec![
                        n.id.endpoint().to_string(),
                        format!("{:x}", n.id.generation()),
                        n.state.to_string(),
                        n.actors.to_string(),
                    ]
                })
                .collect();
            Ok(Output { json, human: table(&["ADDRESS", "GENERATION", "STATE", "ACTORS"], rows) })
        }
        Command::Dir { category } => {
            let dir = client.directory(category.as_deref().unwrap_or("")).await?;
            let cats: serde_json::Map<String, Json> = dir
                .iter()
                .map(|(c, ids)| {
                    (c.to_string(), json!(ids.iter().map(ToString::to_string).collect::<Vec<_>>()))
                })
                .collect();
            let rows = dir
                .iter()
                .map(|(c, ids)| {
                    vec![
                        c.to_string(),
                        ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
                    ]
                })
                .collect();
            let human = if dir.is_empty() {
                format!("no actors in realm {}\n", client.realm())
            } else {
                table(&["CATEGORY", "ACTORS"], rows)
            };
            Ok(Output {
                json: json!({ "realm": client.realm().to_string(), "categories": cats }),
                human,
            })
        }
        Command::Spawn(args) => spawn(client, args).await,
        Command::Stop { ids, categories, delay } => {
            if ids.is_empty() && categories.is_empty() {
                return Err(Failure::usage(
                    "name the actors to stop with --id ID or --category PREFIX",
                ));
            }
            let ids = ids.iter().map(|i| actor_id(i)).collect::<Result<Vec<_>, _>>()?;
            let cats: Vec<&str> = categories.iter().map(String::as_str).collect();
            let stopped = client.stop_actors_after(&ids, &cats, delay.unwrap_or_default()).await?;
            let list: Vec<String> = stopped.iter().map(ToString::to_string).collect();
            let human = format!(
                "stopped {} actor(s)\n{}",
                list.len(),
                list.iter().map(|l| format!("  {l}\n")).collect::<String>()
            );
            Ok(Output { json: json!({ "stopped": list }), human })
        }
        Command::Flush { yes } => {
            if !yes {
                return Err(Failure::usage(
                    "flush stops every actor in every realm; add --yes to do it",
                ));
            }
            let n = client.flush().await?;
            Ok(Output {
                json: json!({ "stopped": n }),
                human: format!("stopped {n} actor(s) in every realm\n"),
            })
        }
        Command::Request(args) => request(client, args, g).await,
        Command::Shoot { category, kind, data: d, ident } => {
            let mut h = client.handle(&category);
            if let Some(i) = ident {
                h = h.ident(i);
            }
            h.shoot(&kind, &data(d.as_deref())?.to_value().unwrap_or_default())
                .map_err(request_failure)?;
            Ok(Output { json: json!({ "ok": true }), human: "sent\n".to_owned() })
        }
        Command::Broadcast { category, kind, data: d } => {
            let sent = client
                .handle(&category)
                .broadcast(&kind, &data(d.as_deref())?.to_value().unwrap_or_default())
                .map_err(request_failure)?;
            Ok(Output {
                json: json!({ "sent": sent }),
                human: format!("sent to {sent} actor(s)\n"),
            })
        }
        Command::Group { root, kind, data: d, ident } => {
            let mut group = client.group(&root);
            if let Some(i) = ident {
                group = group.configure(|h| h.ident(i));
            }
            if let Some(t) = g.timeout {
                group = group.configure(|h| h.timeout(t));
            }
            let value = data(d.as_deref())?.to_value().unwrap_or_default();
            let replies = group.request(&kind, &value).await.map_err(request_failure)?;
            Ok(replies_output("category", "CATEGORY", replies))
        }
        Command::Available { category } => {
            let n = client.handle(&category).num_available();
            Ok(Output { json: json!({ "count": n }), human: format!("{n}\n") })
        }
        Command::Health => {
            let health = client.cluster_health().await?;
            let json = json!({ "nodes": health.iter().map(|h| json!({
                "address": h.node.endpoint().to_string(), "cpu": h.cpu, "memory": h.memory,
            })).collect::<Vec<_>>() });
            let rows = health
                .iter()
                .map(|h| {
                    vec![
                        h.node.endpoint().to_string(),
                        format!("{:.0}%", h.cpu * 100.0),
                        format!("{:.0}%", h.memory * 100.0),
                    ]
                })
                .collect();
            Ok(Output { json, human: table(&["ADDRESS", "CPU", "MEMORY"], rows) })
        }
        Command::Load => {
            let load = client.load_info().await?;
            let json = json!({ "actors": load.iter().map(|l| json!({
                "id": l.id.to_string(),
                "in_flight": l.in_flight,
                "received": l.received,
                "replied": l.replied,
                "errors": l.errors.values().sum::<u64>(),
                "errors_by_kind": l.errors,
                "queue_full": l.queue_full,
                "dropped": l.dropped,
                "mean_ms": l.mean_ms,
                "p50_ms": l.p50_ms,
                "p99_ms": l.p99_ms,
            })).collect::<Vec<_>>() });
            let rows = load
                .iter()
                .map(|l| {
                    vec![
                        l.id.to_string(),
                        l.in_flight.to_string(),
                        l.received.to_string(),
                        l.errors.values().sum::<u64>().to_string(),
                        format!("{:.2}", l.p50_ms),
                        format!("{:.2}", l.p99_ms),
                    ]
                })
                .collect();
            Ok(Output {
                json,
                human: table(&["ID", "IN FLIGHT", "RECEIVED", "ERRORS", "P50 MS", "P99 MS"], rows),
            })
        }
        Command::Metadata => {
            let meta = client.node_metadata().await?;
            let json = json!({ "nodes": meta.iter().map(|n| json!({
                "node": n.node.to_string(),
                "actors": n.actors.iter().map(|a| json!({
                    "id": a.id.to_string(),
                    "type": a.actor_type.to_string(),
                    "realm": a.realm.to_string(),
                    "categories": a.categories.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "params": Value::Map(a.params.clone()).to_json().unwrap_or(Json::Null),
                    "isolated": a.isolated,
                    "owner": a.owner,
                    "drainable": a.drainable,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>() });
            let mut rows = Vec::new();
            for n in &meta {
                for a in &n.actors {
                    let params = Value::Map(a.params.clone())
                        .to_json()
                        .map(|j| j.to_string())
                        .unwrap_or_default();
                    rows.push(vec![
                        a.id.to_string(),
                        a.actor_type.to_string(),
                        a.categories.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
                        if a.isolated { "yes".into() } else { "no".into() },
                        params,
                    ]);
                }
            }
            Ok(Output {
                json,
                human: table(&["ID", "TYPE", "CATEGORIES", "ISOLATED", "PARAMS"], rows),
            })
        }
        Command::Categorize { id, category } => {
            client.add_to_category(&actor_id(&id)?, &category).await?;
            Ok(Output {
                json: json!({ "ok": true }),
                human: format!("{id} is now in {category}\n"),
            })
        }
        Command::Uncategorize { id, category } => {
            client.remove_from_category(&actor_id(&id)?, &category).await?;
            Ok(Output { json: json!({ "ok": true }), human: format!("{id} left {category}\n") })
        }
        Command::GenKey { .. }
        | Command::Demo(_)
        | Command::Node(_)
        | Command::BenchEcho
        | Command::BenchClient(_)
        | Command::Bench(_) => Err(Failure::usage("this command does not talk to a cluster")),
    }
}

async fn spawn(client: &Beach, a: SpawnArgs) -> Result<Output, Failure> {
    let strategy: Strategy =
        a.strategy.parse().map_err(|e| Failure::usage(format!("--strategy: {e}")))?;
    let mut spec = client
        .actor(&a.actor_type, &a.categories)
        .strategy(strategy, a.hint.as_deref())
        .isolated(a.isolated)
        .drainable(a.drainable)
        .count(a.count)
        .trust(a.trusted.clone());
    if let Some(j) = &a.params_json {
        let parsed: Json = serde_json::from_str(j)
            .map_err(|e| Failure::usage(format!("--params is not JSON: {e}")))?;
        let Value::Map(map) = Value::from_json(&parsed) else {
            return Err(Failure::usage("--params must be a JSON object"));
        };
        spec = spec.params(map);
    }
    for p in &a.params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--param {p:?}: expected KEY=VALUE")))?;
        let value = serde_json::from_str::<Json>(v)
            .map(|j| Value::from_json(&j))
            .unwrap_or_else(|_| Value::from(v));
        spec = spec.params([(k.to_owned(), value)]);
    }
    for r in &a.resources {
        let (name, cat) = r
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--resource {r:?}: expected NAME=CATEGORY")))?;
        spec = spec.resource(name, cat);
    }
    if let Some(i) = &a.ident {
        spec = spec.ident(i);
    }
    if let Some(n) = a.concurrency {
        spec = spec.concurrency(n);
    }
    if let Some(o) = &a.owner {
        spec = spec.owner(o);
    }
    if a.dry_run {
        let plan = client.place(spec).await?;
        let json = json!({ "placement": plan.iter().map(|(n, why)| json!({ "node": n.to_string(), "reason": why })).collect::<Vec<_>>() });
        let rows =
            plan.iter().map(|(n, why)| vec![n.endpoint().to_string(), why.clone()]).collect();
        return Ok(Output { json, human: table(&["NODE", "REASON"], rows) });
    }
    let ids = client.add_actor(spec).await?;
    let json = json!({ "actors": ids.iter().map(|i| json!({ "id": i.to_string(), "node": i.node().to_string() })).collect::<Vec<_>>() });
    let rows = ids.iter().map(|i| vec![i.to_string(), i.node().endpoint().to_string()]).collect();
    Ok(Output { json, human: table(&["ID", "NODE"], rows) })
}

/// One reply per target (an actor for `request --all`, a sub-category for `group`): JSON
/// `{"replies":[{KEY, "ok", "data"|"error"}]}` and a table.
fn replies_output<K: ToString>(
    key: &str,
    header: &str,
    replies: Vec<(K, Result<Payload, RequestError>)>,
) -> Output {
    let mut rows = Vec::new();
    let list: Vec<Json> = replies
        .iter()
        .map(|(target, r)| {
            let target = target.to_string();
            let mut entry = serde_json::Map::new();
            entry.insert(key.to_owned(), json!(target));
            match r {
                Ok(p) => {
                    rows.push(vec![target, "ok".to_owned(), payload_json(p).to_string()]);
                    entry.insert("ok".to_owned(), json!(true));
                    entry.insert("data".to_owned(), payload_json(p));
                }
                Err(e) => {
                    rows.push(vec![target, "error".to_owned(), e.to_string()]);
                    entry.insert("ok".to_owned(), json!(false));
                    entry.insert("error".to_owned(), json!(e.to_string()));
                }
            }
            Json::Object(entry)
        })
        .collect();
    Output { json: json!({ "replies": list }), human: table(&[header, "", "REPLY"], rows) }
}

fn request_failure(e: RequestError) -> Failure {
    match e {
        RequestError::Routing(_) | RequestError::Payload(_) => Failure::usage(e.to_string()),
        e => Failure::cluster(e.to_string()),
    }
}

async fn request(client: &Beach, a: RequestArgs, g: &Global) -> Result<Output, Failure> {
    let mut h = client.handle(&a.category);
    if a.id {
        h = h.to_actor(actor_id(&a.category)?);
    }
    h = h.retries(a.retries).retry_timeouts(a.retry_timeouts);
    if let Some(t) = g.timeout {
        h = h.timeout(t);
    }
    if let Some(m) = &a.mode {
        h = h.mode(m.parse::<Mode>().map_err(|e| Failure::usage(format!("--mode: {e}")))?);
    }
    if let Some(k) = &a.key {
        h = h.key(k);
    }
    if let Some(i) = &a.ident {
        h = h.ident(i.clone());
    }
    let payload = data(a.data.as_deref())?;
    if a.all {
        let value = payload.to_value().unwrap_or_default();
        let replies =
            h.request_from_all(&a.kind, &value).map_err(request_failure)?.collect_all().await;
        return Ok(replies_output("id", "ID", replies));
    }
    match h.request_payload(&a.kind, payload).await {
        Ok(p) => {
            let data = payload_json(&p);
            Ok(Output {
                human: format!("{}\n", serde_json::to_string_pretty(&data).unwrap_or_default()),
                json: json!({ "ok": true, "data": data }),
            })
        }
        Err(e) => {
            let data = match &e {
                RequestError::Remote { data: Some(d), .. } => payload_json(d),
                _ => Json::Null,
            };
            let mut f = request_failure(e);
            f.json = Some(json!({ "ok": false, "error": f.message, "data": data }));
            Err(f)
        }
    }
}

/// `beach gen-key [--client [--from SECRET]] FILE`, as parsed into `command`.
pub fn gen_key_command(command: &crate::args::Command, g: &Global) -> Result<Output, Failure> {
    let crate::args::Command::GenKey { file, client, from } = command else {
        return Err(Failure::usage("not gen-key"));
    };
    if !client {
        return gen_key(file, None);
    }
    let source = match (from, &g.config) {
        (Some(f), _) => f.clone(),
        (None, Some(path)) => ClusterConfig::from_file(path)
            .map_err(|e| Failure::usage(e.to_string()))?
            .secret_file
            .ok_or_else(|| {
                Failure::usage(format!("{} names no secret_file to derive from", path.display()))
            })?,
        (None, None) => {
            return Err(Failure::usage(
                "--client needs the cluster secret: --from SECRET_FILE, or --config naming secret_file",
            ));
        }
    };
    gen_key(file, Some(&source))
}

/// Writes a new cluster secret (32 random bytes) to `file`; with `from`, the client key of
/// the cluster whose secret `from` holds. Mode 0600, never over an existing file.
pub fn gen_key(file: &std::path::Path, from: Option<&std::path::Path>) -> Result<Output, Failure> {
    let (bytes, what, hint) = match from {
        None => {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret)
                .map_err(|e| Failure::usage(format!("no randomness from the system: {e}")))?;
            (secret.to_vec(), "a new cluster secret", "name it in cluster.yaml as secret_file")
        }
        Some(source) => {
            let read = std::fs::read(source)
                .map_err(|e| Failure::usage(format!("{}: {e}", source.display())))?;
            match KeyFile::parse(&read)
                .map_err(|e| Failure::usage(format!("{}: {e}", source.display())))?
            {
                KeyFile::Secret(s) => (
                    s.client_key().to_file_bytes(),
                    "the cluster's client key",
                    "hand it to clients as their secret_file: it cannot make a node",
                ),
                KeyFile::Client(_) => {
                    return Err(Failure::usage(format!(
                        "{} is already a client key; --client needs the cluster secret",
                        source.display()
                    )));
                }
            }
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Failure::usage(format!(
            "{} exists; not overwriting it (pick another name or remove it)",
            file.display()
        )),
        _ => Failure::usage(format!("{}: {e}", file.display())),
    })?;
    f.write_all(&bytes).map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?;
    let shown = file.display().to_string();
    Ok(Output {
        json: json!({ "file": shown, "kind": if from.is_some() { "client" } else { "secret" } }),
        human: format!("wrote {what} to {shown}; {hint}\n"),
    })
}
