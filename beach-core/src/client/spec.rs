//! Building a [`SpawnSpec`]: every py-beach `add_actor` option, with defaults.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{ActorType, Category, ModelError, NodeId, Realm};
use crate::placement::Strategy;
use crate::value::{Value, ValueError};
use crate::wire::SpawnSpec;

impl SpawnSpec {
    /// One actor of type `actor_type` in `categories`, realm `global`, strategy `random`, no
    /// parameters.
    pub fn new<C: AsRef<str>>(
        actor_type: &str,
        categories: impl IntoIterator<Item = C>,
    ) -> Result<Self, ModelError> {
        Ok(Self {
            realm: Realm::global(),
            actor_type: ActorType::new(actor_type)?,
            categories: categories.into_iter().map(Category::new).collect::<Result<_, _>>()?,
            strategy: Strategy::Random,
            hint: None,
            node: None,
            parameters: BTreeMap::new(),
            resources: BTreeMap::new(),
            isolated: false,
            ident: None,
            trusted: Default::default(),
            n_concurrent: None,
            owner: None,
            drainable: false,
            count: 1,
            dry_run: false,
        })
    }

    /// In `realm`.
    pub fn realm(mut self, realm: Realm) -> Self {
        self.realm = realm;
        self
    }

    /// Placed by `strategy` with an optional hint.
    pub fn strategy(mut self, strategy: Strategy, hint: Option<&str>) -> Self {
        self.strategy = strategy;
        self.hint = hint.map(str::to_owned);
        self
    }

    /// With parameter `key` (a `_key` is private: hidden in metadata views).
    pub fn param<T: Serialize + ?Sized>(
        mut self,
        key: &str,
        value: &T,
    ) -> Result<Self, ValueError> {
        self.parameters.insert(key.to_owned(), Value::from_serialize(value)?);
        Ok(self)
    }

    /// With resource `name` wired to `category`.
    pub fn resource(mut self, name: &str, category: &str) -> Result<Self, ModelError> {
        self.resources.insert(name.to_owned(), Category::new(category)?);
        Ok(self)
    }

    /// Run in its own process.
    pub fn isolated(mut self, isolated: bool) -> Self {
        self.isolated = isolated;
        self
    }

    /// The ident the actor's own requests carry.
    pub fn ident(mut self, ident: &str) -> Self {
        self.ident = Some(ident.to_owned());
        self
    }

    /// Only callers with one of these idents are served (`unauthorized` for the rest).
    pub fn trust<I: Into<String>>(mut self, idents: impl IntoIterator<Item = I>) -> Self {
        self.trusted.extend(idents.into_iter().map(Into::into));
        self
    }

    /// Serve at most `n` requests at once; more wait in a bounded queue.
    pub fn concurrency(mut self, n: u32) -> Self {
        self.n_concurrent = Some(n);
        self
    }

    /// Record `owner` as the actor's owner.
    pub fn owner(mut self, owner: &str) -> Self {
        self.owner = Some(owner.to_owned());
        self
    }

    /// Call the actor's drain hook when it is stopped.
    pub fn drainable(mut self, drainable: bool) -> Self {
        self.drainable = drainable;
        self
    }

    /// Spawn `count` actors.
    pub fn count(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// On this node, bypassing the strategy.
    pub fn on_node(mut self, node: NodeId) -> Self {
        self.node = Some(node);
        self
    }
}
