//! py-beach's REST bridge, for its existing callers: `POST /bridge/<category>` (`GET` too).
//! The request is described by `_action`, `_timeout` (seconds), `_n_retries`, `_ident`,
//! `_key`, `_from_all`, `_realm` and `_json_data` (the data as a JSON text) from the query
//! string, a form or JSON body, or the `Beach-Action`, `Beach-Timeout`, `Beach-N-Retries`,
//! `Beach-Ident`, `Beach-Key`, `Beach-From-All`, `Beach-Realm` headers; every other field is
//! the data. Answers as py-beach did: `200` with the reply's data, `408` on a timeout, `400
//! {"error","data"}` on an actor's error (and the gateway's statuses for the rest: no actors
//! `404`, unreachable `503`, refused `403`).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use beach_core::value::Payload;
use serde_json::{Value as Json, json};

use super::State;
use super::auth::Need;
use super::calls::{duration_of, realm_named};
use super::error::{ApiError, request_status};
use crate::documents;

/// The bridge's own fields, by their py-beach names, and the header of each.
const FIELDS: [(&str, &str); 7] = [
    ("_action", "beach-action"),
    ("_timeout", "beach-timeout"),
    ("_n_retries", "beach-n-retries"),
    ("_ident", "beach-ident"),
    ("_key", "beach-key"),
    ("_from_all", "beach-from-all"),
    ("_realm", "beach-realm"),
];

/// Calls `category` as py-beach's bridge did.
#[utoipa::path(post, path = "/bridge/{category}", params(("category" = String, Path, description = "the category, slashes included")),
    responses((status = 200, description = "the reply's data"), (status = 400, description = "`{\"error\",\"data\"}`: the actor's error, or bad input"),
              (status = 404, description = "no actors"), (status = 408, description = "timeout")))]
pub(crate) async fn call(
    axum::extract::State(g): State,
    Path(category): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    g.access.check(&headers, Need::Read)?;
    let mut fields = fields_of(&uri, &headers, &body)?;
    for (name, head) in FIELDS {
        if let Some(v) = headers.get(head).and_then(|v| v.to_str().ok()) {
            fields.insert(name.to_owned(), Json::String(v.to_owned()));
        }
    }
    let text = |name: &str| -> Option<String> {
        fields.get(name).map(|v| match v {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let action =
        text("_action").ok_or_else(|| ApiError::bad("_action (the request kind) is missing"))?;
    let realm = text("_realm").unwrap_or_else(|| "global".to_owned());
    let id = super::calls::request_id(&g, &headers);
    let mut h = g.node.handle(&realm_named(&realm)?, &category).request_id(id);
    tracing::debug!(request = id, %realm, %category, %action, "HTTP bridge request");
    if let Some(t) = fields.get("_timeout") {
        let t = match t {
            Json::String(s) => s.parse::<f64>().map(Json::from).unwrap_or_else(|_| t.clone()),
            other => other.clone(),
        };
        h = h.timeout(duration_of("_timeout", &t)?);
    }
    if let Some(n) = text("_n_retries") {
        h = h.retries(
            n.parse().map_err(|_| ApiError::bad(format!("_n_retries {n:?}: not a count")))?,
        );
    }
    if let Some(i) = text("_ident") {
        h = h.ident(i);
    }
    if let Some(k) = text("_key") {
        h = h.key(k).mode(beach_core::routing::Mode::Affinity);
    }
    let from_all =
        text("_from_all").is_some_and(|v| !matches!(v.as_str(), "" | "0" | "false" | "False"));
    let data = match text("_json_data") {
        Some(j) => serde_json::from_str::<Json>(&j)
            .map_err(|e| ApiError::bad(format!("_json_data: {e}")))?,
        None => Json::Object(fields.into_iter().filter(|(k, _)| !k.starts_with('_')).collect()),
    };
    let payload = Payload::from_json(&data).map_err(|e| ApiError::bad(format!("data: {e}")))?;
    if from_all {
        let value = payload.to_value().map_err(|e| ApiError::bad(format!("data: {e}")))?;
        let replies =
            h.request_from_all(&action, &value).map_err(bridge_error)?.collect_all().await;
        let list: Vec<Json> = replies
            .iter()
            .map(|(_, r)| match r {
                Ok(p) => documents::payload(p),
                Err(e) => json!({ "error": e.to_string() }),
            })
            .collect();
        return Ok(axum::Json(Json::Array(list)).into_response());
    }
    let _counted = g.metrics.start();
    let outcome = h.request_payload(&action, payload).await;
    match outcome {
        Ok(p) => Ok(axum::Json(documents::payload(&p)).into_response()),
        Err(e) => Err(bridge_error(e)),
    }
}

/// py-beach's statuses: `408` on a timeout, `400 {"error","data"}` on the actor's error.
fn bridge_error(e: beach_core::actor::RequestError) -> ApiError {
    let status = match request_status(&e) {
        StatusCode::GATEWAY_TIMEOUT => StatusCode::REQUEST_TIMEOUT,
        StatusCode::BAD_GATEWAY => StatusCode::BAD_REQUEST,
        s => s,
    };
    let doc = documents::reply(&Err(e));
    ApiError { status, body: json!({ "error": doc["error"], "data": doc["data"] }) }
}

/// The query string's fields, then the body's (a form, or a JSON object).
fn fields_of(
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<BTreeMap<String, Json>, ApiError> {
    let mut fields: BTreeMap<String, Json> = uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), Json::String(v.into_owned())))
                .collect()
        })
        .unwrap_or_default();
    if body.is_empty() {
        return Ok(fields);
    }
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Json>(body) {
            Ok(Json::Object(map)) => fields.extend(map),
            Ok(_) => return Err(ApiError::bad("a JSON body must be an object of fields")),
            Err(e) => return Err(ApiError::bad(format!("body: {e}"))),
        }
    } else {
        fields.extend(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), Json::String(v.into_owned()))),
        );
    }
    Ok(fields)
}
