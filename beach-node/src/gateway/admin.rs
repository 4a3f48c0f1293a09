//! Changes to the cluster, as the CLI makes them: `POST /v1/spawn`, `/v1/stop`, `/v1/flush`,
//! `/v1/categorize`, `/v1/uncategorize`. Each needs the admin token when one is set.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::HeaderMap;
use beach_core::model::ActorId;
use beach_core::placement::Strategy;
use beach_core::value::Value;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use utoipa::ToSchema;

use super::State;
use super::auth::Need;
use super::calls::{admit, duration_of, global, realm_of};
use super::error::ApiError;
use crate::documents;

type Answer = Result<axum::Json<Json>, ApiError>;

/// Actors to spawn: every `beach spawn` option.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpawnBody {
    /// The realm (default `global`).
    #[serde(default = "global")]
    realm: String,
    /// The actor type (`Pong`).
    #[serde(rename = "type")]
    actor_type: String,
    /// The categories the actors join.
    categories: Vec<String>,
    /// How many actors (default 1).
    #[serde(default = "one")]
    count: u32,
    /// random (default), resource, affinity, host_affinity, repulsion, roundrobin.
    #[serde(default)]
    strategy: Option<String>,
    /// The category prefix the strategy looks at (affinity, repulsion, ...).
    #[serde(default)]
    hint: Option<String>,
    /// The actors' parameters.
    #[serde(default)]
    #[schema(value_type = Object)]
    params: BTreeMap<String, Json>,
    /// Named handles the actors get: name -> category.
    #[serde(default)]
    resources: BTreeMap<String, String>,
    /// Each actor in its own process.
    #[serde(default)]
    isolated: bool,
    /// The identity the actors carry.
    #[serde(default)]
    ident: Option<String>,
    /// The identities the actors accept requests from.
    #[serde(default)]
    trust: Vec<String>,
    /// How many requests each actor serves at once.
    #[serde(default)]
    concurrency: Option<u32>,
    /// Who owns them.
    #[serde(default)]
    owner: Option<String>,
    /// Whether they may be drained.
    #[serde(default)]
    drainable: bool,
    /// Say where they would go, and why, without spawning them.
    #[serde(default)]
    dry_run: bool,
    /// Log every request the actors receive, and how each ends, on their node.
    #[serde(default)]
    trace: bool,
    /// The actors' own log level (trace, debug, info, warn, error), whatever their node's.
    #[serde(default)]
    log_level: Option<String>,
}

fn one() -> u32 {
    1
}

/// Spawns actors; answers their ids (or, with `dry_run`, the placement).
#[utoipa::path(post, path = "/v1/spawn", request_body = SpawnBody,
    responses((status = 200, description = "`{\"actors\":[{\"id\",\"node\"}]}` or `{\"placement\":[{\"node\",\"reason\"}]}`"),
              (status = 400, description = "bad input, an unknown type"), (status = 401, description = "no token"),
              (status = 403, description = "not the admin token"), (status = 502, description = "a spawn failed (its init's error)")))]
pub(crate) async fn spawn(
    axum::extract::State(g): State,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let b: SpawnBody = admit(&g, &headers, &body, Need::Write)?;
    let client = realm_of(&g, &b.realm)?;
    let strategy: Strategy = match &b.strategy {
        Some(s) => s.parse().map_err(|e| ApiError::bad(format!("strategy: {e}")))?,
        None => Strategy::default(),
    };
    let mut spec = client
        .actor(&b.actor_type, &b.categories)
        .strategy(strategy, b.hint.as_deref())
        .isolated(b.isolated)
        .drainable(b.drainable)
        .trace(b.trace)
        .count(b.count)
        .trust(b.trust.clone())
        .params(b.params.iter().map(|(k, v)| (k.clone(), Value::from_json(v))));
    for (name, category) in &b.resources {
        spec = spec.resource(name, category);
    }
    if let Some(i) = &b.ident {
        spec = spec.ident(i);
    }
    if let Some(n) = b.concurrency {
        spec = spec.concurrency(n);
    }
    if let Some(o) = &b.owner {
        spec = spec.owner(o);
    }
    if let Some(l) = &b.log_level {
        spec = spec.log_level(l);
    }
    if b.dry_run {
        let plan = client.place(spec).await.map_err(ApiError::of_client)?;
        return Ok(axum::Json(documents::placement(&plan)));
    }
    let ids = client.add_actor(spec).await.map_err(ApiError::of_client)?;
    g.metrics.spawned(ids.len());
    Ok(axum::Json(documents::spawned(&ids)))
}

/// Actors to stop: by id, by category prefix, or both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StopBody {
    /// The realm of `categories` (default `global`).
    #[serde(default = "global")]
    realm: String,
    /// Actor ids.
    #[serde(default)]
    ids: Vec<String>,
    /// Category prefixes.
    #[serde(default)]
    categories: Vec<String>,
    /// Stop them after this long: `"30s"`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    delay: Option<Json>,
}

/// Stops actors; answers those stopped.
#[utoipa::path(post, path = "/v1/stop", request_body = StopBody,
    responses((status = 200, description = "`{\"stopped\":[id]}`"), (status = 400, description = "nothing named, or a bad id")))]
pub(crate) async fn stop(
    axum::extract::State(g): State,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let b: StopBody = admit(&g, &headers, &body, Need::Write)?;
    if b.ids.is_empty() && b.categories.is_empty() {
        return Err(ApiError::bad("name the actors to stop with ids or categories"));
    }
    let ids = b.ids.iter().map(|i| id_of(i)).collect::<Result<Vec<_>, _>>()?;
    let delay = match &b.delay {
        Some(d) => duration_of("delay", d)?,
        None => std::time::Duration::ZERO,
    };
    let cats: Vec<&str> = b.categories.iter().map(String::as_str).collect();
    let client = realm_of(&g, &b.realm)?;
    let stopped =
        client.stop_actors_after(&ids, &cats, delay).await.map_err(ApiError::of_client)?;
    g.metrics.stopped(stopped.len());
    Ok(axum::Json(documents::stopped(&stopped)))
}

fn id_of(text: &str) -> Result<ActorId, ApiError> {
    text.parse().map_err(|e| ApiError::bad(format!("id {text:?}: {e}")))
}

/// Stops every actor in every realm.
#[utoipa::path(post, path = "/v1/flush", responses((status = 200, description = "`{\"stopped\":n}`")))]
pub(crate) async fn flush(axum::extract::State(g): State, headers: HeaderMap) -> Answer {
    g.access.check(&headers, Need::Write)?;
    let n = g.client.flush().await.map_err(ApiError::of_client)?;
    g.metrics.stopped(usize::try_from(n).unwrap_or(usize::MAX));
    Ok(axum::Json(json!({ "stopped": n })))
}

/// An actor and a category to add it to or remove it from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CategoryBody {
    /// The actor's id.
    id: String,
    /// The category.
    category: String,
}

/// Adds a category to a live actor.
#[utoipa::path(post, path = "/v1/categorize", request_body = CategoryBody, responses((status = 200, description = "`{\"ok\":true}`")))]
pub(crate) async fn categorize(
    axum::extract::State(g): State,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let b: CategoryBody = admit(&g, &headers, &body, Need::Write)?;
    g.client.add_to_category(&id_of(&b.id)?, &b.category).await.map_err(ApiError::of_client)?;
    Ok(axum::Json(json!({ "ok": true })))
}

/// Removes a category from a live actor.
#[utoipa::path(post, path = "/v1/uncategorize", request_body = CategoryBody, responses((status = 200, description = "`{\"ok\":true}`")))]
pub(crate) async fn uncategorize(
    axum::extract::State(g): State,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let b: CategoryBody = admit(&g, &headers, &body, Need::Write)?;
    g.client
        .remove_from_category(&id_of(&b.id)?, &b.category)
        .await
        .map_err(ApiError::of_client)?;
    Ok(axum::Json(json!({ "ok": true })))
}
