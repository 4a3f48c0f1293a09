//! The registry of actor types a node can spawn, by name.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use super::{Actor, Context, InitError};
use crate::model::{ActorType, ModelError, Origin};
use crate::runtime::BoxFuture;

/// Builds one actor of a registered type from its context; panics in `init` become errors.
pub(crate) type Factory =
    Arc<dyn Fn(Context) -> BoxFuture<'static, Result<Arc<dyn Actor>, InitError>> + Send + Sync>;

/// The actor types a node knows, by the name spawns use (`Pong`).
///
/// ```
/// # use async_trait::async_trait;
/// # use beach_core::actor::{Actor, Context, InitError, Request, Response};
/// # struct Pong;
/// # #[async_trait]
/// # impl Actor for Pong {
/// #     async fn init(_: &Context) -> Result<Self, InitError> { Ok(Pong) }
/// #     async fn handle(&self, _: &Context, _: Request) -> Response { Response::unsupported() }
/// # }
/// use beach_core::actor::Registry;
///
/// let registry = Registry::new().with::<Pong>("Pong");
/// assert!(registry.contains("Pong"));
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    types: BTreeMap<ActorType, (Factory, Origin)>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.types.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `A` under `name`, replacing any type of that name. It is
    /// [`Origin::Compiled`]: it wins over a code directory's type of the same name.
    pub fn register<A: Actor>(&mut self, name: &str) -> Result<(), ModelError> {
        self.register_as::<A>(name, Origin::Compiled)
    }

    /// Registers `A` under `name` as a type of `origin`: [`Origin::Builtin`] for demo actors
    /// that a code directory's type of the same name replaces.
    pub fn register_as<A: Actor>(&mut self, name: &str, origin: Origin) -> Result<(), ModelError> {
        let factory: Factory = Arc::new(|ctx: Context| {
            Box::pin(async move {
                match AssertUnwindSafe(A::init(&ctx)).catch_unwind().await {
                    Ok(Ok(actor)) => Ok(Arc::new(actor) as Arc<dyn Actor>),
                    Ok(Err(e)) => Err(e),
                    Err(panic) => {
                        Err(InitError(format!("init panicked: {}", panic_message(&*panic))))
                    }
                }
            })
        });
        self.types.insert(ActorType::new(name)?, (factory, origin));
        Ok(())
    }

    /// Registers `A` under `name`, builder style.
    ///
    /// # Panics
    /// If `name` is not a valid actor type name (empty, too long, control characters): type
    /// names are written in code, so this is a programming error.
    pub fn with<A: Actor>(self, name: &str) -> Self {
        self.with_origin::<A>(name, Origin::Compiled)
    }

    /// Registers `A` under `name` as a type of `origin`, builder style (see
    /// [`Registry::register_as`]).
    ///
    /// # Panics
    /// As [`Registry::with`].
    pub fn with_origin<A: Actor>(mut self, name: &str, origin: Origin) -> Self {
        if let Err(e) = self.register_as::<A>(name, origin) {
            panic!("invalid actor type name {name:?}: {e}");
        }
        self
    }

    /// This registry with every type of `other` added; where both name a type, `other`'s
    /// wins. How a program offers the built-in actors and its own:
    /// `builtin_registry().merge(my_registry)`.
    pub fn merge(mut self, other: Registry) -> Self {
        self.types.extend(other.types);
        self
    }

    /// Whether a type of that name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.types.contains_key(name)
    }

    /// The registered type names, sorted.
    pub fn types(&self) -> impl Iterator<Item = &ActorType> {
        self.types.keys()
    }

    /// Where the type `name` comes from, if registered.
    pub fn origin(&self, name: &str) -> Option<Origin> {
        self.types.get(name).map(|(_, o)| *o)
    }

    /// Builds an actor of type `name` from `ctx` (its `init`), as a node does when spawning;
    /// for hosts that run actors outside a node, such as an isolated actor's process.
    pub async fn init(&self, name: &str, ctx: Context) -> Result<Arc<dyn Actor>, InitError> {
        let factory =
            self.factory(name).ok_or_else(|| InitError(format!("unknown actor type {name:?}")))?;
        factory(ctx).await
    }

    pub(crate) fn factory(&self, name: &str) -> Option<&Factory> {
        self.types.get(name).map(|(f, _)| f)
    }
}

/// The message of a caught panic (`panic!("...")` payloads are `&str` or `String`).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}
