//! Password hashing with argon2id; verification of unknown users costs the
//! same as of known ones.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::Deserialize;

/// argon2id cost parameters. The defaults are OWASP's minimum for argon2id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordParams {
    /// Memory in KiB (default 19456, 19 MiB).
    pub memory_kib: u32,
    /// Passes (default 2).
    pub iterations: u32,
    /// Lanes (default 1).
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// A password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

/// Hashes new passwords and verifies presented ones.
#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    dummy_hash: String,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

impl Passwords {
    /// Checks the parameters and prepares the dummy hash used for unknown users.
    pub fn new(params: PasswordParams) -> Result<Self, PasswordError> {
        if params.memory_kib < 19_456 || params.iterations < 2 {
            return Err(PasswordError(
                "argon2id parameters below OWASP's minimum (memory_kib ≥ 19456, iterations ≥ 2)"
                    .into(),
            ));
        }
        let p = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| PasswordError(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        let mut this = Self {
            argon2,
            dummy_hash: String::new(),
        };
        let mut random = [0u8; 24];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| PasswordError("no randomness".into()))?;
        this.dummy_hash = this.hash(&format!("{random:?}"))?;
        Ok(this)
    }

    /// An argon2id PHC string for a new password, with a random salt.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let mut salt = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| PasswordError("no randomness".into()))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError(e.to_string()))?;
        self.argon2
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError(e.to_string()))
    }

    /// Whether `password` matches `stored` (constant-time comparison). With no
    /// stored hash (unknown user) a dummy hash is checked, so that both cases
    /// take the same time; the answer is then always `false`.
    pub fn verify(&self, stored: Option<&str>, password: &str) -> bool {
        let (hash, known) = match stored {
            Some(h) => (h, true),
            None => (self.dummy_hash.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            // A corrupt stored hash: still spend the time, then refuse.
            let _ = self.verify(None, password);
            return false;
        };
        let ok = self
            .argon2
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let p = Passwords::new(PasswordParams::default()).unwrap();
        let h = p.hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(p.verify(Some(&h), "correct horse"));
        assert!(!p.verify(Some(&h), "correct horse "));
        assert!(!p.verify(None, "correct horse"));
        assert!(!p.verify(Some("garbage"), "x"));
        assert_ne!(h, p.hash("correct horse").unwrap(), "salts must differ");
    }

    #[test]
    fn weak_parameters_are_refused() {
        let weak = PasswordParams {
            memory_kib: 4096,
            ..PasswordParams::default()
        };
        assert!(Passwords::new(weak).is_err());
    }
}
