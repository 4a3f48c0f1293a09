//! What the cluster holds: nodes, the directory, health, load, metadata.

use beach_core::client::Beach;
use beach_core::value::Value;
use beach_node::documents;
use serde_json::json;

use crate::outcome::{Failure, Output};
use crate::output::table;

/// `beach nodes`.
pub(super) async fn nodes(client: &Beach) -> Result<Output, Failure> {
    let nodes = client.nodes().await?;
    let json = documents::nodes(&nodes);
    let rows = nodes
        .iter()
        .map(|n| {
            vec![
                n.id.endpoint().to_string(),
                format!("{:x}", n.id.generation()),
                if n.drained { format!("{} (drained)", n.state) } else { n.state.to_string() },
                n.actors.to_string(),
            ]
        })
        .collect();
    Ok(Output { json, human: table(&["ADDRESS", "GENERATION", "STATE", "ACTORS"], rows) })
}

/// `beach dir [CATEGORY]`.
pub(super) async fn dir(client: &Beach, category: Option<&str>) -> Result<Output, Failure> {
    let dir = client.directory(category.unwrap_or("")).await?;
    let rows = dir
        .iter()
        .map(|(c, ids)| {
            vec![c.to_string(), ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")]
        })
        .collect();
    let human = if dir.is_empty() {
        format!("no actors in realm {}\n", client.realm())
    } else {
        table(&["CATEGORY", "ACTORS"], rows)
    };
    Ok(Output { json: documents::directory(client.realm().as_str(), &dir), human })
}

/// `beach available CATEGORY`.
pub(super) fn available(client: &Beach, category: &str) -> Result<Output, Failure> {
    let n = client.handle(category).num_available();
    Ok(Output { json: json!({ "count": n }), human: format!("{n}\n") })
}

/// `beach health`.
pub(super) async fn health(client: &Beach) -> Result<Output, Failure> {
    let health = client.cluster_health().await?;
    let json = documents::health(&health);
    let rows = health
        .iter()
        .map(|h| {
            vec![
                h.node.endpoint().to_string(),
                format!("{:.0}%", h.cpu * 100.0),
                format!("{:.0}%", h.memory * 100.0),
            ]
        })
        .collect();
    Ok(Output { json, human: table(&["ADDRESS", "CPU", "MEMORY"], rows) })
}

/// `beach types`.
pub(super) async fn types(client: &Beach, realm: Option<&str>) -> Result<Output, Failure> {
    let types = client.types(realm).await?;
    let nodes = |t: &beach_core::client::TypeInfo| -> Vec<String> {
        t.nodes.iter().map(|n| n.endpoint().to_string()).collect()
    };
    let json = documents::types(&types);
    let rows = types
        .iter()
        .map(|t| {
            vec![
                t.realm.to_string(),
                t.actor_type.to_string(),
                t.origin.to_string(),
                t.sha256
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), |h| h[..12.min(h.len())].to_owned()),
                nodes(t).join(","),
            ]
        })
        .collect();
    Ok(Output { json, human: table(&["REALM", "TYPE", "SOURCE", "SHA256", "NODES"], rows) })
}

/// `beach load`.
pub(super) async fn load(client: &Beach) -> Result<Output, Failure> {
    let load = client.load_info().await?;
    let json = documents::load(&load);
    let rows = load
        .iter()
        .map(|l| {
            vec![
                l.id.to_string(),
                l.in_flight.to_string(),
                l.received.to_string(),
                format!("{:.0}", l.per_second),
                l.errors.values().sum::<u64>().to_string(),
                format!("{:.2}", l.mean_ms),
                format!("{:.2}", l.p50_ms),
                format!("{:.2}", l.p99_ms),
                l.custom.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
            ]
        })
        .collect();
    Ok(Output {
        json,
        human: table(
            &[
                "ID",
                "IN FLIGHT",
                "RECEIVED",
                "REQ/S",
                "ERRORS",
                "MEAN MS",
                "P50 MS",
                "P99 MS",
                "OWN",
            ],
            rows,
        ),
    })
}

/// `beach metadata`.
pub(super) async fn metadata(client: &Beach) -> Result<Output, Failure> {
    let meta = client.node_metadata().await?;
    let json = documents::metadata(&meta);
    let mut rows = Vec::new();
    for n in &meta {
        for a in &n.actors {
            let params =
                Value::Map(a.params.clone()).to_json().map(|j| j.to_string()).unwrap_or_default();
            rows.push(vec![
                a.id.to_string(),
                a.actor_type.to_string(),
                a.categories.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
                if a.isolated { "yes".into() } else { "no".into() },
                params,
            ]);
        }
    }
    Ok(Output { json, human: table(&["ID", "TYPE", "CATEGORIES", "ISOLATED", "PARAMS"], rows) })
}
