//! Running one command against a cluster: connect, call it, and produce both the JSON and the
//! human form of the answer. One file per group of commands, as the `--help` lists them:
//! `cluster.rs` (what the cluster holds), `actors.rs` (spawning and stopping), `messages.rs`
//! (requests and messages to categories), `keys.rs` (key files, no cluster needed).

mod actors;
mod cluster;
mod deploy;
mod keys;
mod messages;

use beach_core::client::Beach;
use beach_core::config::{ClusterConfig, DEFAULT_PORT, HostPort};
use beach_core::model::{ActorId, Endpoint, Realm};
use beach_core::value::Payload;
use beach_node::files::{client_for, load_config};
use serde_json::Value as Json;

use crate::args::{Command, Global};
use crate::outcome::{Failure, Output};

pub use keys::{gen_key, gen_key_command};

/// Connects as the global options say.
pub async fn connect(g: &Global) -> Result<Beach, Failure> {
    let config = match &g.config {
        Some(path) => load_config(path).map_err(|e| Failure::usage(e.to_string()))?,
        None => ClusterConfig::default(),
    };
    let seeds: Vec<Endpoint> = if !g.seeds.is_empty() {
        g.seeds
            .iter()
            .map(|s| {
                let hp = HostPort::parse(s, DEFAULT_PORT)
                    .map_err(|e| Failure::usage(format!("--seed {e}")))?;
                Endpoint::new(hp.to_string())
                    .map_err(|e| Failure::usage(format!("--seed {s:?}: {e}")))
            })
            .collect::<Result<_, _>>()?
    } else if !config.seed_nodes.is_empty() {
        config.seed_nodes.iter().filter_map(|s| Endpoint::new(s.to_string()).ok()).collect()
    } else {
        vec![Endpoint::new(format!("127.0.0.1:{DEFAULT_PORT}")).expect("valid")]
    };
    let realm = Realm::new(&g.realm).map_err(|e| Failure::usage(format!("--realm: {e}")))?;
    // The cluster secret itself or a client key file (read from the configuration's
    // `secret_file` when connecting): either way this tool is a client.
    let mut builder = client_for(&config)
        .map_err(|e| Failure::usage(e.to_string()))?
        .seeds(seeds.iter().map(ToString::to_string))
        .realm(realm.as_str())
        .name("beach-cli");
    if let Some(token) = &g.admin_token {
        builder = builder.admin_token(token.clone());
    }
    if let Some(t) = g.timeout {
        builder = builder.request_timeout(t);
    }
    builder.connect().await.map_err(Failure::from)
}

/// Parses command-line DATA as JSON into a payload (`null` when absent).
fn data(text: Option<&str>) -> Result<Payload, Failure> {
    match text {
        None => Ok(Payload::null()),
        Some(t) => {
            let json: Json = serde_json::from_str(t)
                .map_err(|e| Failure::usage(format!("DATA is not JSON ({e}): {t}")))?;
            Payload::from_json(&json).map_err(|e| Failure::usage(e.to_string()))
        }
    }
}

fn payload_json(p: &Payload) -> Json {
    beach_node::documents::payload(p)
}

fn actor_id(text: &str) -> Result<ActorId, Failure> {
    text.parse().map_err(|e| Failure::usage(format!("{e}")))
}

/// Runs a command against the cluster `client` is connected to.
pub async fn run(client: &Beach, command: Command, g: &Global) -> Result<Output, Failure> {
    match command {
        Command::Nodes => cluster::nodes(client).await,
        Command::Dir { category } => cluster::dir(client, category.as_deref()).await,
        Command::Deploy(command) => deploy::run(client, command).await,
        Command::Drain { node } => deploy::drain(client, &node, true).await,
        Command::Undrain { node } => deploy::drain(client, &node, false).await,
        Command::Available { category } => cluster::available(client, &category),
        Command::Types { realm } => cluster::types(client, realm.as_deref()).await,
        Command::Health => cluster::health(client).await,
        Command::Load => cluster::load(client).await,
        Command::Metadata => cluster::metadata(client).await,
        Command::Spawn(args) => actors::spawn(client, args).await,
        Command::Stop { ids, categories, delay } => {
            actors::stop(client, &ids, &categories, delay.unwrap_or_default()).await
        }
        Command::Flush { yes } => actors::flush(client, yes).await,
        Command::Categorize { id, category } => actors::categorize(client, &id, &category).await,
        Command::Uncategorize { id, category } => {
            actors::uncategorize(client, &id, &category).await
        }
        Command::Request(args) => messages::request(client, args, g).await,
        Command::Shoot { category, kind, data, ident } => {
            messages::shoot(client, &category, &kind, data.as_deref(), ident)
        }
        Command::Broadcast { category, kind, data } => {
            messages::broadcast(client, &category, &kind, data.as_deref())
        }
        Command::Group { root, kind, data, ident } => {
            messages::group(client, &root, &kind, data.as_deref(), ident, g).await
        }
        Command::GenKey { .. }
        | Command::Demo(_)
        | Command::Node(_)
        | Command::BenchEcho
        | Command::BenchClient(_)
        | Command::Bench(_) => Err(Failure::usage("this command does not talk to a cluster")),
        #[cfg(feature = "lab")]
        Command::Sim(_) => Err(Failure::usage("this command does not talk to a cluster")),
    }
}
