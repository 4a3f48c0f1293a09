//! Who may connect, as what, and what each may send: the cluster's trust boundary.
//!
//! - **Credentials.** The cluster secret (`secret_file`, 32 bytes) makes a **node**. A **client
//!   key** derived from it ([`Secret::client_key`], HKDF-SHA256 with a client label) makes
//!   only a **client**: a machine holding just the client key can never act as a node, and a
//!   tool handed the cluster secret itself connects as a client by deriving the client key.
//! - **The handshake** ([`handshake`]) binds the claimed role and identity, the cluster name,
//!   the protocol version and both sides' fresh nonces into HMAC proofs under the role's key,
//!   so a claim cannot be made without the key, and a proof cannot be replayed or relayed into
//!   another claim.
//! - **The role table** ([`may_send`]): which envelopes each role may send. Anything else
//!   closes the connection.
//!
//! Without a secret the cluster trusts its network (as py-beach did): a connecting party is
//! taken for what it claims to be.

pub mod handshake;
mod roles;

use hmac::{KeyInit, Mac};
use sha2::Sha256;

pub use roles::{Role, may_send};

pub use crate::wire::NONCE_LEN;

/// The size of a key id, in bytes: enough to pick among a handful of keys, too short to
/// reveal anything about them.
pub const KEY_ID_LEN: usize = 8;

/// What a client key file starts with, so that a client key is never taken for a cluster
/// secret (or the other way round).
pub const CLIENT_KEY_MAGIC: &[u8; 16] = b"beach client key";

type HmacSha256 = hmac::Hmac<Sha256>;

fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// HKDF-Expand (RFC 5869) of one 32-byte block: `HMAC(prk, info || 0x01)`.
fn expand(prk: &[u8; 32], info: &[u8]) -> [u8; 32] {
    hmac(prk, &[info, &[1]])
}

/// A cluster secret: 32 bytes shared by every node of a cluster. Whoever holds it may act as
/// a node.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; 32]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A secret from its bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The client key of this cluster: it lets a program connect as a client, never as a node.
    pub fn client_key(&self) -> ClientKey {
        ClientKey(expand(&self.0, b"beach/2 client key"))
    }

    fn key(&self) -> RoleKey {
        RoleKey { key: self.0, role: Role::Node }
    }
}

/// A client key: lets a program (the CLI, an application, an isolated actor) connect to the
/// nodes of one cluster as a client. Derived from the cluster secret, never the other way.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey([u8; 32]);

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientKey(..)")
    }
}

impl ClientKey {
    /// The bytes of a client key file: [`CLIENT_KEY_MAGIC`] then the key.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let mut out = CLIENT_KEY_MAGIC.to_vec();
        out.extend_from_slice(&self.0);
        out
    }

    fn key(&self) -> RoleKey {
        RoleKey { key: self.0, role: Role::Client }
    }
}

/// What a key file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFile {
    /// A cluster secret (32 raw bytes, as `beach gen-key` writes).
    Secret(Secret),
    /// A client key (as `beach gen-key --client` writes).
    Client(ClientKey),
}

impl KeyFile {
    /// Reads a key file's bytes; the error says what the bytes are instead.
    pub fn parse(bytes: &[u8]) -> Result<KeyFile, String> {
        if let Some(key) = bytes.strip_prefix(CLIENT_KEY_MAGIC.as_slice()) {
            let key: [u8; 32] = key.try_into().map_err(|_| {
                format!("a client key file holds 48 bytes, this one {}", bytes.len())
            })?;
            return Ok(KeyFile::Client(ClientKey(key)));
        }
        let secret: [u8; 32] = bytes.try_into().map_err(|_| {
            format!(
                "a cluster secret is exactly 32 bytes, the file has {} (make one with `beach gen-key FILE`)",
                bytes.len()
            )
        })?;
        Ok(KeyFile::Secret(Secret(secret)))
    }

    /// The client key this file gives: the file's own, or the one derived from the secret.
    pub fn client_key(&self) -> ClientKey {
        match self {
            KeyFile::Secret(s) => s.client_key(),
            KeyFile::Client(k) => k.clone(),
        }
    }
}

/// How this side of a connection authenticates, when the cluster has a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A node: it connects with the first secret and accepts peers holding any of them (so a
    /// secret can be rotated without downtime), and clients holding any of their client keys.
    Node(Vec<Secret>),
    /// A client: it connects with its client key and accepts nobody.
    Client(ClientKey),
}

impl Credentials {
    /// A node's credentials from its secrets, the one it offers first; `None` when empty.
    pub fn node(secrets: Vec<Secret>) -> Option<Credentials> {
        (!secrets.is_empty()).then_some(Credentials::Node(secrets))
    }

    /// The key this side proves itself with when it connects.
    fn offered(&self) -> RoleKey {
        match self {
            Credentials::Node(s) => s[0].key(),
            Credentials::Client(k) => k.key(),
        }
    }

    /// The key a connecting party with key id `id`, claiming `role`, must prove; `None` when
    /// this side holds no such key.
    fn accepted(&self, role: Role, id: &[u8]) -> Option<RoleKey> {
        let Credentials::Node(secrets) = self else { return None };
        secrets
            .iter()
            .map(|s| match role {
                Role::Node => s.key(),
                Role::Client => s.client_key().key(),
            })
            .find(|k| k.id().as_slice() == id)
    }
}

/// A pre-shared key for a transport's encrypted channel (the TCP transport's Noise
/// sessions): the role it admits, its public id (so that the accepting side picks the
/// matching one, in clear, before the handshake) and the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelKey {
    /// The role whoever proves this key gets.
    pub role: Role,
    /// The key's public id.
    pub id: [u8; KEY_ID_LEN],
    /// The pre-shared key itself.
    pub psk: [u8; 32],
}

impl std::fmt::Debug for ChannelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChannelKey({})", self.role.name())
    }
}

impl Credentials {
    /// The channel key this side connects with.
    pub fn channel_offer(&self) -> ChannelKey {
        self.offered().channel()
    }

    /// The channel keys this side accepts: for a node, the node and client keys of each of
    /// its secrets; none for a client.
    pub fn channel_accepts(&self) -> Vec<ChannelKey> {
        let Credentials::Node(secrets) = self else { return Vec::new() };
        secrets.iter().flat_map(|s| [s.key().channel(), s.client_key().key().channel()]).collect()
    }
}

/// A key and the role it grants.
#[derive(Clone, PartialEq, Eq)]
struct RoleKey {
    key: [u8; 32],
    role: Role,
}

impl RoleKey {
    /// A short public name of the key, so that the other side can pick the matching one.
    fn id(&self) -> [u8; KEY_ID_LEN] {
        let full = hmac(&self.key, &[b"beach/2 key id"]);
        full[..KEY_ID_LEN].try_into().expect("32 > 8")
    }

    /// The transport channel's key for this role key (a separate derivation: the channel and
    /// the handshake proofs never share a key).
    fn channel(&self) -> ChannelKey {
        ChannelKey {
            role: self.role,
            id: self.id(),
            psk: expand(&self.key, b"beach/2 channel psk"),
        }
    }

    /// The proof of one side over a handshake transcript.
    fn prove(&self, label: &[u8], transcript: &[u8]) -> [u8; 32] {
        hmac(&self.key, &[label, &(transcript.len() as u64).to_be_bytes(), transcript])
    }

    /// Checks a proof in constant time.
    fn verify(&self, label: &[u8], transcript: &[u8], proof: &[u8]) -> bool {
        let mut mac =
            <HmacSha256 as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(label);
        mac.update(&(transcript.len() as u64).to_be_bytes());
        mac.update(transcript);
        mac.verify_slice(proof).is_ok()
    }
}

/// Compares two byte strings in constant time (for their common length; lengths are public).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_key_is_derived_one_way_and_files_say_what_they_hold() {
        let s = Secret::new([7; 32]);
        let c = s.client_key();
        assert_ne!(c.0, s.0);
        assert_eq!(c, Secret::new([7; 32]).client_key(), "deterministic");
        assert_ne!(c, Secret::new([8; 32]).client_key());
        assert_eq!(KeyFile::parse(&c.to_file_bytes()), Ok(KeyFile::Client(c.clone())));
        assert_eq!(KeyFile::parse(&[7; 32]), Ok(KeyFile::Secret(s.clone())));
        assert_eq!(KeyFile::parse(&[7; 32]).unwrap().client_key(), c);
        let err = KeyFile::parse(&[1; 31]).unwrap_err();
        assert!(err.contains("exactly 32 bytes, the file has 31"), "{err}");
        let err = KeyFile::parse(&c.to_file_bytes()[..40]).unwrap_err();
        assert!(err.contains("client key file holds 48 bytes"), "{err}");
    }

    #[test]
    fn a_node_accepts_every_listed_secret_and_its_client_keys_by_id() {
        let (old, new) = (Secret::new([1; 32]), Secret::new([2; 32]));
        let node = Credentials::node(vec![new.clone(), old.clone()]).unwrap();
        assert!(node.offered() == new.key());
        for s in [&old, &new] {
            assert!(node.accepted(Role::Node, &s.key().id()) == Some(s.key()));
            let ck = s.client_key().key();
            assert!(node.accepted(Role::Client, &ck.id()) == Some(ck.clone()));
            assert!(node.accepted(Role::Node, &ck.id()).is_none(), "a client key is no node key");
        }
        let client = Credentials::Client(new.client_key());
        assert!(client.accepted(Role::Client, &new.client_key().key().id()).is_none());
        assert!(Credentials::node(Vec::new()).is_none());
    }

    #[test]
    fn proofs_verify_only_with_the_same_key_label_and_transcript() {
        let k = Secret::new([7; 32]).key();
        let p = k.prove(b"a", b"transcript");
        assert!(k.verify(b"a", b"transcript", &p));
        assert!(!k.verify(b"b", b"transcript", &p), "another label");
        assert!(!k.verify(b"a", b"transcripT", &p), "another transcript");
        assert!(!k.verify(b"a", b"transcript", &p[..31]), "truncated");
        assert!(!Secret::new([8; 32]).key().verify(b"a", b"transcript", &p), "another key");
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"abc", b"ab"));
    }

    /// RFC 4231 test case 2, to pin the primitive itself.
    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let out = mac.finalize().into_bytes();
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
