//! Reads of the cluster's state, the same documents as the CLI's `--json`: `GET /v1/nodes`,
//! `/v1/directory`, `/v1/types`, `/v1/load`, `/v1/health`, `/v1/metadata`; and the probes
//! `/healthz` (the process is up) and `/readyz` (the node has joined its cluster).

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use utoipa::IntoParams;

use super::auth::Need;
use super::calls::realm_of;
use super::error::ApiError;
use super::{Gateway, State};
use crate::documents;

type Answer = Result<axum::Json<Json>, ApiError>;

/// The members of the cluster as this node sees them.
#[utoipa::path(get, path = "/v1/nodes", responses((status = 200, description = "`{\"nodes\":[{\"id\",\"address\",\"generation\",\"state\",\"actors\"}]}`")))]
pub(crate) async fn nodes(axum::extract::State(g): State, headers: HeaderMap) -> Answer {
    g.access.check(&headers, Need::Read)?;
    let nodes = g.client.nodes().await.map_err(ApiError::of_client)?;
    Ok(axum::Json(documents::nodes(&nodes)))
}

/// Which realm and which categories to read.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct DirectoryQuery {
    /// The realm (default `global`).
    realm: Option<String>,
    /// A category prefix (default: every category).
    category: Option<String>,
}

/// A realm's directory: each category and its actors.
#[utoipa::path(get, path = "/v1/directory", params(DirectoryQuery),
    responses((status = 200, description = "`{\"realm\",\"categories\":{category:[id]}}`")))]
pub(crate) async fn directory(
    axum::extract::State(g): State,
    headers: HeaderMap,
    query: Result<Query<DirectoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    g.access.check(&headers, Need::Read)?;
    let Query(q) = query.map_err(|e| ApiError::bad(e.body_text()))?;
    let realm = q.realm.as_deref().unwrap_or("global");
    let client = realm_of(&g, realm)?;
    let dir = client.directory(q.category.as_deref().unwrap_or("")).await;
    Ok(axum::Json(documents::directory(realm, &dir.map_err(ApiError::of_client)?)))
}

/// Which realm's types to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct RealmQuery {
    /// The realm (default: every realm).
    realm: Option<String>,
}

/// The actor types the nodes offer, where each comes from and which nodes offer it.
#[utoipa::path(get, path = "/v1/types", params(RealmQuery),
    responses((status = 200, description = "`{\"types\":[{\"realm\",\"type\",\"source\",\"sha256\",\"nodes\"}]}`")))]
pub(crate) async fn types(
    axum::extract::State(g): State,
    headers: HeaderMap,
    query: Result<Query<RealmQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    g.access.check(&headers, Need::Read)?;
    let Query(q) = query.map_err(|e| ApiError::bad(e.body_text()))?;
    let types = g.client.types(q.realm.as_deref()).await.map_err(ApiError::of_client)?;
    Ok(axum::Json(documents::types(&types)))
}

/// Each actor's counters: requests, errors, latency, its own counters.
#[utoipa::path(get, path = "/v1/load", responses((status = 200, description = "`{\"actors\":[{\"id\",\"in_flight\",\"received\",...}]}`")))]
pub(crate) async fn load(axum::extract::State(g): State, headers: HeaderMap) -> Answer {
    g.access.check(&headers, Need::Read)?;
    let load = g.client.load_info().await.map_err(ApiError::of_client)?;
    Ok(axum::Json(documents::load(&load)))
}

/// Each node's CPU and memory use.
#[utoipa::path(get, path = "/v1/health", responses((status = 200, description = "`{\"nodes\":[{\"address\",\"cpu\",\"memory\"}]}`")))]
pub(crate) async fn health(axum::extract::State(g): State, headers: HeaderMap) -> Answer {
    g.access.check(&headers, Need::Read)?;
    let health = g.client.cluster_health().await.map_err(ApiError::of_client)?;
    Ok(axum::Json(documents::health(&health)))
}

/// Each actor's type, categories and parameters (private ones hidden); needs the admin token
/// when `metadata_needs_token` is set.
#[utoipa::path(get, path = "/v1/metadata", responses((status = 200, description = "`{\"nodes\":[{\"node\",\"actors\":[...]}]}`")))]
pub(crate) async fn metadata(axum::extract::State(g): State, headers: HeaderMap) -> Answer {
    let need = if g.access.metadata_is_write { Need::Write } else { Need::Read };
    g.access.check(&headers, need)?;
    let meta = g.client.node_metadata().await.map_err(ApiError::of_client)?;
    Ok(axum::Json(documents::metadata(&meta)))
}

/// `200` while the process serves.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "the process is up")))]
pub(crate) async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "ok": true }))
}

/// `200` once the node has joined its cluster (it sees another member, or it is its own only
/// seed), `503` before and once it stops.
#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "joined"), (status = 503, description = "not yet, or stopping")))]
pub(crate) async fn readyz(axum::extract::State(g): State) -> impl IntoResponse {
    let (ready, members) = readiness(&g);
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(json!({ "ok": ready, "members": members })))
}

/// Whether the node has joined, and how many other members it sees.
pub(crate) fn readiness(g: &Gateway) -> (bool, usize) {
    let members = g.node.member_count();
    let me = g.node.id().endpoint().to_string();
    let alone = g.config.seed_nodes.iter().all(|s| s.to_string() == me);
    (!g.node.is_stopped() && (members > 0 || alone), members)
}
