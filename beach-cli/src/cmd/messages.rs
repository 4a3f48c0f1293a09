//! Requests and messages to categories: `request`, `shoot`, `broadcast`, `group`.

use beach_core::actor::RequestError;
use beach_core::client::Beach;
use beach_core::routing::Mode;
use beach_core::value::Payload;
use beach_node::documents;
use serde_json::json;

use super::{actor_id, data, payload_json};
use crate::args::{Global, RequestArgs};
use crate::outcome::{Failure, Output};
use crate::output::table;

/// `beach shoot`.
pub(super) fn shoot(
    client: &Beach,
    category: &str,
    kind: &str,
    d: Option<&str>,
    ident: Option<String>,
) -> Result<Output, Failure> {
    let mut h = client.handle(category);
    if let Some(i) = ident {
        h = h.ident(i);
    }
    h.shoot(kind, &data(d)?.to_value().unwrap_or_default()).map_err(request_failure)?;
    Ok(Output { json: json!({ "ok": true }), human: "sent\n".to_owned() })
}

/// `beach broadcast`.
pub(super) fn broadcast(
    client: &Beach,
    category: &str,
    kind: &str,
    d: Option<&str>,
) -> Result<Output, Failure> {
    let sent = client
        .handle(category)
        .broadcast(kind, &data(d)?.to_value().unwrap_or_default())
        .map_err(request_failure)?;
    Ok(Output { json: json!({ "sent": sent }), human: format!("sent to {sent} actor(s)\n") })
}

/// `beach group`.
pub(super) async fn group(
    client: &Beach,
    root: &str,
    kind: &str,
    d: Option<&str>,
    ident: Option<String>,
    g: &Global,
) -> Result<Output, Failure> {
    let mut group = client.group(root);
    if let Some(i) = ident {
        group = group.configure(|h| h.ident(i));
    }
    if let Some(t) = g.timeout {
        group = group.configure(|h| h.timeout(t));
    }
    let value = data(d)?.to_value().unwrap_or_default();
    let replies = group.request(kind, &value).await.map_err(request_failure)?;
    Ok(replies_output("category", "CATEGORY", replies))
}

/// One reply per target (an actor for `request --all`, a sub-category for `group`): JSON
/// `{"replies":[{KEY, "ok", "data"|"error"}]}` and a table.
fn replies_output<K: ToString>(
    key: &str,
    header: &str,
    replies: Vec<(K, Result<Payload, RequestError>)>,
) -> Output {
    let rows = replies
        .iter()
        .map(|(target, r)| match r {
            Ok(p) => vec![target.to_string(), "ok".to_owned(), payload_json(p).to_string()],
            Err(e) => vec![target.to_string(), "error".to_owned(), e.to_string()],
        })
        .collect();
    Output { json: documents::replies(key, &replies), human: table(&[header, "", "REPLY"], rows) }
}

fn request_failure(e: RequestError) -> Failure {
    match e {
        RequestError::Routing(_) | RequestError::Payload(_) => Failure::usage(e.to_string()),
        e => Failure::cluster(e.to_string()),
    }
}

/// `beach request`.
pub(super) async fn request(client: &Beach, a: RequestArgs, g: &Global) -> Result<Output, Failure> {
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
    let outcome = h.request_payload(&a.kind, payload).await;
    let json = documents::reply(&outcome);
    match outcome {
        Ok(p) => Ok(Output {
            human: format!(
                "{}\n",
                serde_json::to_string_pretty(&payload_json(&p)).unwrap_or_default()
            ),
            json,
        }),
        Err(e) => {
            let mut f = request_failure(e);
            f.json = Some(json);
            Err(f)
        }
    }
}
