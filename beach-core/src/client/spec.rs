//! [`ActorSpec`]: what to spawn, with every py-beach `add_actor` option and its default. It is
//! the API's type: the wire's `SpawnSpec` is made from it, once, when it is sent, and that is
//! where it is checked, so building one never fails and one error names whatever is wrong.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::{ActorType, Category, NodeId, Realm};
use crate::placement::Strategy;
use crate::value::Value;
use crate::wire::SpawnSpec;

/// What to spawn: an actor type, its categories, and how. Made by
/// [`crate::client::Beach::actor`] (in the client's realm) or [`ActorSpec::new`], adjusted by
/// its methods, checked when [`crate::client::Beach::add_actor`] or
/// [`crate::client::Beach::place`] sends it.
///
/// ```
/// use beach_core::client::ActorSpec;
/// use beach_core::placement::Strategy;
///
/// let spec = ActorSpec::new("Pong", ["svc/pongers"])
///     .strategy(Strategy::Affinity, Some("svc/pingers"))
///     .param("greeting", "hi")
///     .resource("db", "svc/db")
///     .count(2);
/// assert_eq!(spec.actor_type(), "Pong");
/// assert!(ActorSpec::new("Pong", [""]).check().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ActorSpec {
    actor_type: String,
    categories: Vec<String>,
    realm: Option<String>,
    strategy: Strategy,
    hint: Option<String>,
    node: Option<NodeId>,
    parameters: BTreeMap<String, Value>,
    resources: BTreeMap<String, String>,
    isolated: bool,
    ident: Option<String>,
    trusted: BTreeSet<String>,
    concurrency: Option<u32>,
    owner: Option<String>,
    drainable: bool,
    count: u32,
    trace: bool,
    log_level: Option<String>,
    /// What could not be taken in when it was given (a parameter that does not encode).
    errors: Vec<String>,
}

impl ActorSpec {
    /// One actor of type `actor_type` in `categories`, placed at random, without parameters,
    /// in the realm of the client that sends it.
    pub fn new<C: Into<String>>(
        actor_type: impl Into<String>,
        categories: impl IntoIterator<Item = C>,
    ) -> Self {
        Self {
            actor_type: actor_type.into(),
            categories: categories.into_iter().map(Into::into).collect(),
            realm: None,
            strategy: Strategy::Random,
            hint: None,
            node: None,
            parameters: BTreeMap::new(),
            resources: BTreeMap::new(),
            isolated: false,
            ident: None,
            trusted: BTreeSet::new(),
            concurrency: None,
            owner: None,
            drainable: false,
            count: 1,
            trace: false,
            log_level: None,
            errors: Vec::new(),
        }
    }

    /// The actor type.
    pub fn actor_type(&self) -> &str {
        &self.actor_type
    }

    /// In `realm` rather than the sending client's.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Placed by `strategy`, with a hint for the strategies that take one (a category for
    /// `affinity` and `repulsion`, a node for `host_affinity`).
    pub fn strategy(mut self, strategy: Strategy, hint: Option<&str>) -> Self {
        self.strategy = strategy;
        self.hint = hint.map(str::to_owned);
        self
    }

    /// With parameter `key` for init (a `_key` is private: masked in metadata views).
    pub fn param<T: Serialize + ?Sized>(mut self, key: &str, value: &T) -> Self {
        match Value::from_serialize(value) {
            Ok(v) => {
                self.parameters.insert(key.to_owned(), v);
            }
            Err(e) => self.errors.push(format!("parameter `{key}`: {e}")),
        }
        self
    }

    /// With every entry of `parameters`.
    pub fn params(mut self, parameters: impl IntoIterator<Item = (String, Value)>) -> Self {
        self.parameters.extend(parameters);
        self
    }

    /// With resource `name` wired to `category`: the actor's `ctx.resource(name)`.
    pub fn resource(mut self, name: &str, category: &str) -> Self {
        self.resources.insert(name.to_owned(), category.to_owned());
        self
    }

    /// Run each actor in its own process, so its crash takes nothing else down.
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
        self.concurrency = Some(n);
        self
    }

    /// Record `owner` as the actors' owner.
    pub fn owner(mut self, owner: &str) -> Self {
        self.owner = Some(owner.to_owned());
        self
    }

    /// Call the actor's drain hook when it is stopped, and wait for its requests in flight.
    pub fn drainable(mut self, drainable: bool) -> Self {
        self.drainable = drainable;
        self
    }

    /// Logs every request the actors receive and how each ends, on their node (py-beach's
    /// `beach_trace_enabled`).
    pub fn trace(mut self, trace: bool) -> Self {
        self.trace = trace;
        self
    }

    /// The actors' own log level (`trace`, `debug`, `info`, `warn` or `error`): the lines
    /// they log (inside their span) are kept or dropped at it, whatever the node's level.
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = Some(level.to_owned());
        self
    }

    /// Spawn `count` actors (from 1 to [`crate::wire::MAX_SPAWN_COUNT`]).
    pub fn count(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// On this node, bypassing the strategy.
    pub fn on_node(mut self, node: NodeId) -> Self {
        self.node = Some(node);
        self
    }

    /// Checks this spec: every problem in one message, or nothing.
    pub fn check(&self) -> Result<(), String> {
        self.to_wire(&Realm::global()).map(|_| ())
    }

    /// The wire's spawn spec, in `realm` unless the spec names its own, or every problem
    /// found, in one message.
    pub(crate) fn to_wire(&self, realm: &Realm) -> Result<SpawnSpec, String> {
        let mut errors = self.errors.clone();
        let mut note = |r: Result<(), String>| {
            if let Err(e) = r {
                errors.push(e);
            }
        };
        let realm = match &self.realm {
            Some(r) => r.parse::<Realm>().map_err(|e| format!("realm {r:?}: {e}")),
            None => Ok(realm.clone()),
        };
        let actor_type = ActorType::new(&self.actor_type)
            .map_err(|e| format!("actor type {:?}: {e}", self.actor_type));
        let mut categories = Vec::new();
        for c in &self.categories {
            match Category::new(c) {
                Ok(c) => categories.push(c),
                Err(e) => note(Err(format!("category {c:?}: {e}"))),
            }
        }
        let mut resources = BTreeMap::new();
        for (name, c) in &self.resources {
            match Category::new(c) {
                Ok(c) => {
                    resources.insert(name.clone(), c);
                }
                Err(e) => note(Err(format!("resource `{name}`: category {c:?}: {e}"))),
            }
        }
        let (realm, actor_type) = match (realm, actor_type) {
            (Ok(r), Ok(t)) if errors.is_empty() => (r, t),
            (r, t) => {
                errors.extend(r.err());
                errors.extend(t.err());
                return Err(format!("cannot spawn: {}", errors.join("; ")));
            }
        };
        let spec = SpawnSpec {
            realm,
            actor_type,
            categories,
            strategy: self.strategy,
            hint: self.hint.clone(),
            node: self.node.clone(),
            parameters: self.parameters.clone(),
            resources,
            isolated: self.isolated,
            ident: self.ident.clone(),
            trusted: self.trusted.clone(),
            n_concurrent: self.concurrency,
            owner: self.owner.clone(),
            drainable: self.drainable,
            count: self.count,
            dry_run: false,
            trace: self.trace,
            log_level: self.log_level.clone(),
            deployment: None,
            avoid: Vec::new(),
        };
        spec.check_shape().map_err(|e| format!("cannot spawn: {e}"))?;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_named_at_once_when_the_spec_is_sent() {
        let err = ActorSpec::new("", ["ok", ""])
            .resource("db", "")
            .count(0)
            .to_wire(&Realm::global())
            .unwrap_err();
        assert!(err.starts_with("cannot spawn: category \"\": "), "{err}");
        for part in ["actor type", "resource `db`"] {
            assert!(err.contains(part), "{part} missing from: {err}");
        }
        let err = ActorSpec::new("Pong", ["p"]).count(0).to_wire(&Realm::global()).unwrap_err();
        assert_eq!(err, "cannot spawn: count must be from 1 to 100000, not 0");
        let spec = ActorSpec::new("Pong", ["p"]).realm("shop").to_wire(&Realm::global()).unwrap();
        assert_eq!(spec.realm.as_str(), "shop");
        assert_eq!(spec.count, 1);
    }
}
