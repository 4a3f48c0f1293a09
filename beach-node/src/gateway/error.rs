//! Errors as HTTP answers: beach's error strings, with the status that fits each.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use beach_core::ErrorCode;
use beach_core::actor::RequestError;
use beach_core::client::ClientError;
use serde_json::{Value as Json, json};

use crate::documents;

/// A failed call: its status and its JSON body (`{"ok":false,"error":...}`, plus `data`
/// where an actor attached some).
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) body: Json,
}

impl ApiError {
    /// Bad input: `400`, naming what is wrong.
    pub(crate) fn bad(what: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            body: json!({ "ok": false, "error": format!("bad request: {what}") }),
        }
    }

    /// A missing (`401`) or wrong (`403`) bearer token.
    pub(crate) fn denied(status: StatusCode, why: &str) -> ApiError {
        ApiError { status, body: json!({ "ok": false, "error": why }) }
    }

    /// A request that failed, with its document.
    pub(crate) fn of_request(e: RequestError) -> ApiError {
        let status = request_status(&e);
        ApiError { status, body: documents::reply(&Err(e)) }
    }

    /// An admin or read call that failed.
    pub(crate) fn of_client(e: ClientError) -> ApiError {
        let status = match (&e, e.code()) {
            (ClientError::Invalid(_), _) => StatusCode::BAD_REQUEST,
            (_, Some(code)) => code_status(code),
            (ClientError::Partial { .. }, None) => StatusCode::BAD_GATEWAY,
            (ClientError::Cluster(m), None) if m.starts_with("unknown actor type") => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::BAD_GATEWAY,
        };
        let mut body = json!({ "ok": false, "error": e.to_string() });
        if let ClientError::Partial { done, errors } = &e {
            body["done"] = json!(done.iter().map(ToString::to_string).collect::<Vec<_>>());
            body["errors"] = json!(errors);
        }
        ApiError { status, body }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// The status of a failed request: no actors `404`, timeout `504`, queue full, wrong dest and
/// unreachable `503`, unauthorized and unprivileged `403`, bad input `400`, and an actor's own
/// error (its message, `exception`, `request type not supported by actor`) `502`.
pub(crate) fn request_status(e: &RequestError) -> StatusCode {
    match e {
        RequestError::Routing(_) | RequestError::Payload(_) => StatusCode::BAD_REQUEST,
        e => e.code().map_or(StatusCode::BAD_GATEWAY, code_status),
    }
}

fn code_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::NoActors => StatusCode::NOT_FOUND,
        ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::QueueFull | ErrorCode::WrongDest | ErrorCode::Unreachable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorCode::Unauthorized | ErrorCode::Unprivileged => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// `404` for a path the gateway does not serve.
pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        body: json!({ "ok": false, "error": format!("no such endpoint: {}", uri.path()) }),
    }
}
