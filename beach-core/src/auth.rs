//! The cluster secret and the proofs the handshake exchanges.
//!
//! With a secret configured, each side of a connection proves it knows the secret without
//! sending it: an HMAC-SHA256 over both sides' fresh nonces, with a label per direction so that
//! one side's proof can never be replayed as the other's. Proofs are compared in constant time.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

/// The size of a nonce, in bytes.
pub const NONCE_LEN: usize = 32;

/// The label of the accepting side's proof.
const ACCEPT: &[u8] = b"beach/1 accept";
/// The label of the connecting side's proof.
const CONNECT: &[u8] = b"beach/1 connect";

type HmacSha256 = hmac::Hmac<Sha256>;

/// A cluster secret: 32 bytes shared by every node and client of a cluster.
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

    fn mac(&self, label: &[u8], first: &[u8], second: &[u8]) -> HmacSha256 {
        let mut mac =
            <HmacSha256 as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(label);
        mac.update(&(first.len() as u64).to_be_bytes());
        mac.update(first);
        mac.update(second);
        mac
    }

    /// The accepting side's proof over the connecting side's nonce, then its own.
    pub fn accept_proof(&self, connect_nonce: &[u8], accept_nonce: &[u8]) -> Vec<u8> {
        self.mac(ACCEPT, connect_nonce, accept_nonce).finalize().into_bytes().to_vec()
    }

    /// The connecting side's proof over the accepting side's nonce, then its own.
    pub fn connect_proof(&self, accept_nonce: &[u8], connect_nonce: &[u8]) -> Vec<u8> {
        self.mac(CONNECT, accept_nonce, connect_nonce).finalize().into_bytes().to_vec()
    }

    /// Checks an accepting side's proof, in constant time.
    pub fn verify_accept(&self, connect_nonce: &[u8], accept_nonce: &[u8], proof: &[u8]) -> bool {
        self.mac(ACCEPT, connect_nonce, accept_nonce).verify_slice(proof).is_ok()
    }

    /// Checks a connecting side's proof, in constant time.
    pub fn verify_connect(&self, accept_nonce: &[u8], connect_nonce: &[u8], proof: &[u8]) -> bool {
        self.mac(CONNECT, accept_nonce, connect_nonce).verify_slice(proof).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_verify_only_with_the_same_secret_nonces_and_direction() {
        let k = Secret::new([7; 32]);
        let (c, a) = ([1u8; NONCE_LEN], [2u8; NONCE_LEN]);
        let pa = k.accept_proof(&c, &a);
        assert_eq!(pa.len(), 32);
        assert!(k.verify_accept(&c, &a, &pa));
        assert!(!Secret::new([8; 32]).verify_accept(&c, &a, &pa), "another secret");
        assert!(!k.verify_accept(&a, &c, &pa), "swapped nonces");
        assert!(!k.verify_connect(&c, &a, &pa), "the other direction's label");
        assert!(!k.verify_accept(&c, &a, &pa[..31]), "truncated");
        let pc = k.connect_proof(&a, &c);
        assert!(k.verify_connect(&a, &c, &pc));
        assert_ne!(pa, pc);
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
