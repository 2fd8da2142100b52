//! Bearer values (session tokens, the admin token) made from the system's
//! CSPRNG, and digests of bearer values (nonces too): stored and compared
//! only as SHA-256 digests, each kind of digest its own type.

use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// 32 bytes from the operating system's CSPRNG.
fn random_32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // The system RNG failing leaves nothing safe to do.
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random number generator failed");
    bytes
}

fn sha256(value: &str) -> [u8; 32] {
    let d = digest(&SHA256, value.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The SHA-256 of a nonce: the form in which nonces are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NonceHash([u8; 32]);

impl NonceHash {
    /// The digest of a nonce, exactly as the client sent it.
    pub fn of(nonce: &str) -> Self {
        Self(sha256(nonce))
    }

    /// A digest read back from storage.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A session token: 32 random bytes, base64url without padding. Its
/// `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    /// A fresh session token.
    pub fn generate() -> Self {
        Self(URL_SAFE_NO_PAD.encode(random_32()))
    }

    /// The token, to hand to the client once.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its digest, the form in which it is stored.
    pub fn hash(&self) -> SessionTokenHash {
        SessionTokenHash::of(&self.0)
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

/// An opaque id for a session, to show operators: 16 random bytes,
/// base64url, unrelated to its token.
pub fn session_id() -> String {
    URL_SAFE_NO_PAD.encode(&random_32()[..16])
}

/// The SHA-256 of a session token: the form in which sessions are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionTokenHash([u8; 32]);

impl SessionTokenHash {
    /// The digest of a presented session token.
    pub fn of(token: &str) -> Self {
        Self(sha256(token))
    }

    /// A digest read back from storage.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The admin token, kept only as its digest and compared in constant time.
#[derive(Clone)]
pub struct AdminToken([u8; 32]);

impl AdminToken {
    /// Wraps a token; it must be at least 16 characters.
    pub fn new(token: &str) -> Option<Self> {
        let token = token.trim();
        (token.len() >= 16).then(|| Self(sha256(token)))
    }

    /// Constant-time check of a presented token.
    pub fn matches(&self, presented: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, &sha256(presented)).is_ok()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_tokens_compare_by_digest() {
        let t = AdminToken::new("0123456789abcdef").unwrap();
        assert!(t.matches("0123456789abcdef"));
        assert!(!t.matches("0123456789abcdeF"));
        assert!(!t.matches(""));
        assert!(AdminToken::new("short").is_none());
        assert_eq!(format!("{t:?}"), "AdminToken(..)");
    }

    #[test]
    fn bearer_values_are_random_well_formed_and_never_printed() {
        let (a, b) = (SessionToken::generate(), SessionToken::generate());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 43);
        assert_eq!(format!("{a:?}"), "SessionToken(..)");
        assert_eq!(a.hash(), SessionTokenHash::of(a.as_str()));
        assert_ne!(a.hash(), b.hash());
        // The same text hashes the same as either kind; the types keep them apart.
        assert_eq!(
            NonceHash::of("x").as_bytes(),
            SessionTokenHash::of("x").as_bytes()
        );
    }
}
