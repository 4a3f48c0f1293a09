//! The code directory: actor types that are programs, deployed by putting a file in a shared
//! folder, with no restart.
//!
//! `<code_directory>/<realm>/<Type>.py` is a Python actor (run by the Python SDK's host with
//! the configured `python`), `<code_directory>/<realm>/<Type>` with the run bit an actor in
//! any language. Both speak the actor protocol (docs/actor-protocol.md) over a socket the node
//! hands them. A type is looked up at each spawn and identified by the sha256 of its file: a
//! changed file is used by the next spawn, while running actors keep the version they started
//! with, since the node runs a snapshot of the file, never the file itself.
//!
//! One process runs every actor of a (realm, type, version) on this node; `isolated: true`
//! gives an actor a process of its own. Files: `scan.rs` finds programs, `host.rs` runs one
//! process, `actor.rs` stands in for its actors, `calls.rs` runs their own calls,
//! `protocol.rs` holds the frames and `python.rs` the SDK the node ships.

mod actor;
mod calls;
mod deployments;
mod host;
mod protocol;
mod python;
mod scan;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use beach_core::actor::{Actor, Context, InitError, OfferedType, TypeSource};
use beach_core::config::ClusterConfig;
use beach_core::model::{ActorType, Endpoint, Realm};
use beach_core::wire::{FrameCodec, SpawnSpec};
use ciborium::Value as Cbor;

use actor::ProgramActor;
use host::{Host, Launch};
use protocol::ToProgram;
use scan::{Folder, Kind};

/// The programs of one (realm, type, version) share a process.
type HostKey = (Realm, ActorType, String);

/// The shared processes, by (realm, type, version), each with a serial number (so a process
/// that ends forgets itself, not its successor).
type Hosts = Arc<Mutex<HashMap<HostKey, (u64, Arc<Host>)>>>;

/// A node's code directory: the [`TypeSource`] the `beach-node` daemon offers beside its
/// registry.
#[derive(Debug)]
pub struct CodeDirectory {
    folder: Folder,
    python: String,
    init_timeout: Duration,
    codec: FrameCodec,
    /// This node's private folder: snapshots of programs by version, and the Python SDK.
    private: PathBuf,
    node: Mutex<Option<Endpoint>>,
    hosts: Hosts,
    /// Held while a shared process starts, so that concurrent spawns start one.
    starting: tokio::sync::Mutex<()>,
    serial: AtomicU64,
}

impl Drop for CodeDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.private);
    }
}

impl CodeDirectory {
    /// The code directory `config` names, if it names one: its programs run with the
    /// configured interpreter and init timeout, and the frame limit of the cluster.
    pub fn new(config: &ClusterConfig) -> std::io::Result<Option<Arc<Self>>> {
        let Some(root) = &config.code_directory else { return Ok(None) };
        if !root.is_dir() {
            tracing::warn!(code_directory = %root.display(), "the code directory does not exist (yet): it offers no type until it does");
        }
        let private = crate::private_dir::make("beach-code")?;
        python::install(&private.join("python"))?;
        Ok(Some(Arc::new(Self {
            folder: Folder::new(root.clone()),
            python: config.python.clone(),
            init_timeout: config.actor_init_timeout,
            codec: FrameCodec::new(config.max_frame_size),
            private,
            node: Mutex::new(None),
            hosts: Arc::default(),
            starting: tokio::sync::Mutex::new(()),
            serial: AtomicU64::new(0),
        })))
    }

    /// The node's endpoint, which programs are told; known once the node started.
    pub fn set_node(&self, endpoint: Endpoint) {
        *self.node.lock().expect("code directory lock") = Some(endpoint);
    }

    /// Stops every program at once (the node is stopping): their sockets close and each
    /// exits, or is killed after a grace period.
    pub fn close_all(&self) {
        let hosts: Vec<Arc<Host>> =
            self.hosts.lock().expect("hosts lock").drain().map(|(_, (_, h))| h).collect();
        for host in hosts {
            host.close();
        }
    }

    /// A snapshot of version `sha256` of the program at `path`, which this node runs: the
    /// file itself may change or go while the version runs.
    async fn snapshot(
        &self,
        path: &std::path::Path,
        kind: Kind,
    ) -> Result<(PathBuf, String), String> {
        let content = scan::read_settled(path).await?;
        let dir = self.private.join("code").join(&content.sha256);
        let name = path.file_name().expect("a program is a file").to_owned();
        let target = dir.join(&name);
        if !target.exists() {
            let write = || -> std::io::Result<()> {
                std::fs::create_dir_all(&dir)?;
                let partial = dir.join(".partial");
                std::fs::write(&partial, &content.bytes)?;
                #[cfg(unix)]
                if kind == Kind::Executable {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o700))?;
                }
                std::fs::rename(&partial, &target)
            };
            write().map_err(|e| format!("cannot copy {}: {e}", path.display()))?;
        }
        Ok((target, content.sha256))
    }

    fn launch(
        &self,
        realm: &Realm,
        actor_type: &ActorType,
        file: &std::path::Path,
        kind: Kind,
        sha256: &str,
    ) -> Launch {
        let (program, args) = match kind {
            Kind::Python => (
                PathBuf::from(&self.python),
                vec!["-u".to_owned(), "-m".to_owned(), "beach.host".to_owned()],
            ),
            Kind::Executable => (file.to_owned(), Vec::new()),
        };
        let mut pythonpath = self.private.join("python").display().to_string();
        if let Ok(existing) = std::env::var("PYTHONPATH") {
            pythonpath = format!("{pythonpath}:{existing}");
        }
        Launch {
            program,
            args,
            cwd: self.folder.realm_dir(realm),
            env: vec![
                ("PYTHONPATH".to_owned(), pythonpath),
                ("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()),
                ("BEACH_ACTOR_REALM".to_owned(), realm.to_string()),
                ("BEACH_ACTOR_TYPE".to_owned(), actor_type.to_string()),
                ("BEACH_ACTOR_SHA256".to_owned(), sha256.to_owned()),
            ],
            label: format!("{realm}/{actor_type}@{}", &sha256[..12.min(sha256.len())]),
        }
    }

    /// A process for `key`: the shared one, started if needed, or (isolated) one of its own.
    async fn host_for(
        &self,
        key: HostKey,
        launch: &Launch,
        isolated: bool,
    ) -> Result<Arc<Host>, String> {
        let node = self.node.lock().expect("code directory lock").clone();
        let node = node.map(|e| e.to_string()).ok_or("the node has not started")?;
        if isolated {
            return Host::start(launch, &node, self.codec, Box::new(|| {})).await;
        }
        let _starting = self.starting.lock().await;
        if let Some((_, host)) = self.hosts.lock().expect("hosts lock").get(&key)
            && !host.is_closed()
        {
            return Ok(host.clone());
        }
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let hosts = Arc::downgrade(&self.hosts);
        let forget_key = key.clone();
        let forget = Box::new(move || {
            if let Some(hosts) = hosts.upgrade() {
                let mut hosts = hosts.lock().expect("hosts lock");
                if hosts.get(&forget_key).is_some_and(|(s, _)| *s == serial) {
                    hosts.remove(&forget_key);
                }
            }
        });
        let host = Host::start(launch, &node, self.codec, forget).await?;
        self.hosts.lock().expect("hosts lock").insert(key, (serial, host.clone()));
        Ok(host)
    }
}

fn offered(actor_type: ActorType, sha256: String) -> OfferedType {
    OfferedType { actor_type, sha256 }
}

fn to_cbor(value: &beach_core::value::Value) -> Cbor {
    beach_core::value::Payload::encode(value)
        .ok()
        .and_then(|p| p.decode::<Cbor>().ok())
        .unwrap_or(Cbor::Null)
}

#[async_trait]
impl TypeSource for CodeDirectory {
    fn realms(&self) -> Vec<Realm> {
        self.folder.realms()
    }

    fn types(&self, realm: &Realm) -> Vec<OfferedType> {
        self.folder.list(realm).into_iter().map(|(t, f)| offered(t, f.sha256)).collect()
    }

    fn find(&self, realm: &Realm, actor_type: &ActorType) -> Option<OfferedType> {
        self.folder.find(realm, actor_type).map(|f| offered(actor_type.clone(), f.sha256))
    }

    async fn spawn(
        &self,
        _offered: &OfferedType,
        spec: &SpawnSpec,
        ctx: &Context,
    ) -> Result<Arc<dyn Actor>, InitError> {
        let found = self.folder.find(&spec.realm, &spec.actor_type).ok_or_else(|| {
            InitError::new(format!(
                "{} is no longer in the code directory of realm {}",
                spec.actor_type, spec.realm
            ))
        })?;
        let (file, sha256) =
            self.snapshot(&found.path, found.kind).await.map_err(InitError::new)?;
        let launch = self.launch(&spec.realm, &spec.actor_type, &file, found.kind, &sha256);
        let key = (spec.realm.clone(), spec.actor_type.clone(), sha256.clone());
        // A shared process may finish between finding it and placing the actor in it: then
        // start another.
        let (host, n) = loop {
            let host =
                self.host_for(key.clone(), &launch, spec.isolated).await.map_err(InitError::new)?;
            if let Some(n) = host.reserve_actor() {
                break (host, n);
            }
        };
        let init = ToProgram::Init {
            actor: n,
            id: ctx.id().to_string(),
            realm: spec.realm.to_string(),
            actor_type: spec.actor_type.to_string(),
            file: file.display().to_string(),
            sha256,
            categories: spec.categories.iter().map(ToString::to_string).collect(),
            parameters: ctx.parameters().iter().map(|(k, v)| (k.clone(), to_cbor(v))).collect(),
            resources: ctx.resources().iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
            ident: spec.ident.clone(),
        };
        host.init(n, ctx, init, self.init_timeout).await.map_err(InitError::new)?;
        tracing::info!(actor = %ctx.id(), host = host.label(), actors = host.actor_count(), "program actor started");
        Ok(Arc::new(ProgramActor { host, n }))
    }
}
