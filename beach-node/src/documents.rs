//! The JSON documents that describe a cluster and the outcome of calls to it: one schema, one
//! serializer for the CLI's `--json` and the HTTP gateway, so a script written against either
//! reads the other.

use std::collections::BTreeMap;

use beach_core::actor::RequestError;
use beach_core::client::{ActorLoad, NodeHealth, NodeInfo, NodeMetadata, TypeInfo};
use beach_core::model::{ActorId, Category, NodeId};
use beach_core::value::{Payload, Value};
use serde_json::{Value as Json, json};

/// A payload as JSON; one that is not JSON-shaped (bytes in a map key, ...) becomes
/// `{"undecodable": why}` rather than failing the whole document.
pub fn payload(p: &Payload) -> Json {
    p.to_json().unwrap_or_else(|e| json!({ "undecodable": e.to_string() }))
}

/// `{"nodes":[{"id","address","generation","state","actors","drained"}]}` (`beach nodes`, `GET /v1/nodes`).
pub fn nodes(nodes: &[NodeInfo]) -> Json {
    json!({ "nodes": nodes.iter().map(|n| json!({
        "id": n.id.to_string(),
        "address": n.id.endpoint().to_string(),
        "generation": n.id.generation(),
        "state": n.state.as_str(),
        "actors": n.actors,
        "drained": n.drained,
    })).collect::<Vec<_>>() })
}

/// `{"realm", "categories": {category: [id, ...]}}` (`beach dir`, `GET /v1/directory`).
pub fn directory(realm: &str, dir: &BTreeMap<Category, Vec<ActorId>>) -> Json {
    let cats: serde_json::Map<String, Json> = dir
        .iter()
        .map(|(c, ids)| {
            (c.to_string(), json!(ids.iter().map(ToString::to_string).collect::<Vec<_>>()))
        })
        .collect();
    json!({ "realm": realm, "categories": cats })
}

/// `{"nodes":[{"address","cpu","memory"}]}` (`beach health`, `GET /v1/health`).
pub fn health(health: &[NodeHealth]) -> Json {
    json!({ "nodes": health.iter().map(|h| json!({
        "address": h.node.endpoint().to_string(), "cpu": h.cpu, "memory": h.memory,
    })).collect::<Vec<_>>() })
}

/// `{"types":[{"realm","type","source","sha256","nodes"}]}` (`beach types`, `GET /v1/types`).
pub fn types(types: &[TypeInfo]) -> Json {
    json!({ "types": types.iter().map(|t| json!({
        "realm": t.realm.as_str(),
        "type": t.actor_type.as_str(),
        "source": t.origin.as_str(),
        "sha256": t.sha256,
        "nodes": t.nodes.iter().map(|n| n.endpoint().to_string()).collect::<Vec<_>>(),
    })).collect::<Vec<_>>() })
}

/// `{"actors":[{"id","in_flight","received",...}]}` (`beach load`, `GET /v1/load`).
pub fn load(load: &[ActorLoad]) -> Json {
    json!({ "actors": load.iter().map(|l| json!({
        "id": l.id.to_string(),
        "in_flight": l.in_flight,
        "received": l.received,
        "replied": l.replied,
        "errors": l.errors.values().sum::<u64>(),
        "errors_by_kind": l.errors,
        "queue_full": l.queue_full,
        "dropped": l.dropped,
        "custom": l.custom,
        "per_second": l.per_second,
        "mean_ms": l.mean_ms,
        "p50_ms": l.p50_ms,
        "p99_ms": l.p99_ms,
    })).collect::<Vec<_>>() })
}

/// `{"nodes":[{"node","actors":[{"id","type","realm","categories","params",...}]}]}`
/// (`beach metadata`, `GET /v1/metadata`).
pub fn metadata(meta: &[NodeMetadata]) -> Json {
    json!({ "nodes": meta.iter().map(|n| json!({
        "node": n.node.to_string(),
        "actors": n.actors.iter().map(|a| json!({
            "id": a.id.to_string(),
            "type": a.actor_type.to_string(),
            "realm": a.realm.to_string(),
            "categories": a.categories.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "params": Value::Map(a.params.clone()).to_json().unwrap_or(Json::Null),
            "isolated": a.isolated,
            "owner": a.owner,
            "drainable": a.drainable,
        })).collect::<Vec<_>>(),
    })).collect::<Vec<_>>() })
}

/// `{"placement":[{"node","reason"}]}` (a spawn's dry run).
pub fn placement(plan: &[(NodeId, String)]) -> Json {
    json!({ "placement": plan.iter().map(|(n, why)| json!({ "node": n.to_string(), "reason": why })).collect::<Vec<_>>() })
}

/// `{"actors":[{"id","node"}]}` (the actors a spawn started).
pub fn spawned(ids: &[ActorId]) -> Json {
    json!({ "actors": ids.iter().map(|i| json!({ "id": i.to_string(), "node": i.node().to_string() })).collect::<Vec<_>>() })
}

/// `{"stopped":[id, ...]}` (the actors a stop stopped).
pub fn stopped(ids: &[ActorId]) -> Json {
    json!({ "stopped": ids.iter().map(ToString::to_string).collect::<Vec<_>>() })
}

/// One request's outcome: `{"ok":true,"data":...}` or `{"ok":false,"error":...,"data":...}`,
/// where an actor's own error keeps the data it attached.
pub fn reply(outcome: &Result<Payload, RequestError>) -> Json {
    match outcome {
        Ok(p) => json!({ "ok": true, "data": payload(p) }),
        Err(e) => {
            let data = match e {
                RequestError::Remote { data: Some(d), .. } => payload(d),
                _ => Json::Null,
            };
            json!({ "ok": false, "error": e.to_string(), "data": data })
        }
    }
}

/// One reply among many, keyed by who answered: `{KEY: target, "ok", "data"|"error"}`.
pub fn reply_of(key: &str, target: &str, outcome: &Result<Payload, RequestError>) -> Json {
    let mut entry = serde_json::Map::new();
    entry.insert(key.to_owned(), json!(target));
    match outcome {
        Ok(p) => {
            entry.insert("ok".to_owned(), json!(true));
            entry.insert("data".to_owned(), payload(p));
        }
        Err(e) => {
            entry.insert("ok".to_owned(), json!(false));
            entry.insert("error".to_owned(), json!(e.to_string()));
        }
    }
    Json::Object(entry)
}

/// `{"replies":[...]}`: one [`reply_of`] per target (an actor for a request to all, a
/// sub-category for a group request).
pub fn replies<K: ToString>(key: &str, replies: &[(K, Result<Payload, RequestError>)]) -> Json {
    json!({ "replies": replies.iter().map(|(t, r)| reply_of(key, &t.to_string(), r)).collect::<Vec<_>>() })
}

/// `beach deploy status` / `list`: `{"deployments":[{"name":..,"realm":..,"desired":6,
/// "running":6,"updated":6,"version":3,"complete":true,"last_error":null,...}]}`.
pub fn deployments(all: &[beach_core::deploy::DeployStatus]) -> Json {
    let one = |s: &beach_core::deploy::DeployStatus| {
        json!({
            "name": s.name,
            "realm": s.realm.as_str(),
            "desired": s.desired,
            "running": s.running,
            "updated": s.updated,
            "version": s.version,
            "complete": s.complete,
            "last_error": s.last_error,
            "conditions": s.conditions,
            "file": s.file,
            "spec": serde_json::to_value(&s.spec).unwrap_or(Json::Null),
        })
    };
    json!({ "deployments": all.iter().map(one).collect::<Vec<_>>() })
}

/// What `beach deploy apply` / `diff` changed (or would): `{"ok":true,"dry_run":false,
/// "changes":[{"name":..,"change":"created"}]}`.
pub fn deploy_changes(changes: &[(String, beach_core::deploy::Change)], dry_run: bool) -> Json {
    let one = |(n, c): &(String, beach_core::deploy::Change)| json!({ "name": n, "change": c });
    json!({ "ok": true, "dry_run": dry_run, "changes": changes.iter().map(one).collect::<Vec<_>>() })
}
