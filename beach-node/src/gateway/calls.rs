//! Requests and messages to categories: `POST /v1/request` (one reply, or with `"all": true`
//! one JSON line per actor as it answers), `/v1/shoot`, `/v1/broadcast`, `/v1/group`.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use beach_core::actor::{Group, Handle};
use beach_core::model::Realm;
use beach_core::routing::Mode;
use beach_core::value::Payload;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use utoipa::ToSchema;

use super::auth::Need;
use super::error::{ApiError, request_status};
use super::{Gateway, MAX_TIMEOUT, State};
use crate::documents;

/// A call to a category: what `/v1/request`, `/v1/shoot`, `/v1/broadcast` and `/v1/group` take.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallBody {
    /// The realm (default `global`).
    #[serde(default = "global")]
    pub(crate) realm: String,
    /// The category (a prefix: `svc/pongers` reaches `svc/pongers/1.2`); for `/v1/group`,
    /// the root whose sub-categories are asked.
    pub(crate) category: String,
    /// The request's kind (`ping`).
    pub(crate) kind: String,
    /// The request's data, any JSON.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub(crate) data: Json,
    /// How long to wait for a reply: `"5s"`, `"250ms"`, or seconds as a number.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "5s")]
    pub(crate) timeout: Option<Json>,
    /// How many other actors to try after a failure that is safe to retry.
    #[serde(default)]
    pub(crate) retries: Option<u32>,
    /// Retry after a timeout too (only for requests that are safe to repeat).
    #[serde(default)]
    pub(crate) retry_timeouts: bool,
    /// `random` (default), `local` or `affinity`.
    #[serde(default)]
    pub(crate) mode: Option<String>,
    /// The key of `affinity` routing.
    #[serde(default)]
    pub(crate) key: Option<String>,
    /// The identity the request carries, for actors that trust some.
    #[serde(default)]
    pub(crate) ident: Option<String>,
    /// Ask every actor of the category (`/v1/request` only): the reply is one JSON line per
    /// actor, as each answers.
    #[serde(default)]
    pub(crate) all: bool,
}

pub(crate) fn global() -> String {
    "global".to_owned()
}

/// The header that carries a request's id both ways.
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// The request id a caller sent (`X-Request-Id`, a decimal number), or a fresh one from the
/// node; the id every node logs the request under, answered in `X-Request-Id`.
pub(crate) fn request_id(g: &Gateway, headers: &HeaderMap) -> u64 {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| g.node.next_request_id())
}

/// Checks that the caller may do what `need` says, then parses its JSON body: what every
/// endpoint with a body starts with.
pub(crate) fn admit<T: serde::de::DeserializeOwned>(
    g: &Gateway,
    headers: &HeaderMap,
    body: &Bytes,
    need: Need,
) -> Result<T, ApiError> {
    g.access.check(headers, need)?;
    parse(body)
}

/// A message endpoint's call: its body, handle and data.
fn message_of(
    g: &Gateway,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(CallBody, Handle, beach_core::value::Value), ApiError> {
    let call: CallBody = admit(g, headers, body, Need::Read)?;
    let h = call.handle(g)?;
    let value = call.payload()?.to_value().map_err(|e| ApiError::bad(format!("data: {e}")))?;
    Ok((call, h, value))
}

/// Parses a JSON body, naming what is wrong with it.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad("the body is empty; expected a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("body: {e}")))
}

/// A duration field (`timeout`, `delay`): `"5s"`, `"250ms"` or a number of seconds, at most
/// [`MAX_TIMEOUT`].
pub(crate) fn duration_of(field: &str, value: &Json) -> Result<Duration, ApiError> {
    let d = match value {
        Json::String(s) => humantime::parse_duration(s.trim())
            .map_err(|e| ApiError::bad(format!("{field} {s:?}: {e}")))?,
        Json::Number(n) => n
            .as_f64()
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| ApiError::bad(format!("{field} {n}: must be positive seconds")))?,
        other => {
            return Err(ApiError::bad(format!("{field} {other}: expected \"5s\" or seconds")));
        }
    };
    if d.is_zero() || d > MAX_TIMEOUT {
        return Err(ApiError::bad(format!(
            "{field} {}: must be between 1ms and {}",
            humantime::format_duration(d),
            humantime::format_duration(MAX_TIMEOUT)
        )));
    }
    Ok(d)
}

/// A realm named in a call.
pub(crate) fn realm_named(realm: &str) -> Result<Realm, ApiError> {
    Realm::new(realm).map_err(|e| ApiError::bad(format!("realm {realm:?}: {e}")))
}

/// The node's client, working in `realm` (for admin calls and reads).
pub(crate) fn realm_of(g: &Gateway, realm: &str) -> Result<beach_core::client::Beach, ApiError> {
    Ok(g.client.with_realm(realm_named(realm)?))
}

impl CallBody {
    /// The handle the body describes, and its timeout when it names one.
    fn handle(&self, g: &Gateway) -> Result<Handle, ApiError> {
        if self.category.is_empty() {
            return Err(ApiError::bad("category must not be empty"));
        }
        // Sent from the node itself, as its actors send: no client in between.
        let mut h = g.node.handle(&realm_named(&self.realm)?, &self.category);
        if let Some(t) = &self.timeout {
            h = h.timeout(duration_of("timeout", t)?);
        }
        if let Some(n) = self.retries {
            h = h.retries(n);
        }
        h = h.retry_timeouts(self.retry_timeouts);
        if let Some(m) = &self.mode {
            h = h.mode(m.parse::<Mode>().map_err(|e| ApiError::bad(format!("mode: {e}")))?);
        }
        if let Some(k) = &self.key {
            h = h.key(k);
        }
        if let Some(i) = &self.ident {
            h = h.ident(i.clone());
        }
        Ok(h)
    }

    fn payload(&self) -> Result<Payload, ApiError> {
        Payload::from_json(&self.data).map_err(|e| ApiError::bad(format!("data: {e}")))
    }
}

/// Sends a request to one actor of a category (or to all of them) and answers its reply.
#[utoipa::path(post, path = "/v1/request", request_body = CallBody,
    responses(
        (status = 200, description = "`{\"ok\":true,\"data\":...}`; with `all`, one JSON line per actor (application/x-ndjson)"),
        (status = 400, description = "bad input, naming the field"),
        (status = 403, description = "`unauthorized` or `unprivileged`"),
        (status = 404, description = "no actors in the category"),
        (status = 502, description = "the actor's own error: `{\"ok\":false,\"error\":...,\"data\":...}`"),
        (status = 503, description = "`queue full`, `wrong dest`, unreachable"),
        (status = 504, description = "`timeout`"),
    ))]
pub(crate) async fn request(
    axum::extract::State(g): State,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let call: CallBody = admit(&g, &headers, &body, Need::Read)?;
    let id = request_id(&g, &headers);
    let h = call.handle(&g)?.request_id(id);
    let payload = call.payload()?;
    tracing::debug!(request = id, realm = %call.realm, category = %call.category, kind = %call.kind, all = call.all, "HTTP request");
    if call.all {
        let value = payload.to_value().map_err(|e| ApiError::bad(format!("data: {e}")))?;
        let replies = h.request_from_all(&call.kind, &value).map_err(ApiError::of_request)?;
        let lines = replies.map(|(id, r)| {
            let mut line = documents::reply_of("id", &id.to_string(), &r).to_string();
            line.push('\n');
            Ok::<_, std::convert::Infallible>(line)
        });
        let headers = [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (header::HeaderName::from_static(REQUEST_ID), id.to_string()),
        ];
        return Ok((headers, Body::from_stream(lines)).into_response());
    }
    let _counted = g.metrics.start();
    let outcome = h.request_payload(&call.kind, payload).await;
    let status = match &outcome {
        Ok(_) => StatusCode::OK,
        Err(e) => request_status(e),
    };
    Ok((status, [(REQUEST_ID, id.to_string())], axum::Json(documents::reply(&outcome)))
        .into_response())
}

/// Sends a message that expects no reply to one actor of a category.
#[utoipa::path(post, path = "/v1/shoot", request_body = CallBody,
    responses((status = 200, description = "`{\"ok\":true}`: sent"), (status = 404, description = "no actors")))]
pub(crate) async fn shoot(
    axum::extract::State(g): State,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<Json>, ApiError> {
    let (call, h, value) = message_of(&g, &headers, &body)?;
    h.shoot(&call.kind, &value).map_err(ApiError::of_request)?;
    Ok(axum::Json(json!({ "ok": true })))
}

/// Sends a message to every actor of a category.
#[utoipa::path(post, path = "/v1/broadcast", request_body = CallBody,
    responses((status = 200, description = "`{\"sent\":n}`: how many actors it went to")))]
pub(crate) async fn broadcast(
    axum::extract::State(g): State,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<Json>, ApiError> {
    let (call, h, value) = message_of(&g, &headers, &body)?;
    let sent = h.broadcast(&call.kind, &value).map_err(ApiError::of_request)?;
    Ok(axum::Json(json!({ "sent": sent })))
}

/// Sends a request to one actor of each sub-category of `category`, and answers every reply.
#[utoipa::path(post, path = "/v1/group", request_body = CallBody,
    responses((status = 200, description = "`{\"replies\":[{\"category\",\"ok\",\"data\"|\"error\"}]}`")))]
pub(crate) async fn group(
    axum::extract::State(g): State,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<Json>, ApiError> {
    let (call, h, value) = message_of(&g, &headers, &body)?;
    let group: Group =
        g.node.group(&realm_named(&call.realm)?, &call.category).configure(|_| h.clone());
    let replies = group.request(&call.kind, &value).await.map_err(ApiError::of_request)?;
    Ok(axum::Json(documents::replies("category", &replies)))
}
