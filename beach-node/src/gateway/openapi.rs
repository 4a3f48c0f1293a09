//! `GET /v1/openapi.json`: an OpenAPI 3 description generated from the handlers and body
//! types themselves (utoipa), so clients in any language can be generated from it.

use axum::http::HeaderMap;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::auth::Need;
use super::error::ApiError;
use super::{State, admin, bridge, calls, deploy, metrics, reads};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "beach HTTP gateway",
        description = "Call actors by category and run a beach cluster over HTTP. Errors keep beach's error strings. On loopback, requests and reads are open and writes need `admin_token` when one is set; beyond loopback every endpoint but /healthz and /readyz needs a bearer token (`http_token` for requests and reads, `admin_token` for writes)."
    ),
    paths(
        calls::request, calls::shoot, calls::broadcast, calls::group,
        reads::nodes, reads::directory, reads::types, reads::load, reads::health, reads::metadata,
        reads::healthz, reads::readyz,
        admin::spawn, admin::stop, admin::flush, admin::categorize, admin::uncategorize,
        deploy::status, deploy::apply, deploy::delete, deploy::restart, deploy::drain,
        bridge::call, metrics::scrape,
    ),
    components(schemas(calls::CallBody, admin::SpawnBody, admin::StopBody, admin::CategoryBody, deploy::ApplyBody, deploy::DrainBody)),
    modifiers(&Bearer),
    security(("bearer" = []))
)]
struct Api;

/// Declares the bearer token scheme.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document.
pub(crate) async fn document(
    axum::extract::State(g): State,
    headers: HeaderMap,
) -> Result<axum::Json<utoipa::openapi::OpenApi>, ApiError> {
    g.access.check(&headers, Need::Read)?;
    Ok(axum::Json(Api::openapi()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_described() {
        let doc = serde_json::to_value(<super::Api as utoipa::OpenApi>::openapi()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/v1/request",
            "/v1/shoot",
            "/v1/broadcast",
            "/v1/group",
            "/v1/nodes",
            "/v1/directory",
            "/v1/types",
            "/v1/load",
            "/v1/health",
            "/v1/metadata",
            "/v1/spawn",
            "/v1/stop",
            "/v1/flush",
            "/v1/categorize",
            "/v1/uncategorize",
            "/v1/deployments",
            "/v1/deployments/{name}",
            "/v1/deployments/{name}/restart",
            "/v1/drain",
            "/bridge/{category}",
            "/metrics",
            "/healthz",
            "/readyz",
        ] {
            assert!(paths.contains_key(p), "{p} is not described");
        }
        let body = &doc["components"]["schemas"]["CallBody"]["properties"];
        assert!(body["category"].is_object() && body["timeout"].is_object(), "{body}");
    }
}
