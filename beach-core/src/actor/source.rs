//! Actor types a node finds outside its [`super::Registry`]: programs in its code directory,
//! looked up at spawn time so that a type added or changed there is used without a restart.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Actor, Context, InitError};
use crate::model::{ActorType, Realm};
use crate::wire::SpawnSpec;

/// A type a [`TypeSource`] offers in a realm: its name and the sha256 of its program, which
/// identifies a version (two nodes with different files offer different versions).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OfferedType {
    /// The type's name, as spawns give it.
    pub actor_type: ActorType,
    /// The sha256 of its program, in lowercase hex.
    pub sha256: String,
}

/// Where a node finds actor types that are programs rather than compiled code (the
/// `beach-node` daemon's code directory). The node asks at every spawn, so the answers may
/// change while it runs.
///
/// Precedence, by name: a type a program registered itself ([`super::Origin::Compiled`])
/// wins over the source's, which wins over the stock node's demo actors
/// ([`super::Origin::Builtin`]). The realm allow-list applies to every origin.
#[async_trait]
pub trait TypeSource: Send + Sync + std::fmt::Debug + 'static {
    /// The realms the source has types for.
    fn realms(&self) -> Vec<Realm>;

    /// The types offered in `realm` now, sorted by name.
    fn types(&self, realm: &Realm) -> Vec<OfferedType>;

    /// The type `actor_type` in `realm`, if offered now.
    fn find(&self, realm: &Realm, actor_type: &ActorType) -> Option<OfferedType>;

    /// Starts the actor `ctx.id()` described by `spec` (a type this source offers), running
    /// the program of version `offered`; returns a stand-in that forwards requests to it,
    /// after its `init` succeeded, or the init's error. When the program dies, the stand-in
    /// calls [`Context::stop_self`] so the actor leaves the directory.
    async fn spawn(
        &self,
        offered: &OfferedType,
        spec: &SpawnSpec,
        ctx: &Context,
    ) -> Result<Arc<dyn Actor>, InitError>;
}
