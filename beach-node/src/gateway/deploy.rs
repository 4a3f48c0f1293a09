//! Deployments over HTTP, as `beach deploy` and `beach drain` make them:
//! `GET /v1/deployments` (status), `POST /v1/deployments` (apply a `deploy.yaml` document as
//! JSON), `DELETE /v1/deployments/{name}`, `POST /v1/deployments/{name}/restart`,
//! `POST /v1/drain`. Changes need the admin token when one is set.

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use beach_core::client::ClientError;
use beach_core::deploy::DeploymentSpec;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use utoipa::ToSchema;

use super::State;
use super::auth::Need;
use super::calls::admit;
use super::error::ApiError;
use crate::documents;

type Answer = Result<axum::Json<Json>, ApiError>;

/// Deployments to apply: a `deploy.yaml` document as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplyBody {
    /// The deployments, each as in `deploy.yaml` (`name`, `type`, `categories`, `replicas` or
    /// `per_node`, `strategy`, `hint`, `params`, `isolated`, `concurrency`, `rollout`).
    #[schema(value_type = Vec<Object>)]
    deployments: Vec<Json>,
    /// Only say what would change.
    #[serde(default)]
    dry_run: bool,
}

/// A node to drain or put back in service.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DrainBody {
    /// The node's address (`host:port`) or id.
    node: String,
    /// `true` to drain (default), `false` to undrain.
    #[serde(default = "yes")]
    drained: bool,
}

fn yes() -> bool {
    true
}

/// Which deployments `GET /v1/deployments` shows.
#[derive(Debug, Deserialize)]
pub(crate) struct StatusQuery {
    /// Only these, comma-separated (default: all).
    #[serde(default)]
    names: Option<String>,
}

/// The status of the deployments (all, or `?names=a,b`).
#[utoipa::path(get, path = "/v1/deployments", params(("names" = Option<String>, Query, description = "only these, comma-separated")),
    responses((status = 200, description = "`{\"deployments\":[{\"name\",\"realm\",\"desired\",\"running\",\"updated\",\"version\",\"complete\",\"last_error\",...}]}`"), (status = 404, description = "no such deployment")))]
pub(crate) async fn status(
    axum::extract::State(g): State,
    headers: HeaderMap,
    query: Result<Query<StatusQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    g.access.check(&headers, Need::Read)?;
    let Query(q) = query.map_err(|e| ApiError::bad(format!("query: {e}")))?;
    let names: Vec<&str> = q
        .names
        .as_deref()
        .map(|n| n.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let all = g.client.deploy_status(&names).await.map_err(of_deploy)?;
    Ok(axum::Json(documents::deployments(&all)))
}

/// Applies deployments (all or none); what changed.
#[utoipa::path(post, path = "/v1/deployments", request_body = ApplyBody,
    responses((status = 200, description = "`{\"ok\":true,\"dry_run\":false,\"changes\":[{\"name\",\"change\"}]}`"), (status = 400, description = "a spec is not valid, naming the field"), (status = 409, description = "a code directory file owns the deployment"), (status = 503, description = "no other node confirmed the change")))]
pub(crate) async fn apply(
    axum::extract::State(g): State,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let b: ApplyBody = admit(&g, &headers, &body, Need::Write)?;
    let specs = b
        .deployments
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let spec: DeploymentSpec = serde_json::from_value(d)
                .map_err(|e| ApiError::bad(format!("deployments[{i}]: {e}")))?;
            spec.check().map_err(ApiError::bad)?;
            Ok(spec)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let changes = g.client.deploy_apply(specs, b.dry_run).await.map_err(of_deploy)?;
    Ok(axum::Json(documents::deploy_changes(&changes, b.dry_run)))
}

/// Deletes a deployment: its replicas stop.
#[utoipa::path(delete, path = "/v1/deployments/{name}", params(("name" = String, Path, description = "the deployment")),
    responses((status = 200, description = "`{\"ok\":true,\"deleted\":name}`"), (status = 404, description = "no such deployment")))]
pub(crate) async fn delete(
    axum::extract::State(g): State,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Answer {
    g.access.check(&headers, Need::Write)?;
    g.client.deploy_delete(&name).await.map_err(of_deploy)?;
    Ok(axum::Json(json!({ "ok": true, "deleted": name })))
}

/// Replaces a deployment's replicas, honouring its rollout limits.
#[utoipa::path(post, path = "/v1/deployments/{name}/restart", params(("name" = String, Path, description = "the deployment")),
    responses((status = 200, description = "`{\"ok\":true,\"restarted\":name}`"), (status = 404, description = "no such deployment")))]
pub(crate) async fn restart(
    axum::extract::State(g): State,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Answer {
    g.access.check(&headers, Need::Write)?;
    g.client.deploy_restart(&name).await.map_err(of_deploy)?;
    Ok(axum::Json(json!({ "ok": true, "restarted": name })))
}

/// Drains a node (nothing new goes there; its deployment replicas start elsewhere, then
/// stop), or puts it back in service.
#[utoipa::path(post, path = "/v1/drain", request_body = DrainBody,
    responses((status = 200, description = "`{\"ok\":true,\"node\",\"drained\",\"changed\"}`"), (status = 404, description = "no such live node")))]
pub(crate) async fn drain(
    axum::extract::State(g): State,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let b: DrainBody = admit(&g, &headers, &body, Need::Write)?;
    let changed = g.client.drain(&b.node, b.drained).await.map_err(of_deploy)?;
    Ok(axum::Json(json!({ "ok": true, "node": b.node, "drained": b.drained, "changed": changed })))
}

/// A deployment call's failure, with the status that fits: no such deployment or node `404`,
/// owned by a code directory file `409`, not confirmed by another node `503`.
fn of_deploy(e: ClientError) -> ApiError {
    let text = e.to_string();
    let status = if text.starts_with("no deployment") || text.starts_with("no live node") {
        StatusCode::NOT_FOUND
    } else if text.contains("is owned by the code directory") {
        StatusCode::CONFLICT
    } else if text.starts_with("not confirmed") {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        return ApiError::of_client(e);
    };
    ApiError { status, body: json!({ "ok": false, "error": text }) }
}
