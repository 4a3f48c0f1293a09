//! The nouns of beach: realms, categories, node identities and actor ids.
//!
//! Every name that crosses an API or the wire is validated here once, on construction, so the
//! rest of the code can trust it: names are never empty, never hold control characters and are
//! never longer than [`MAX_NAME_LEN`] bytes.
//!
//! ```
//! use beach_core::model::{ActorId, Category, NodeId};
//!
//! let pongers = Category::new("svc/pongers/1.2").unwrap();
//! assert!(pongers.matches("svc/pongers"));
//! assert!(!pongers.matches("svc/pongers/2"));
//!
//! let node: NodeId = "127.0.0.1:4999#7f3a".parse().unwrap();
//! let id = node.actor_id(17);
//! assert_eq!(id.to_string(), "17@127.0.0.1:4999#7f3a");
//! assert_eq!(id.to_string().parse::<ActorId>().unwrap(), id);
//! assert_eq!(id.node(), &node);
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest realm, category, endpoint or actor-type name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The name was empty.
    #[error("{what} must not be empty")]
    Empty {
        /// What kind of name it was (`realm`, `category`, ...).
        what: &'static str,
    },
    /// The name held a control character (newline, tab, NUL, ...).
    #[error("{what} {value:?} contains a control character")]
    ControlCharacter {
        /// What kind of name it was.
        what: &'static str,
        /// The offending name.
        value: String,
    },
    /// The name was longer than [`MAX_NAME_LEN`].
    #[error("{what} is {len} bytes long, the maximum is {max}")]
    TooLong {
        /// What kind of name it was.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The name held a character that this kind of name reserves.
    #[error("{what} {value:?} contains {ch:?}, which is not allowed there")]
    ReservedCharacter {
        /// What kind of name it was.
        what: &'static str,
        /// The offending name.
        value: String,
        /// The reserved character.
        ch: char,
    },
    /// A node id or actor id did not have the printed form.
    #[error("{what} {value:?} is malformed: expected {expected}")]
    Malformed {
        /// What kind of id it was.
        what: &'static str,
        /// The offending text.
        value: String,
        /// The form that was expected.
        expected: &'static str,
    },
}

/// Checks the rules every name shares; `reserved` lists characters this kind of name forbids.
fn check_name(what: &'static str, value: &str, reserved: &[char]) -> Result<(), ModelError> {
    if value.is_empty() {
        return Err(ModelError::Empty { what });
    }
    if value.len() > MAX_NAME_LEN {
        return Err(ModelError::TooLong { what, len: value.len(), max: MAX_NAME_LEN });
    }
    if value.chars().any(char::is_control) {
        return Err(ModelError::ControlCharacter { what, value: value.to_owned() });
    }
    if let Some(ch) = value.chars().find(|c| reserved.contains(c)) {
        return Err(ModelError::ReservedCharacter { what, value: value.to_owned(), ch });
    }
    Ok(())
}

/// Deserializes a `T` from a string by parsing it where the decoder holds it (borrowed from the
/// input, or its scratch space): no `String` in between.
struct Parsed<T>(std::marker::PhantomData<T>);

impl<T> Parsed<T> {
    fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<T: FromStr<Err = ModelError>> serde::de::Visitor<'_> for Parsed<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

/// Declares a validated, cheaply clonable string newtype with the common impls.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $reserved:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates `name` and wraps it.
            pub fn new(name: impl AsRef<str>) -> Result<Self, ModelError> {
                let name = name.as_ref();
                check_name($what, name, $reserved)?;
                Ok(Self(Arc::from(name)))
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = ModelError;
            fn from_str(s: &str) -> Result<Self, ModelError> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(Parsed::<Self>::new())
            }
        }
    };
}

name_type!(
    /// A namespace: directory look-ups, categories and actor types are per realm, and nothing
    /// crosses realms. Realm names may not contain `/`, `#`, `@` or whitespace.
    Realm,
    "realm",
    &['/', '#', '@', ' ']
);

impl Realm {
    /// The realm used when none is named: `global`.
    pub const DEFAULT: &'static str = "global";

    /// The `global` realm.
    pub fn global() -> Self {
        Self(Arc::from(Self::DEFAULT))
    }
}

impl Default for Realm {
    fn default() -> Self {
        Self::global()
    }
}

name_type!(
    /// A category an actor belongs to, such as `svc/pongers/1.2`.
    ///
    /// `/` separates levels by convention only: a look-up by a prefix `p` matches every
    /// category whose name **starts with** `p`, as in py-beach (see [`Category::matches`]).
    Category,
    "category",
    &[]
);

impl Category {
    /// Whether a look-up by `prefix` reaches this category: a plain string prefix test.
    ///
    /// ```
    /// use beach_core::model::Category;
    /// let pongers = Category::new("pongers").unwrap();
    /// assert!(pongers.matches("p"));
    /// assert!(!pongers.matches("p/"));
    /// assert!(pongers.matches(""));
    /// ```
    pub fn matches(&self, prefix: &str) -> bool {
        self.0.starts_with(prefix)
    }
}

name_type!(
    /// The address a node advertises to its peers, as `host:port` (`[::1]:4999` for IPv6).
    ///
    /// It is kept as text: resolving it is the transport's business, and a DNS name must stay a
    /// name so it can be resolved again later. `#`, `@`, `/` and whitespace are reserved.
    Endpoint,
    "endpoint",
    &['#', '@', '/', ' ']
);

impl Endpoint {
    /// Whether this is an address a node can be dialled at: `host:port` with a port from 1 to
    /// 65535 and a host of at most 253 characters (`[v6]:port` for IPv6). What peers claim
    /// about nodes is checked with it before anyone dials it.
    pub fn is_dialable(&self) -> bool {
        let Some((host, port)) = self.as_str().rsplit_once(':') else { return false };
        let host_ok = if let Some(v6) = host.strip_prefix('[') {
            v6.strip_suffix(']').is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
        } else {
            !host.is_empty() && host.len() <= 253 && !host.contains(':')
        };
        host_ok && port.parse::<u16>().is_ok_and(|p| p > 0)
    }
}

/// A node's identity: its advertised endpoint plus a generation chosen at each start.
///
/// A restarted node has a new generation, so it is a new member: its old actors are gone and are
/// never merged with the new ones. Printed as `endpoint#generation` with the generation in hex.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    endpoint: Endpoint,
    generation: u64,
}

impl NodeId {
    /// A node identity from its endpoint and generation.
    pub fn new(endpoint: Endpoint, generation: u64) -> Self {
        Self { endpoint, generation }
    }

    /// The endpoint peers reach this node at.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The generation chosen when this node started.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The id of this node's actor number `seq`.
    pub fn actor_id(&self, seq: u64) -> ActorId {
        ActorId { node: self.clone(), seq }
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{:x}", self.endpoint, self.generation)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for NodeId {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        let malformed = || ModelError::Malformed {
            what: "node id",
            value: s.to_owned(),
            expected: "ENDPOINT#GENERATION, generation in hex",
        };
        let (endpoint, generation) = s.rsplit_once('#').ok_or_else(malformed)?;
        let generation = parse_hex(generation).ok_or_else(malformed)?;
        Ok(Self { endpoint: Endpoint::new(endpoint)?, generation })
    }
}

/// Parses lowercase or uppercase hex without sign or prefix.
fn parse_hex(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// An actor's id: unique in the cluster for all time, and naming its owner node.
///
/// Printed as `seq@endpoint#generation`, e.g. `17@10.0.0.5:4999#65f1a2b3`. The owner is part of
/// the id, so a request can be sent to the right node without a directory look-up, and a
/// restarted node (new generation) can never reuse an old id.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActorId {
    node: NodeId,
    seq: u64,
}

impl ActorId {
    /// The node that hosts (owns) this actor.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// The actor's number on its node.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.seq, self.node)
    }
}

impl fmt::Debug for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for ActorId {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        let malformed = || ModelError::Malformed {
            what: "actor id",
            value: s.to_owned(),
            expected: "SEQ@ENDPOINT#GENERATION",
        };
        let (seq, node) = s.split_once('@').ok_or_else(malformed)?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let seq = seq.parse().map_err(|_| malformed())?;
        Ok(Self { node: node.parse()?, seq })
    }
}

/// Serializes an id through its printed form, so JSON, YAML and CBOR all show the same text.
macro_rules! serde_via_string {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(Parsed::<Self>::new())
            }
        }
    };
}

serde_via_string!(NodeId);
serde_via_string!(ActorId);

name_type!(
    /// The name an actor type is registered under in a node's registry, such as `Pong`.
    ActorType,
    "actor type",
    &[]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_host_port_endpoints_are_dialable() {
        for ok in ["10.0.0.1:4999", "node-1.lab:1", "[::1]:4999", "localhost:65535"] {
            assert!(Endpoint::new(ok).unwrap().is_dialable(), "{ok}");
        }
        for bad in ["client-x", "h:0", "h:65536", ":80", "h:port", "[zz]:1", "::1:80", "a:b:c"] {
            assert!(!Endpoint::new(bad).unwrap().is_dialable(), "{bad}");
        }
    }
    use proptest::prelude::*;

    #[test]
    fn prefix_semantics_follow_py_beach() {
        let pongers = Category::new("pongers").unwrap();
        let pingers = Category::new("pingers").unwrap();
        assert!(pongers.matches("p") && pingers.matches("p"));
        assert!(!pongers.matches("p/") && !pingers.matches("p/"));
        let v = Category::new("svc/pongers/1.2").unwrap();
        assert!(v.matches("svc/pongers"));
        assert!(v.matches("svc/pongers/1.2"));
        assert!(!v.matches("svc/pongers/1.2.3"));
    }

    #[test]
    fn names_are_validated() {
        assert_eq!(Realm::new(""), Err(ModelError::Empty { what: "realm" }));
        assert!(matches!(Category::new("a\nb"), Err(ModelError::ControlCharacter { .. })));
        assert!(matches!(
            Category::new("x".repeat(256)),
            Err(ModelError::TooLong { len: 256, .. })
        ));
        assert!(Category::new("x".repeat(255)).is_ok());
        assert!(matches!(Realm::new("a/b"), Err(ModelError::ReservedCharacter { ch: '/', .. })));
        assert!(matches!(Endpoint::new("h#1"), Err(ModelError::ReservedCharacter { ch: '#', .. })));
        assert_eq!(Category::new("").unwrap_err().to_string(), "category must not be empty");
    }

    #[test]
    fn ids_print_and_parse() {
        let node: NodeId = "[::1]:4999#ff".parse().unwrap();
        assert_eq!(node.endpoint().as_str(), "[::1]:4999");
        assert_eq!(node.generation(), 255);
        let id: ActorId = "3@[::1]:4999#ff".parse().unwrap();
        assert_eq!(id.node(), &node);
        assert_eq!(id.seq(), 3);
        for bad in ["", "3", "3@", "@h:1#1", "x@h:1#1", "3@h:1", "3@h:1#", "3@h:1#zz", "-1@h:1#1"] {
            assert!(bad.parse::<ActorId>().is_err(), "{bad:?} should not parse");
        }
        let err = "nohash".parse::<NodeId>().unwrap_err().to_string();
        assert!(err.contains("ENDPOINT#GENERATION"), "{err}");
    }

    #[test]
    fn ids_serialize_as_their_printed_form() {
        let id: ActorId = "9@h:1#a".parse().unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"9@h:1#a\"");
        let back: ActorId = serde_json::from_str("\"9@h:1#a\"").unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<Realm>("\"\"").is_err());
    }

    proptest! {
        #[test]
        fn actor_ids_round_trip(host in "[a-z0-9.:\\[\\]-]{1,40}", generation: u64, seq: u64) {
            let node = NodeId::new(Endpoint::new(&host).unwrap(), generation);
            let id = node.actor_id(seq);
            prop_assert_eq!(id.to_string().parse::<ActorId>().unwrap(), id);
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(s in "\\PC{0,64}") {
            let _ = s.parse::<ActorId>();
            let _ = s.parse::<NodeId>();
        }
    }
}

/// Where an actor type a node offers comes from; `beach types` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// One of the stock node's demo actors (`Ping`, `Pong`, ...): it yields to a code
    /// directory's type of the same name.
    Builtin,
    /// Compiled into the node's binary by its builder: it wins over a code directory's type
    /// of the same name.
    Compiled,
    /// A program in the node's code directory, identified by its content hash.
    CodeDirectory,
}

impl Origin {
    /// The name `beach types` shows: `builtin`, `compiled` or `code_directory`.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Builtin => "builtin",
            Origin::Compiled => "compiled",
            Origin::CodeDirectory => "code_directory",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
