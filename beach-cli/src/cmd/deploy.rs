//! `beach deploy ...`: deployments the cluster keeps running; `beach drain` and `undrain`.

use std::path::Path;
use std::time::{Duration, Instant};

use beach_core::client::Beach;
use beach_core::deploy::{DeployFile, DeployStatus, Replicas};
use beach_node::documents;
use serde_json::json;

use crate::args::DeployCommand;
use crate::outcome::{Failure, Output};
use crate::output::table;

/// How often `status --wait` asks.
const POLL: Duration = Duration::from_millis(500);

/// Runs one `beach deploy` command.
pub(super) async fn run(client: &Beach, command: DeployCommand) -> Result<Output, Failure> {
    match command {
        DeployCommand::Apply { file } => apply(client, &file, false).await,
        DeployCommand::Diff { file } => apply(client, &file, true).await,
        DeployCommand::List => {
            let all = client.deploy_status(&[]).await?;
            let rows = all
                .iter()
                .map(|s| {
                    let count = match s.spec.wanted() {
                        Replicas::Total(n) => n.to_string(),
                        Replicas::PerNode(n) => format!("{n} per node"),
                    };
                    vec![
                        s.name.clone(),
                        s.realm.to_string(),
                        s.spec.actor_type.to_string(),
                        count,
                        s.version.to_string(),
                        s.file.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            let human = table(&["NAME", "REALM", "TYPE", "REPLICAS", "VERSION", "FILE"], rows);
            Ok(Output { json: documents::deployments(&all), human })
        }
        DeployCommand::Status { names, wait } => status(client, &names, wait).await,
        DeployCommand::Delete { name } => {
            client.deploy_delete(&name).await?;
            Ok(Output {
                json: json!({ "ok": true, "deleted": name }),
                human: format!("{name}: deleted\n"),
            })
        }
        DeployCommand::Restart { name } => {
            client.deploy_restart(&name).await?;
            Ok(Output {
                json: json!({ "ok": true, "restarted": name }),
                human: format!("{name}: restarted\n"),
            })
        }
    }
}

/// `beach drain NODE` / `beach undrain NODE`.
pub(super) async fn drain(client: &Beach, node: &str, drained: bool) -> Result<Output, Failure> {
    let changed = client.drain(node, drained).await?;
    let state = if drained { "drained" } else { "in service" };
    let human =
        if changed { format!("{node}: {state}\n") } else { format!("{node}: already {state}\n") };
    Ok(Output {
        json: json!({ "ok": true, "node": node, "drained": drained, "changed": changed }),
        human,
    })
}

/// `apply` (or `diff` when `dry_run`): reads and checks the file, then sends it.
async fn apply(client: &Beach, file: &Path, dry_run: bool) -> Result<Output, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))?;
    let parsed =
        DeployFile::parse(&text).map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?;
    let changes = client.deploy_apply(parsed.deployments, dry_run).await?;
    let verb = if dry_run { "would be " } else { "" };
    let human: String =
        changes.iter().map(|(n, c)| format!("{n}: {verb}{}\n", c.as_str())).collect();
    Ok(Output { json: documents::deploy_changes(&changes, dry_run), human })
}

/// `status`: once, or until complete.
async fn status(
    client: &Beach,
    names: &[String],
    wait: Option<Duration>,
) -> Result<Output, Failure> {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let start = Instant::now();
    loop {
        let all = client.deploy_status(&names).await?;
        let complete = all.iter().all(|s| s.complete);
        let waited_out = wait.is_some_and(|w| start.elapsed() >= w);
        if wait.is_none() || complete || waited_out {
            let output = status_output(&all);
            if wait.is_some() && !complete {
                let late: Vec<&str> =
                    all.iter().filter(|s| !s.complete).map(|s| s.name.as_str()).collect();
                let mut f = Failure::cluster(format!(
                    "not complete after {}: {}",
                    humantime::format_duration(wait.unwrap_or_default()),
                    late.join(", ")
                ));
                f.json = Some(output.json);
                return Err(f);
            }
            return Ok(output);
        }
        tokio::time::sleep(POLL).await;
    }
}

fn status_output(all: &[DeployStatus]) -> Output {
    let rows = all
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.desired.to_string(),
                s.running.to_string(),
                s.updated.to_string(),
                s.version.to_string(),
                if s.complete { "yes".into() } else { "no".into() },
                s.conditions.join(","),
                s.last_error.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let human = table(
        &["NAME", "DESIRED", "RUNNING", "UPDATED", "VERSION", "COMPLETE", "LAST ERROR"],
        rows,
    );
    Output { json: documents::deployments(all), human }
}
