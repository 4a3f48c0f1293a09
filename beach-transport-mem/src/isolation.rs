//! Isolated actors in a simulation: hosted in the node's process (a simulation has no
//! processes), but reaching the cluster as a real child does: through their node, over a
//! connection the node adopts and relays for. The relay path is then simulated too.

use std::sync::Arc;

use async_trait::async_trait;
use beach_core::actor::{Actor, Context, InitError, Isolation, Registry, Request, Response};
use beach_core::client::ClientBuilder;
use beach_core::config::ClusterConfig;
use beach_core::runtime::Runtime;
use beach_core::transport::{AdoptClient, Preconnected, pipe};
use beach_core::wire::SpawnSpec;

/// The simulator's [`Isolation`]: every node of a [`crate::SimCluster`] has one.
#[derive(Debug)]
pub struct SimIsolation {
    registry: Registry,
    config: ClusterConfig,
    runtime: Arc<dyn Runtime>,
}

impl SimIsolation {
    /// Isolation for nodes offering `registry`'s types in the cluster `config` describes.
    pub fn new(registry: Registry, config: &ClusterConfig, runtime: Arc<dyn Runtime>) -> Self {
        // The child's client proves no key: its connection is its credential.
        let config = ClusterConfig {
            secret_file: None,
            accepted_secret_files: Vec::new(),
            ..config.clone()
        };
        Self { registry, config, runtime }
    }
}

#[async_trait]
impl Isolation for SimIsolation {
    async fn spawn(
        &self,
        spec: &SpawnSpec,
        ctx: &Context,
        node: &dyn AdoptClient,
    ) -> Result<Arc<dyn Actor>, InitError> {
        let endpoint = ctx.node().endpoint().clone();
        let (child_end, node_end) =
            pipe(&format!("isolated-{}", ctx.id().seq()), endpoint.as_str());
        node.adopt_client(node_end);
        let client = ClientBuilder::new()
            .config(&self.config)
            .seed(endpoint.to_string())
            .realm(spec.realm.as_str())
            .name(format!("isolated-{}", ctx.id().seq()))
            .through_entry()
            .transport(Arc::new(Preconnected::new(child_end)))
            .runtime(self.runtime.clone())
            .connect()
            .await
            .map_err(|e| InitError::new(format!("isolated actor cannot reach its node: {e}")))?;
        let on_node = ctx.clone();
        let child = client.actor_context(ctx.id().clone(), spec, move || on_node.stop_self());
        let actor = self.registry.init(spec.actor_type.as_str(), child.clone()).await?;
        Ok(Arc::new(Hosted { actor, ctx: child }))
    }
}

/// The actor with the context of its "process": its handles go through its node.
struct Hosted {
    actor: Arc<dyn Actor>,
    ctx: Context,
}

#[async_trait]
impl Actor for Hosted {
    async fn init(_ctx: &Context) -> Result<Self, InitError> {
        Err(InitError::new("a hosted isolated actor is made by SimIsolation"))
    }

    async fn handle(&self, _node: &Context, request: Request) -> Response {
        self.actor.handle(&self.ctx, request).await
    }

    async fn drain(&self, _node: &Context) {
        self.actor.drain(&self.ctx).await;
    }

    async fn deinit(&self, _node: &Context) {
        self.actor.deinit(&self.ctx).await;
    }
}
