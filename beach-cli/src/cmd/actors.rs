//! Spawning and stopping actors, and changing their categories.

use std::time::Duration;

use beach_core::client::Beach;
use beach_core::placement::Strategy;
use beach_core::value::Value;
use beach_node::documents;
use serde_json::{Value as Json, json};

use super::actor_id;
use crate::args::SpawnArgs;
use crate::outcome::{Failure, Output};
use crate::output::table;

/// `beach spawn`.
pub(super) async fn spawn(client: &Beach, a: SpawnArgs) -> Result<Output, Failure> {
    let strategy: Strategy =
        a.strategy.parse().map_err(|e| Failure::usage(format!("--strategy: {e}")))?;
    let mut spec = client
        .actor(&a.actor_type, &a.categories)
        .strategy(strategy, a.hint.as_deref())
        .isolated(a.isolated)
        .drainable(a.drainable)
        .trace(a.trace)
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
    if let Some(l) = &a.log_level {
        spec = spec.log_level(l);
    }
    if a.dry_run {
        let plan = client.place(spec).await?;
        let json = documents::placement(&plan);
        let rows =
            plan.iter().map(|(n, why)| vec![n.endpoint().to_string(), why.clone()]).collect();
        return Ok(Output { json, human: table(&["NODE", "REASON"], rows) });
    }
    let ids = client.add_actor(spec).await?;
    let json = documents::spawned(&ids);
    let rows = ids.iter().map(|i| vec![i.to_string(), i.node().endpoint().to_string()]).collect();
    Ok(Output { json, human: table(&["ID", "NODE"], rows) })
}

/// `beach stop`.
pub(super) async fn stop(
    client: &Beach,
    ids: &[String],
    categories: &[String],
    delay: Duration,
) -> Result<Output, Failure> {
    if ids.is_empty() && categories.is_empty() {
        return Err(Failure::usage("name the actors to stop with --id ID or --category PREFIX"));
    }
    let ids = ids.iter().map(|i| actor_id(i)).collect::<Result<Vec<_>, _>>()?;
    let cats: Vec<&str> = categories.iter().map(String::as_str).collect();
    let stopped = client.stop_actors_after(&ids, &cats, delay).await?;
    let list: Vec<String> = stopped.iter().map(ToString::to_string).collect();
    let human = format!(
        "stopped {} actor(s)\n{}",
        list.len(),
        list.iter().map(|l| format!("  {l}\n")).collect::<String>()
    );
    Ok(Output { json: documents::stopped(&stopped), human })
}

/// `beach flush --yes`.
pub(super) async fn flush(client: &Beach, yes: bool) -> Result<Output, Failure> {
    if !yes {
        return Err(Failure::usage("flush stops every actor in every realm; add --yes to do it"));
    }
    let n = client.flush().await?;
    Ok(Output {
        json: json!({ "stopped": n }),
        human: format!("stopped {n} actor(s) in every realm\n"),
    })
}

/// `beach categorize ID CATEGORY`.
pub(super) async fn categorize(
    client: &Beach,
    id: &str,
    category: &str,
) -> Result<Output, Failure> {
    client.add_to_category(&actor_id(id)?, category).await?;
    Ok(Output { json: json!({ "ok": true }), human: format!("{id} is now in {category}\n") })
}

/// `beach uncategorize ID CATEGORY`.
pub(super) async fn uncategorize(
    client: &Beach,
    id: &str,
    category: &str,
) -> Result<Output, Failure> {
    client.remove_from_category(&actor_id(id)?, category).await?;
    Ok(Output { json: json!({ "ok": true }), human: format!("{id} left {category}\n") })
}
