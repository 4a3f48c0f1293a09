//! Requests and messages to categories: `request`, `shoot`, `broadcast`, `group`.

use beach_core::actor::RequestError;
use beach_core::client::Beach;
use beach_core::routing::Mode;
use beach_core::value::Payload;
use serde_json::{Value as Json, json};

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
