//! What a user declares: a [`DeploymentSpec`], read from a `deploy.yaml` ([`DeployFile`]) or
//! built in code, and checked once ([`DeploymentSpec::check`]) before it enters the cluster.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{ActorType, Category, Realm};
use crate::placement::Strategy;
use crate::value::Value;

/// The most replicas one deployment may ask for (in all, or per node).
pub const MAX_REPLICAS: u32 = 10_000;

/// The longest deployment name, in bytes.
pub const MAX_DEPLOYMENT_NAME: usize = 128;

/// A deployment: actors of one type the cluster keeps running, `replicas` of them in all or
/// `per_node` on every node that offers the type.
///
/// ```
/// use beach_core::deploy::DeployFile;
///
/// let file = DeployFile::parse("
/// deployments:
///   - name: pongers
///     type: Pong
///     categories: [svc/pongers/1.0]
///     replicas: 6
///     strategy: repulsion
///     hint: svc/pongers
/// ").unwrap();
/// assert_eq!(file.deployments[0].replicas, Some(6));
/// assert_eq!(file.deployments[0].rollout.max_surge, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSpec {
    /// The deployment's name, unique in the cluster: letters, digits, `.`, `_` and `-`.
    pub name: String,
    /// The realm its actors live in.
    #[serde(default = "Realm::global")]
    pub realm: Realm,
    /// The actor type.
    #[serde(rename = "type")]
    pub actor_type: ActorType,
    /// The categories each replica joins.
    pub categories: Vec<Category>,
    /// How many replicas in all (exclusive with `per_node`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// How many replicas on every node that offers the type (exclusive with `replicas`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_node: Option<u32>,
    /// Where new replicas go (with `replicas`).
    #[serde(default)]
    pub strategy: Strategy,
    /// The strategy's hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Parameters for each replica's init.
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    /// Run each replica in its own process.
    #[serde(default)]
    pub isolated: bool,
    /// How many requests a replica serves at once (default: beach's bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// How a change of the replicas' template rolls over.
    #[serde(default)]
    pub rollout: Rollout,
    /// Replace each replica once it is this old (`"12h"`), one at a time, the new one
    /// running before the old one drains; ages are spread by up to a tenth so replicas
    /// started together are not all replaced together (py-beach's `time_to_drain`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "age")]
    pub max_age: Option<std::time::Duration>,
}

/// `max_age` as people write it: `"12h"`, `"90m"`, or a number of seconds.
mod age {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Text(String),
        Seconds(u64),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        match Option::<Written>::deserialize(d)? {
            None => Ok(None),
            Some(Written::Seconds(n)) => Ok(Some(Duration::from_secs(n))),
            Some(Written::Text(t)) => humantime::parse_duration(t.trim())
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format!("max_age {t:?}: {e}"))),
        }
    }
}

/// How a rollout replaces replicas: at most `max_surge` above the desired count, at most
/// `max_unavailable` below it. The default, 1 and 0, never lets the category shrink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// Replicas allowed above the desired count while new ones start.
    #[serde(default = "one")]
    pub max_surge: u32,
    /// Replicas allowed below the desired count while old ones stop.
    #[serde(default)]
    pub max_unavailable: u32,
}

fn one() -> u32 {
    1
}

impl Default for Rollout {
    fn default() -> Self {
        Self { max_surge: 1, max_unavailable: 0 }
    }
}

/// How many replicas a deployment wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicas {
    /// This many in all.
    Total(u32),
    /// This many on each node that offers the type.
    PerNode(u32),
}

impl DeploymentSpec {
    /// The replica count, once [`DeploymentSpec::check`] passed.
    pub fn wanted(&self) -> Replicas {
        match (self.replicas, self.per_node) {
            (_, Some(n)) => Replicas::PerNode(n),
            (n, None) => Replicas::Total(n.unwrap_or(0)),
        }
    }

    /// Whether `other` runs replicas different from this one's, so that changing one into the
    /// other rolls the replicas over (a change of count, placement or rollout does not).
    pub fn template_differs(&self, other: &DeploymentSpec) -> bool {
        self.realm != other.realm
            || self.actor_type != other.actor_type
            || self.categories != other.categories
            || self.params != other.params
            || self.isolated != other.isolated
            || self.concurrency != other.concurrency
    }

    /// Checks what needs no node, naming the field at fault.
    pub fn check(&self) -> Result<(), String> {
        check_name(&self.name)?;
        let at = &self.name;
        match (self.replicas, self.per_node) {
            (Some(_), Some(_)) => {
                return Err(format!("deployment {at}: set replicas or per_node, not both"));
            }
            (None, None) => return Err(format!("deployment {at}: set replicas or per_node")),
            (Some(n), None) | (None, Some(n)) if n > MAX_REPLICAS => {
                return Err(format!("deployment {at}: at most {MAX_REPLICAS} replicas, not {n}"));
            }
            _ => {}
        }
        if self.categories.is_empty() {
            return Err(format!("deployment {at}: categories must name at least one category"));
        }
        if self.concurrency == Some(0) {
            return Err(format!("deployment {at}: concurrency must be at least 1"));
        }
        if self.rollout.max_surge == 0 && self.rollout.max_unavailable == 0 {
            return Err(format!(
                "deployment {at}: rollout needs max_surge or max_unavailable above 0, or no \
                 replica could ever be replaced"
            ));
        }
        if self.strategy.needs_hint() && self.hint.is_none() {
            return Err(format!("deployment {at}: strategy {} needs a hint", self.strategy));
        }
        if self.max_age.is_some_and(|a| a < std::time::Duration::from_secs(10)) {
            return Err(format!("deployment {at}: max_age must be at least 10s"));
        }
        if self.per_node.is_some() && self.strategy != Strategy::Random {
            return Err(format!(
                "deployment {at}: per_node places one set on every node; drop strategy {}",
                self.strategy.name()
            ));
        }
        Ok(())
    }
}

/// Checks a deployment name: 1 to [`MAX_DEPLOYMENT_NAME`] bytes of letters, digits, `.`, `_`
/// and `-`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_DEPLOYMENT_NAME {
        return Err(format!(
            "deployment name {name:?} must be 1 to {MAX_DEPLOYMENT_NAME} bytes long"
        ));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c))) {
        return Err(format!(
            "deployment name {name:?} holds {c:?}: use letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// A `deploy.yaml`: a list of deployments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployFile {
    /// The deployments, each checked, names unique.
    pub deployments: Vec<DeploymentSpec>,
}

impl DeployFile {
    /// Reads and checks a deployments file's text; the error names the entry and field.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: DeployFile = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        file.checked()
    }

    /// [`DeployFile::parse`] for a realm's own file (a code directory's
    /// `<realm>/deployments.yaml`): a deployment that names no realm is in `realm`.
    pub fn parse_in(text: &str, realm: &Realm) -> Result<Self, String> {
        let mut value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(list) = value.get_mut("deployments").and_then(|d| d.as_sequence_mut()) {
            for d in list.iter_mut().filter_map(|d| d.as_mapping_mut()) {
                let key = serde_yaml::Value::from("realm");
                if !d.contains_key(&key) {
                    d.insert(key, serde_yaml::Value::from(realm.as_str()));
                }
            }
        }
        let file: DeployFile = serde_yaml::from_value(value).map_err(|e| e.to_string())?;
        file.checked()
    }

    fn checked(self) -> Result<Self, String> {
        let file = self;
        let mut seen = std::collections::BTreeSet::new();
        for d in &file.deployments {
            d.check()?;
            if !seen.insert(d.name.as_str()) {
                return Err(format!("deployment {} is named twice", d.name));
            }
        }
        Ok(file)
    }
}
